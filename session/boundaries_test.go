package session_test

// Tests that pin the exact boundaries of the session lifetimes and of the
// throttled touch (found alive by mutation testing).

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"soulbridge/internal/testlog"
	"soulbridge/session"
)

func TestNewRefusesZeroMaxLifetime(t *testing.T) {
	_, err := session.New(openStore(t), session.Config{
		Keys:        [][]byte{keyA},
		IdleTimeout: time.Hour,
		MaxLifetime: 0,
	})
	if err == nil {
		t.Fatal("New accepted a zero MaxLifetime")
	}
}

// touchWrites starts a session with the given TouchInterval and reports how
// many writes one request makes at each offset (increasing) from the start.
func touchWrites(t *testing.T, interval time.Duration, offsets ...time.Duration) []int64 {
	t.Helper()
	clk := newClock()
	store := &countingStore{Badger: openStore(t)}
	m, err := session.New(store, session.Config{
		Keys:          [][]byte{keyA},
		IdleTimeout:   testIdle,
		MaxLifetime:   testMax,
		TouchInterval: interval,
		Now:           clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	s, c := start(t, m, plainHTTP)
	var got []int64
	for _, off := range offsets { // increasing
		clk.Advance(s.LastSeen.Add(off).Sub(clk.Now()))
		store.sets.Store(0)
		if out := serve(m, plainHTTP, c); out.sess == nil {
			t.Fatalf("session lost at +%v", off)
		}
		got = append(got, store.sets.Load())
	}
	return got
}

func TestTouchIntervalBoundary(t *testing.T) {
	// A request exactly one TouchInterval after the last write renews the
	// session; one a nanosecond earlier does not.
	got := touchWrites(t, time.Minute, time.Minute-time.Nanosecond, time.Minute)
	if got[0] != 0 {
		t.Errorf("request 1 ns before TouchInterval wrote %d times, want 0", got[0])
	}
	if got[1] != 1 {
		t.Errorf("request exactly at TouchInterval wrote %d times, want 1", got[1])
	}
}

func TestZeroTouchIntervalMeansFiveMinutes(t *testing.T) {
	got := touchWrites(t, 0, time.Nanosecond, 5*time.Minute-time.Nanosecond, 5*time.Minute)
	want := []int64{0, 0, 1}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("TouchInterval 0: writes at +1ns, +5m-1ns, +5m = %v, want %v", got, want)
		}
	}
}

func TestRenewalLogsOnlyFailures(t *testing.T) {
	clk := newClock()
	logs := &testlog.Recorder{}
	store := &countingStore{Badger: openStore(t)}
	// Idle and absolute lifetimes equal, so the absolute end bounds a
	// renewal made just before it.
	cfg := session.Config{
		Keys:          [][]byte{keyA},
		IdleTimeout:   testMax,
		MaxLifetime:   testMax,
		TouchInterval: testTouch,
		Now:           clk.Now,
		Logger:        slog.New(logs),
	}
	m, err := session.New(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, c := start(t, m, plainHTTP)

	// A successful renewal logs nothing.
	clk.Advance(testTouch)
	store.sets.Store(0)
	if out := serve(m, plainHTTP, c); out.sess == nil {
		t.Fatal("session lost")
	}
	if n := store.sets.Load(); n != 1 {
		t.Fatalf("renewal wrote %d times, want 1", n)
	}
	if msgs := logs.AtLeast(slog.LevelWarn); len(msgs) != 0 {
		t.Fatalf("a successful renewal logged %q", msgs)
	}

	// The session is loaded a nanosecond before its absolute end, and the
	// clock reaches that end before the renewal is saved: the renewal must
	// not write a record whose lifetime is zero (to Badger that is "no
	// TTL"), and the failure is logged while the request goes on.
	var (
		mu    sync.Mutex
		reads int
	)
	cfg.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		reads++
		if reads == 1 {
			return s.ExpiresAt.Add(-time.Nanosecond)
		}
		return s.ExpiresAt
	}
	late, err := session.New(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	store.sets.Store(0)
	out := serve(late, plainHTTP, c)
	if out.sess == nil || !out.called || out.errRan {
		t.Fatalf("request at the edge of the lifetime: %+v, want it served with its session", out)
	}
	if n := store.sets.Load(); n != 0 {
		t.Fatalf("renewal at the absolute end wrote %d times, want 0", n)
	}
	msgs := logs.AtLeast(slog.LevelWarn)
	if len(msgs) != 1 || msgs[0] != "session renewal failed" {
		t.Fatalf("failed renewal logged %q, want one \"session renewal failed\"", msgs)
	}
}
