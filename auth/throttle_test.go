package auth_test

import (
	"fmt"
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
