package auth_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"soulbridge/auth"
	"soulbridge/kv"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fastParams keep argon2id cheap in tests.
var fastParams = auth.Params{Memory: 64, Time: 1, Threads: 1}

func newHasher(t *testing.T) *auth.Hasher {
	t.Helper()
	h, err := auth.NewHasher(fastParams, 2)
	if err != nil {
		t.Fatalf("NewHasher: %v", err)
	}
	return h
}

func openStore(t *testing.T) *kv.Badger {
	t.Helper()
	b, err := kv.Open(context.Background(), kv.Options{InMemory: true, Prefix: "t:"})
	if err != nil {
		t.Fatalf("kv.Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func newService(t *testing.T, store auth.Store, clk *fakeClock) *auth.Service {
	t.Helper()
	return auth.NewService(store, auth.Config{
		Hasher:     newHasher(t),
		IsNotFound: func(err error) bool { return errors.Is(err, kv.ErrNotFound) },
		IsExists:   func(err error) bool { return errors.Is(err, kv.ErrExists) },
		Now:        clk.Now,
	})
}
