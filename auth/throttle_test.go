package auth_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"soulbridge/auth"
)

func TestThrottleBlocksUntilWindowEnds(t *testing.T) {
	clk := newClock()
	th := auth.NewThrottle(3, time.Minute, 100, clk.Now)
	for i := range 2 {
		th.Fail("k")
		if d := th.Blocked("k"); d != 0 {
			t.Fatalf("blocked after %d failures (limit 3): %v", i+1, d)
		}
	}
	clk.Advance(20 * time.Second)
	th.Fail("k")
	if d := th.Blocked("k"); d != 40*time.Second {
		t.Fatalf("Blocked = %v, want 40s (the rest of the window)", d)
	}
	if d := th.Blocked("other"); d != 0 {
		t.Fatalf("untouched key blocked: %v", d)
	}
	clk.Advance(40 * time.Second)
	if d := th.Blocked("k"); d != 0 {
		t.Fatalf("still blocked when the window ended: %v", d)
	}
	// A new window starts from scratch.
	th.Fail("k")
	if d := th.Blocked("k"); d != 0 {
		t.Fatalf("one failure in a new window blocked: %v", d)
	}
}

func TestThrottleMemoryIsBounded(t *testing.T) {
	for _, maxKeys := range []int{1, 5, 64} {
		t.Run(fmt.Sprint(maxKeys), func(t *testing.T) {
			clk := newClock()
			th := auth.NewThrottle(2, time.Minute, maxKeys, clk.Now)
			for i := range maxKeys * 10 {
				th.Fail(fmt.Sprintf("ip-%d", i))
				th.Fail(fmt.Sprintf("ip-%d", i))
				if n := th.Len(); n > maxKeys {
					t.Fatalf("after %d keys Len = %d > %d", i+1, n, maxKeys)
				}
				clk.Advance(time.Millisecond)
			}
			if n := th.Len(); n != maxKeys {
				t.Fatalf("Len = %d, want full at %d", n, maxKeys)
			}
			// The newest key is tracked (and blocked).
			if th.Blocked(fmt.Sprintf("ip-%d", maxKeys*10-1)) == 0 {
				t.Fatal("the newest key was evicted")
			}
		})
	}
}

func TestThrottleEvictsExpiredThenOldest(t *testing.T) {
	clk := newClock()
	th := auth.NewThrottle(1, time.Minute, 3, clk.Now)
	th.Fail("a")
	th.Fail("b")
	clk.Advance(time.Minute) // a and b are expired now
	th.Fail("c")
	th.Fail("d") // full: drops the expired ones
	if n := th.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2 (expired windows dropped)", n)
	}
	clk.Advance(time.Second)
	th.Fail("e") // 3 keys
	clk.Advance(time.Second)
	th.Fail("f") // full, nothing expired: drops the oldest (c or d, both at the same time)
	if n := th.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
	if th.Blocked("e") == 0 || th.Blocked("f") == 0 {
		t.Fatal("a recent key was evicted instead of the oldest")
	}
	if th.Blocked("c") != 0 && th.Blocked("d") != 0 {
		t.Fatal("neither of the oldest keys was evicted")
	}
}

// TestThrottleReserve: Reserve checks and counts in one step, so of many
// concurrent reservations exactly limit succeed; Release gives one back.
func TestThrottleReserve(t *testing.T) {
	clk := newClock()
	th := auth.NewThrottle(10, time.Minute, 100, clk.Now)
	var wg sync.WaitGroup
	var granted atomic.Int32
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if th.Reserve("k") == 0 {
				granted.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := granted.Load(); n != 10 {
		t.Fatalf("%d of 200 concurrent reservations granted, want 10", n)
	}
	if d := th.Reserve("k"); d != time.Minute {
		t.Fatalf("Reserve at the limit = %v, want the rest of the window (1m)", d)
	}
	th.Release("k")
	if d := th.Reserve("k"); d != 0 {
		t.Fatalf("Reserve after a Release = %v, want 0", d)
	}
	if d := th.Reserve("k"); d == 0 {
		t.Fatal("Reserve granted past the limit")
	}
	clk.Advance(time.Minute)
	if d := th.Reserve("k"); d != 0 {
		t.Fatalf("Reserve in a new window = %v, want 0", d)
	}
}
