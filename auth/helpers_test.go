package auth_test

import (
	"testing"

	"soulbridge/auth"
	"soulbridge/internal/testclock"
	"soulbridge/kv"
	"soulbridge/kv/kvtest"
)

func newClock() *testclock.Clock { return testclock.New() }

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

func openStore(t *testing.T) *kv.Badger { return kvtest.Memory(t) }

func newService(t *testing.T, store auth.Store, clk *testclock.Clock) *auth.Service {
	t.Helper()
	s, err := auth.New(store, auth.Config{Hasher: newHasher(t), Now: clk.Now})
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	return s
}
