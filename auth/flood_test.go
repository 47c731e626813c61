package auth_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"soulbridge/auth"
)

// legitBound is the longest a legitimate log-in from another address may
// take while one address floods the site with wrong passwords (a normal
// log-in at DefaultParams takes ~30–40 ms; the flood may add the hashes
// already in flight, bounded by auth.MaxInFlight).
const legitBound = time.Second

// TestLoginFloodFromOneAddress (issue 10, row 1): 150 concurrent wrong
// passwords from one address, with the real hasher at DefaultParams. At most
// IPLimit of them are hashed and answered "bad credentials"; the rest are
// throttled before any hash; a legitimate log-in from another address during
// the flood succeeds within legitBound.
func TestLoginFloodFromOneAddress(t *testing.T) {
	h, err := auth.NewHasher(auth.DefaultParams, runtime.GOMAXPROCS(0))
	if err != nil {
		t.Fatal(err)
	}
	s, err := auth.New(openStore(t), auth.Config{Hasher: h})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	signUp(t, s, "alice", pw)
	signUp(t, s, "bob", pw)

	const flood = 150
	var (
		wg                    sync.WaitGroup
		mu                    sync.Mutex
		bad, throttled, other int
		start                 = make(chan struct{})
	)
	for range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := s.LogIn(ctx, "alice", "wrong password", "203.0.113.7")
			var th *auth.ThrottledError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, auth.ErrBadCredentials):
				bad++
			case errors.As(err, &th) && th.RetryAfter > 0:
				throttled++
			default:
				other++
				t.Errorf("flood log-in: %v", err)
			}
		}()
	}
	close(start)
	time.Sleep(5 * time.Millisecond) // the flood is under way
	t0 := time.Now()
	if _, err := s.LogIn(ctx, "bob", pw, "198.51.100.20"); err != nil {
		t.Fatalf("legitimate log-in during the flood: %v", err)
	}
	legit := time.Since(t0)
	wg.Wait()
	t.Logf("flood of %d: %d × bad credentials, %d × throttled; legitimate log-in took %v", flood, bad, throttled, legit)
	if bad > auth.IPLimit {
		t.Errorf("%d wrong passwords were hashed and answered, want at most %d (the per-address limit)", bad, auth.IPLimit)
	}
	if throttled < flood-auth.IPLimit {
		t.Errorf("%d throttled, want at least %d", throttled, flood-auth.IPLimit)
	}
	if legit > legitBound {
		t.Errorf("legitimate log-in from another address took %v during the flood, want under %v", legit, legitBound)
	}
}

// TestLoginThrottleIPv6PerSlash64 (issue 10, row 10): an IPv6 client cannot
// escape the per-address limit by rotating through its /64.
func TestLoginThrottleIPv6PerSlash64(t *testing.T) {
	s := newService(t, openStore(t), newClock())
	signUp(t, s, "alice", pw)
	ctx := context.Background()
	for i := range auth.IPLimit {
		ip := fmt.Sprintf("2001:db8:1:2::%x", i+1)
		if _, err := s.LogIn(ctx, "alice", "wrong password", ip); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("failure %d from %s: %v", i+1, ip, err)
		}
	}
	var th *auth.ThrottledError
	if _, err := s.LogIn(ctx, "alice", pw, "2001:db8:1:2:ffff:ffff:ffff:fffe"); !errors.As(err, &th) {
		t.Fatalf("another address of the same /64 after %d failures: %v, want throttled", auth.IPLimit, err)
	}
	if _, err := s.LogIn(ctx, "alice", pw, "2001:db8:1:3::1"); err != nil {
		t.Fatalf("the next /64: %v", err)
	}
	for ip, want := range map[string]string{
		"192.0.2.7": "192.0.2.7", "::ffff:192.0.2.7": "192.0.2.7",
		"2001:db8::1": "2001:db8::/64", "fe80::1%eth0": "fe80::/64",
	} {
		if got := auth.AddrKey(ip); got != want {
			t.Errorf("AddrKey(%q) = %q, want %q", ip, got, want)
		}
	}
}

// TestLoginSuccessGivesTheReservationBack: successes do not count towards
// the limit; failures do.
func TestLoginSuccessGivesTheReservationBack(t *testing.T) {
	s := newService(t, openStore(t), newClock())
	signUp(t, s, "alice", pw)
	ctx := context.Background()
	const ip = "192.0.2.50"
	for i := range 3 * auth.IPLimit {
		if _, err := s.LogIn(ctx, "alice", pw, ip); err != nil {
			t.Fatalf("success %d: %v", i+1, err)
		}
	}
	for i := range auth.IPLimit {
		if _, err := s.LogIn(ctx, "alice", "wrong password", ip); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("failure %d after many successes: %v", i+1, err)
		}
	}
	var th *auth.ThrottledError
	if _, err := s.LogIn(ctx, "alice", pw, ip); !errors.As(err, &th) {
		t.Fatalf("after %d failures: %v, want throttled", auth.IPLimit, err)
	}
}

// TestSignupOfATakenNameHashesNothing (issue 10, row 3): the name is looked
// up before the password is hashed, so 40 sign-ups of a taken name cost far
// less than 40 hashes (DefaultParams, one hash at a time).
func TestSignupOfATakenNameHashesNothing(t *testing.T) {
	h, err := auth.NewHasher(auth.DefaultParams, 1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := auth.New(openStore(t), auth.Config{Hasher: h})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Now()
	if _, err := s.SignUpFrom(ctx, "alice", pw, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	oneHash := time.Since(t0)
	t0 = time.Now()
	for i := range 40 {
		if _, err := s.SignUpFrom(ctx, "Alice", pw, "192.0.2.1"); !errors.Is(err, auth.ErrUsernameTaken) {
			t.Fatalf("taken name %d: %v, want ErrUsernameTaken", i+1, err)
		}
	}
	taken := time.Since(t0)
	t.Logf("one sign-up (one hash): %v; 40 sign-ups of a taken name: %v", oneHash, taken)
	if taken > 4*oneHash {
		t.Errorf("40 sign-ups of a taken name took %v, more than 4 hashes (%v each): they hash", taken, oneHash)
	}
}
