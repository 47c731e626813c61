package auth

import (
	"errors"
	"testing"
	"time"

	"soulbridge/internal/testclock"
)

// These pin the boundaries of the throttle's reservations, the in-flight
// gate, the /64 key and the new-password rules (mutation testing found
// them unpinned).

func TestReserveBoundaries(t *testing.T) {
	clk := testclock.New()
	th := NewThrottle(3, time.Minute, 100, clk.Now)
	// Release of a key never counted does not go below zero.
	th.Release("k")
	for i := range 3 {
		if wait := th.Reserve("k"); wait != 0 {
			t.Fatalf("reservation %d blocked (%s), limit is 3", i+1, wait)
		}
	}
	if wait := th.Reserve("k"); wait != time.Minute {
		t.Fatalf("4th reservation: wait %s, want the whole window (1m)", wait)
	}
	th.Release("k")
	if wait := th.Reserve("k"); wait != 0 {
		t.Fatalf("after a release: wait %s, want 0", wait)
	}
	if wait := th.Reserve("k"); wait <= 0 {
		t.Fatal("at the limit again: not blocked")
	}
	clk.Advance(time.Minute - time.Nanosecond)
	if wait := th.Reserve("k"); wait != time.Nanosecond {
		t.Fatalf("1ns before the window ends: wait %s, want 1ns", wait)
	}
	clk.Advance(time.Nanosecond)
	if wait := th.Reserve("k"); wait != 0 {
		t.Fatalf("when the window ends: wait %s, want 0 (a new window)", wait)
	}
}

func TestGateBounds(t *testing.T) {
	g := newGate(2, 3)
	for i, c := range []struct {
		key  string
		want bool
	}{{"a", true}, {"a", true}, {"a", false}, {"b", true}, {"c", false}} {
		if got := g.enter(c.key); got != c.want {
			t.Fatalf("step %d: enter(%s) = %v, want %v", i, c.key, got, c.want)
		}
	}
	g.leave("a")
	if !g.enter("c") {
		t.Fatal("a slot given back is not taken again")
	}
	g.leave("c")
	g.leave("b")
	if _, ok := g.byKey["b"]; ok {
		t.Fatal("a key with no slot left stays tracked")
	}
	if g.byKey["a"] != 1 || g.n != 1 {
		t.Fatalf("after leaves: a=%d n=%d, want 1 and 1", g.byKey["a"], g.n)
	}
}

func TestAddrKey(t *testing.T) {
	for _, c := range []struct{ ip, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an address", "not an address"},
	} {
		if got := AddrKey(c.ip); got != c.want {
			t.Errorf("AddrKey(%q) = %q, want %q", c.ip, got, c.want)
		}
	}
}

func TestNewPasswordBoundaries(t *testing.T) {
	weak := func(user, pw string) bool {
		err := CheckNewPassword(user, pw)
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("CheckNewPassword(%q, %q): %v is not a validation error", user, pw, err)
		}
		return err != nil
	}
	for _, c := range []struct {
		user, pw string
		refused  bool
	}{
		// Trailing digits, punctuation and symbols are stripped, each kind alone.
		{"someone", "password1234", true},
		{"someone", "password!!", true},
		{"someone", "password$$", true},
		{"someone", "PassWord", true},
		// A name of exactly MinUsername letters once its separators go counts...
		{"a_bc", "zzabczzzz", true},
		{"a_bc", "zzcbazzzz", true},
		// ...a shorter one does not (too many passwords contain two letters).
		{"a_b", "zzabzzzzz", false},
		{"a_b", "zzbazzzzz", false},
		// The password contained in the name.
		{"correcthorsebattery", "horsebattery", true},
		{"correct_horse_battery", "horsebattery", true},
		// No name: only the other rules.
		{"", "staple battery horse", false},
		{"someone", "staple battery horse", false},
	} {
		if got := weak(c.user, c.pw); got != c.refused {
			t.Errorf("CheckNewPassword(%q, %q) refused=%v, want %v", c.user, c.pw, got, c.refused)
		}
	}
	if err := CheckNewPassword("someone", "short"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("too short: %v", err)
	}
}

// TestReserveCountsTheNewWindow: a reservation at the very end of a
// blocked window opens a new window and counts in it.
func TestReserveCountsTheNewWindow(t *testing.T) {
	clk := testclock.New()
	th := NewThrottle(2, time.Minute, 100, clk.Now)
	th.Reserve("k")
	th.Reserve("k")
	clk.Advance(time.Minute)
	for i := range 2 {
		if wait := th.Reserve("k"); wait != 0 {
			t.Fatalf("new window, reservation %d: wait %s", i+1, wait)
		}
	}
	if wait := th.Reserve("k"); wait != time.Minute {
		t.Fatalf("new window at its limit: wait %s, want 1m", wait)
	}
}

// TestReleaseStopsAtZero: giving back more than was reserved gains nothing.
func TestReleaseStopsAtZero(t *testing.T) {
	th := NewThrottle(2, time.Minute, 100, testclock.New().Now)
	th.Reserve("k")
	th.Release("k")
	th.Release("k")
	th.Reserve("k")
	th.Reserve("k")
	if wait := th.Reserve("k"); wait == 0 {
		t.Fatal("an extra release let a third attempt through a limit of 2")
	}
}

// ASVS 5.0 V6.2.4: at least the top 3000 passwords that the policy would
// otherwise let through (8 characters or more) are refused.
func TestCommonPasswordListHoldsTheTop3000(t *testing.T) {
	n := 0
	for pw := range commonPasswords() {
		if len(pw) >= MinPassword {
			n++
		}
	}
	if n < 3000 {
		t.Fatalf("the embedded list holds %d passwords of %d+ characters, want at least 3000", n, MinPassword)
	}
}
