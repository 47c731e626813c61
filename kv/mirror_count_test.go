package kv_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"soulbridge/internal/testredis"
	"soulbridge/kv"
	"soulbridge/kv/kvtest"
)

// TestMirrorReserveKeepRelease: the shared attempt counter. Reservations
// and kept events both count against the limit; every call is idempotent
// by the attempt's id (a resent give-back never removes a kept event, a
// resent keep or reserve counts once); reservations end by themselves
// after their hold, kept events after their window.
func TestMirrorReserveKeepRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out reservation holds (0.7 s): skipped by -short")
	}
	srv := testredis.Start(t)
	m := kvtest.Mirror(t, "t:", kv.MirrorOptions{URL: srv.URL(), Persistent: true})
	ctx := context.Background()
	const key, limit = "attempts:k", 3
	reserve := func(id string, hold time.Duration) time.Duration {
		t.Helper()
		wait, err := m.Reserve(ctx, key, id, limit, time.Minute, hold)
		if err != nil {
			t.Fatalf("Reserve(%s): %v", id, err)
		}
		return wait
	}
	// a kept, b released twice, c kept twice, a reserved again.
	for _, id := range []string{"a", "b", "c"} {
		if w := reserve(id, time.Minute); w != 0 {
			t.Fatalf("Reserve(%s) = wait %v, want reserved", id, w)
		}
	}
	if w := reserve("d", time.Minute); w <= 0 || w > time.Minute {
		t.Fatalf("4th reservation at limit 3: wait %v, want (0, 1m]", w)
	}
	for _, step := range []func() error{
		func() error { return m.Keep(ctx, key, "a", time.Minute) },
		func() error { return m.Release(ctx, key, "b") },
		func() error { return m.Release(ctx, key, "b") },
		func() error { return m.Keep(ctx, key, "c", time.Minute) },
		func() error { return m.Keep(ctx, key, "c", time.Minute) },
		func() error { return m.Release(ctx, key, "a") }, // a give-back after the verdict
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if w := reserve("a", time.Minute); w != 0 { // a replayed reserve of a kept attempt
		t.Fatalf("reserve of an id already kept: wait %v, want 0 (counted once)", w)
	}
	// Counted: a and c. One more fits, then the limit.
	if w := reserve("e", time.Minute); w != 0 {
		t.Fatalf("with 2 kept of 3: wait %v, want reserved", w)
	}
	if w := reserve("f", time.Minute); w <= 0 {
		t.Fatal("with 2 kept and 1 held of 3: reserved, want refused")
	}

	// A reservation nobody settles ends after its hold; a kept event does not.
	const key2 = "attempts:short"
	for i := range limit {
		if _, err := m.Reserve(ctx, key2, fmt.Sprint(i), limit, time.Minute, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Keep(ctx, key2, "0", time.Minute); err != nil {
		t.Fatal(err)
	}
	if w, _ := m.Reserve(ctx, key2, "x", limit, time.Minute, 100*time.Millisecond); w <= 0 || w > 200*time.Millisecond {
		t.Fatalf("at the limit with two reservations held for 100ms: wait %v, want ≤ 100ms", w)
	}
	time.Sleep(200 * time.Millisecond)
	for _, id := range []string{"y", "z"} {
		if w, err := m.Reserve(ctx, key2, id, limit, time.Minute, time.Minute); err != nil || w != 0 {
			t.Fatalf("after the holds ended: %v, %v; want reserved", w, err)
		}
	}
	if w, _ := m.Reserve(ctx, key2, "w", limit, time.Minute, time.Minute); w <= 0 {
		t.Fatal("kept event + 2 reservations: reserved, want refused (the kept one still counts)")
	}

	// A kept event ends with its window, and so does the key.
	const key3 = "attempts:window"
	if _, err := m.Reserve(ctx, key3, "a", 1, 100*time.Millisecond, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := m.Keep(ctx, key3, "a", 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if w, err := m.Reserve(ctx, key3, "b", 1, time.Minute, 100*time.Millisecond); err != nil || w != 0 {
		t.Fatalf("after the window: %v, %v; want reserved", w, err)
	}
	time.Sleep(200 * time.Millisecond)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	if n := rdb.Exists(ctx, "t:"+key3).Val(); n != 0 {
		t.Fatalf("a counter whose members all ended still exists in Redis")
	}

	// Down: every call says so, and counts nothing.
	srv.Kill()
	if _, err := m.Reserve(ctx, key, "g", limit, time.Minute, time.Minute); err == nil {
		t.Fatal("Reserve with Redis down: no error")
	}
}
