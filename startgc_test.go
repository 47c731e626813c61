package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

// gcSettings reads GOGC and the memory limit without changing them.
func gcSettings() (percent int, limit int64) {
	percent = debug.SetGCPercent(-1)
	debug.SetGCPercent(percent)
	return percent, debug.SetMemoryLimit(-1)
}

// setGC sets GOGC and the memory limit for one test and puts the
// process's own back after it.
func setGC(t *testing.T, percent int, limit int64) {
	p, l := gcSettings()
	t.Cleanup(func() { debug.SetGCPercent(p); debug.SetMemoryLimit(l) })
	debug.SetGCPercent(percent)
	debug.SetMemoryLimit(limit)
}

// TestHoldGC: a hold turns the pacing off under the start-up limit; holds
// nest (serve runs several times in one test process); only the last
// release puts the operator's GOGC and GOMEMLIMIT back, and a release
// called twice counts once.
func TestHoldGC(t *testing.T) {
	setGC(t, 150, 1<<30)
	first := holdGC()
	if p, l := gcSettings(); p != -1 || l != startupHeapLimit {
		t.Fatalf("held: GOGC %d, limit %d; want off under %d", p, l, startupHeapLimit)
	}
	second := holdGC()
	first()
	first() // again: must not release the second hold
	if p, l := gcSettings(); p != -1 || l != startupHeapLimit {
		t.Fatalf("one of two holds released (twice): GOGC %d, limit %d; want still held", p, l)
	}
	second()
	if p, l := gcSettings(); p != 150 || l != 1<<30 {
		t.Fatalf("released: GOGC %d, limit %d; want 150 and %d back", p, l, 1<<30)
	}
	second()
	if p, l := gcSettings(); p != 150 || l != 1<<30 {
		t.Fatalf("released twice: GOGC %d, limit %d; want 150 and %d", p, l, 1<<30)
	}
}

// TestHoldGCKeepsALowerLimit: an operator's GOMEMLIMIT under the start-up
// limit stays in force during the hold, and GOGC=off stays off after it.
func TestHoldGCKeepsALowerLimit(t *testing.T) {
	setGC(t, -1, 16<<20)
	release := holdGC()
	if _, l := gcSettings(); l != 16<<20 {
		t.Fatalf("held: limit %d, want the operator's %d", l, 16<<20)
	}
	release()
	if p, l := gcSettings(); p != -1 || l != 16<<20 {
		t.Fatalf("released: GOGC %d, limit %d; want off and %d", p, l, 16<<20)
	}
}

// TestServeReleasesGCOnEarlyReturn: a start-up that fails (here on its
// configuration) gives the collector back before serve returns.
func TestServeReleasesGCOnEarlyReturn(t *testing.T) {
	setGC(t, 100, 1<<40)
	env := map[string]string{"PORT": "not-a-port"}
	err := serve(t.Context(), func(k string) string { return env[k] }, &strings.Builder{})
	if err == nil {
		t.Fatal("serve with PORT=not-a-port returned no error")
	}
	if p, l := gcSettings(); p != 100 || l != 1<<40 {
		t.Fatalf("after a failed start: GOGC %d, limit %d; want 100 and %d", p, l, int64(1<<40))
	}
}
