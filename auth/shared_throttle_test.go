package auth_test

import (
	"context"
	"errors"
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
		if _, err := s.LogIn(ctx, "alice", pw, ip); !errors.As(err, &th) || th.RetryAfter <= 0 || th.RetryAfter > auth.Window {
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
