// Package testlog has the slog handler tests use to see what was logged.
package testlog

import (
	"context"
	"log/slog"
	"sync"
)

// Recorder is a slog.Handler that keeps every record it is given; safe for
// concurrent use. Use it as slog.New(&testlog.Recorder{}).
type Recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *Recorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *Recorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *Recorder) WithGroup(string) slog.Handler            { return h }

// Handle keeps r.
func (h *Recorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

// Records returns a copy of what was logged, in order.
func (h *Recorder) Records() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), h.records...)
}

// Reset forgets every record.
func (h *Recorder) Reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = nil
}

// Count returns how many records at exactly level carry msg.
func (h *Recorder) Count(level slog.Level, msg string) int {
	n := 0
	for _, r := range h.Records() {
		if r.Level == level && r.Message == msg {
			n++
		}
	}
	return n
}

// AtLeast returns the messages logged at level or above.
func (h *Recorder) AtLeast(level slog.Level) []string {
	var out []string
	for _, r := range h.Records() {
		if r.Level >= level {
			out = append(out, r.Message)
		}
	}
	return out
}
