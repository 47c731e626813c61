package kv_test

import (
	"context"
	"testing"
	"time"

	"soulbridge/internal/testredis"
	"soulbridge/kv"
	"soulbridge/kv/kvtest"
)

// TestMirrorDecr: Decr gives one count back; on a key whose window ended it
// does nothing (a plain DECR would leave -1 behind, with no expiry).
func TestMirrorDecr(t *testing.T) {
	srv := testredis.Start(t)
	m := kvtest.Mirror(t, "t:", kv.MirrorOptions{URL: srv.URL(), Persistent: true})
	ctx := context.Background()
	for range 3 {
		if _, err := m.Incr(ctx, "throttle:k", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Decr(ctx, "throttle:k"); err != nil {
		t.Fatal(err)
	}
	if n, left, err := m.Count(ctx, "throttle:k"); err != nil || n != 2 || left <= 0 {
		t.Fatalf("after 3 Incr and a Decr: %d, %v, %v; want 2 with the window running", n, left, err)
	}
	if _, err := m.Incr(ctx, "throttle:short", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if err := m.Decr(ctx, "throttle:short"); err != nil {
		t.Fatal(err)
	}
	if n, _, err := m.Count(ctx, "throttle:short"); err != nil || n != 0 {
		t.Fatalf("Decr after the window ended left %d (%v), want 0 (no key)", n, err)
	}
}
