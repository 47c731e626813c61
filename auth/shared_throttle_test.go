package auth_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"soulbridge/auth"
	"soulbridge/internal/testredis"
	"soulbridge/kv"
	"soulbridge/kv/kvtest"
)

// sharedService is an auth.Service on its own instance's store (a Badger in
// a temp dir behind a Redis mirror), counting failures in Redis.
func sharedService(t *testing.T, url string) *auth.Service {
	t.Helper()
	m := kvtest.Mirror(t, "t:", kv.MirrorOptions{URL: url, Persistent: true})
	s, err := auth.New(m, auth.Config{Hasher: newHasher(t), Shared: m})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestThrottleSharedAcrossInstances: failures from one address on two
// instances add up, so spreading a guessing attack over instances gains
// nothing; with Redis down each instance still throttles on its own.
func TestThrottleSharedAcrossInstances(t *testing.T) {
	srv := testredis.Start(t)
	a, b := sharedService(t, srv.URL()), sharedService(t, srv.URL())
	ctx := context.Background()
	signUp(t, a, "alice", pw)
	const ip = "203.0.113.9"
	for i := range auth.IPLimit {
		s := a
		if i%2 == 1 {
			s = b
		}
		if _, err := s.LogIn(ctx, "alice", "wrong password", ip); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("failure %d: %v, want ErrBadCredentials", i+1, err)
		}
	}
	for name, s := range map[string]*auth.Service{"A": a, "B": b} {
		var th *auth.ThrottledError
		if _, err := s.LogIn(ctx, "alice", pw, ip); !errors.As(err, &th) || th.RetryAfter <= 0 || th.RetryAfter >= auth.Window {
			t.Fatalf("%s after %d failures split over two instances: %v, want throttled", name, auth.IPLimit, err)
		}
	}
	if _, err := a.LogIn(ctx, "alice", pw, "203.0.113.10"); err != nil {
		t.Fatalf("another address: %v", err)
	}

	// Redis gone: this instance's own counter decides.
	srv.Kill()
	const ip2 = "198.51.100.7"
	for i := range auth.IPLimit {
		if _, err := a.LogIn(ctx, "alice", "wrong password", ip2); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("failure %d with redis down: %v", i+1, err)
		}
	}
	var th *auth.ThrottledError
	if _, err := a.LogIn(ctx, "alice", pw, ip2); !errors.As(err, &th) {
		t.Fatalf("with redis down, after %d local failures: %v, want throttled", auth.IPLimit, err)
	}
}

// TestSharedReservationsAreGivenBack: with the counters in Redis, a
// success gives its reservation back on the shared tier too (kv.Mirror's
// Decr), so many log-ins that succeed, on either instance, leave an
// address its full allowance of failures; and a flood split over two
// instances is still held to IPLimit failures in all.
func TestSharedReservationsAreGivenBack(t *testing.T) {
	srv := testredis.Start(t)
	a, b := sharedService(t, srv.URL()), sharedService(t, srv.URL())
	ctx := context.Background()
	signUp(t, a, "alice", pw)
	const ip = "203.0.113.44"
	for i := range 3 * auth.IPLimit {
		s := a
		if i%2 == 1 {
			s = b
		}
		if _, err := s.LogIn(ctx, "alice", pw, ip); err != nil {
			t.Fatalf("success %d: %v", i+1, err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad := 0
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			_, err := s.LogIn(ctx, "alice", "wrong password", ip)
			var th *auth.ThrottledError
			switch {
			case errors.Is(err, auth.ErrBadCredentials):
				mu.Lock()
				bad++
				mu.Unlock()
			case errors.As(err, &th):
			default:
				t.Errorf("flood: %v", err)
			}
		}()
	}
	wg.Wait()
	for bad < auth.IPLimit { // the in-flight bound turned some away early
		if _, err := a.LogIn(ctx, "alice", "wrong password", ip); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("after %d failures (limit %d), 30 successes before: %v", bad, auth.IPLimit, err)
		}
		bad++
	}
	if bad > auth.IPLimit {
		t.Errorf("%d failures answered over two instances, want at most %d", bad, auth.IPLimit)
	}
	var th *auth.ThrottledError
	if _, err := b.LogIn(ctx, "alice", pw, ip); !errors.As(err, &th) {
		t.Fatalf("after %d failures: %v, want throttled", auth.IPLimit, err)
	}
}
