package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"soulbridge/web"
)

// The access log (one line per request, web.RequestLogMessage) is the one
// log line written on every request: written straight to stderr it costs a
// write(2) per request. So the process log goes through a logBuffer: access
// lines are gathered in memory and written out together, at least every
// logFlushEvery, whenever logBufferSize has gathered, and when the server
// stops (serve closes it last, after the drain and the store's close, so
// SIGTERM loses no line). Every other line is written at once, after the
// access lines gathered before it, so the log keeps its order. What a crash
// (kill -9, power loss) can lose is at most logFlushEvery of access lines.
const (
	logFlushEvery = 100 * time.Millisecond
	logBufferSize = 64 << 10
)

// logBuffer is an io.Writer that gathers what is written until Flush.
// Each Write is one whole log line (slog writes a record at once).
type logBuffer struct {
	mu     sync.Mutex
	out    io.Writer
	buf    []byte
	closed bool

	stop chan struct{}
	done chan struct{}
}

// newLogBuffer returns a logBuffer over out that flushes every `every` until
// Close.
func newLogBuffer(out io.Writer, every time.Duration) *logBuffer {
	b := &logBuffer{out: out, buf: make([]byte, 0, logBufferSize), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.Flush()
			}
		}
	}()
	return b
}

// Write gathers p; past logBufferSize it writes everything out. After Close
// it writes p straight through.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return b.out.Write(p)
	}
	b.buf = append(b.buf, p...)
	if len(b.buf) >= logBufferSize {
		b.flushLocked()
	}
	return len(p), nil
}

// Flush writes out what has gathered.
func (b *logBuffer) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *logBuffer) flushLocked() {
	if len(b.buf) == 0 {
		return
	}
	_, _ = b.out.Write(b.buf) // nowhere to report a failed log write
	b.buf = b.buf[:0]
}

// Close stops the periodic flush and writes out the rest; later writes go
// straight through. It is safe to call more than once.
func (b *logBuffer) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.flushLocked()
	b.mu.Unlock()
	close(b.stop)
	<-b.done
}

// flushingHandler writes every record but the access log's at once (the
// access lines gathered before it first).
type flushingHandler struct {
	slog.Handler
	buf *logBuffer
}

func (h flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Message != web.RequestLogMessage || r.Level != slog.LevelInfo {
		h.buf.Flush()
	}
	return err
}

func (h flushingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushingHandler{h.Handler.WithAttrs(attrs), h.buf}
}

func (h flushingHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{h.Handler.WithGroup(name), h.buf}
}
