package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testwait"
	"soulbridge/web"
)

// TestAccessLinesAreGathered: access lines wait in memory (no write per
// request), any other line is written at once after them, in order, and
// Close writes out the rest.
func TestAccessLinesAreGathered(t *testing.T) {
	var out testbin.Buffer
	buf := newLogBuffer(&out, time.Hour)
	log := newServerLogger("text", buf)
	for i := range 3 {
		log.Info(web.RequestLogMessage, "path", fmt.Sprintf("/r%d", i))
	}
	if got := out.String(); got != "" {
		t.Fatalf("access lines were written at once:\n%s", got)
	}
	log.With("component", "x").Warn("something else")
	got := out.String()
	if n := strings.Count(got, "msg="+web.RequestLogMessage); n != 3 || !strings.Contains(got, "something else") ||
		strings.Index(got, "path=/r2") > strings.Index(got, "something else") {
		t.Fatalf("a warning did not write the gathered lines first, in order:\n%s", got)
	}
	log.Info("listening")
	if !strings.Contains(out.String(), "listening") {
		t.Fatal("an info line other than the access log's was not written at once")
	}
	log.Info(web.RequestLogMessage, "path", "/last")
	buf.Close()
	if !strings.Contains(out.String(), "path=/last") {
		t.Fatalf("Close did not write out the gathered line:\n%s", out.String())
	}
	log.Info(web.RequestLogMessage, "path", "/after-close")
	if !strings.Contains(out.String(), "path=/after-close") {
		t.Fatal("a line logged after Close was not written through")
	}
	buf.Close() // twice is fine
}

// TestAccessLinesAppearSoon: gathered lines are written within the flush
// interval, and a full buffer is written at once.
func TestAccessLinesAppearSoon(t *testing.T) {
	var out testbin.Buffer
	buf := newLogBuffer(&out, logFlushEvery)
	defer buf.Close()
	log := newServerLogger("json", buf)
	log.Info(web.RequestLogMessage, "path", "/soon")
	testwait.Until(t, time.Second, "the access line to be written", func() bool {
		return strings.Contains(out.String(), `"path":"/soon"`)
	})

	var big testbin.Buffer
	full := newLogBuffer(&big, time.Hour)
	defer full.Close()
	flog := newServerLogger("text", full)
	line := strings.Repeat("x", 1000)
	for range logBufferSize / 1000 {
		flog.Info(web.RequestLogMessage, "path", line)
	}
	if big.String() == "" {
		t.Fatalf("%d bytes of access lines were held back", logBufferSize)
	}
	for _, l := range strings.SplitAfter(big.String(), "\n") {
		if l != "" && (!strings.HasSuffix(l, "\n") || !strings.Contains(l, line)) {
			t.Fatalf("a line was cut: %.80q", l)
		}
	}
}
