package kv_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"soulbridge/internal/testredis"
	"soulbridge/kv"
	"soulbridge/kv/kvtest"
)

// TestBadgerContract runs the shared store contract against Badger on disk
// and in memory.
func TestBadgerContract(t *testing.T) {
	t.Run("disk", func(t *testing.T) {
		kvtest.Run(t, func(t *testing.T) kv.Store {
			b, err := kv.Open(context.Background(), kv.Options{Dir: t.TempDir(), Prefix: "t:", LockTimeout: time.Second})
			if err != nil {
				t.Fatalf("kv.Open: %v", err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		})
	})
	t.Run("memory", func(t *testing.T) {
		kvtest.Run(t, func(t *testing.T) kv.Store {
			b, err := kv.Open(context.Background(), kv.Options{InMemory: true, Prefix: "t:"})
			if err != nil {
				t.Fatalf("kv.Open: %v", err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		})
	})
}

// openMirror opens a Mirror over a fresh Badger in dir and waits until it
// serves from Redis.
func openMirror(t *testing.T, url, prefix, dir string, persistent bool) *kv.Mirror {
	t.Helper()
	b, err := kv.Open(context.Background(), kv.Options{Dir: dir, Prefix: prefix, LockTimeout: time.Second})
	if err != nil {
		t.Fatalf("kv.Open: %v", err)
	}
	m, err := kv.OpenMirror(b, kv.MirrorOptions{URL: url, Persistent: persistent})
	if err != nil {
		b.Close()
		t.Fatalf("kv.OpenMirror: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	waitFor(t, 5*time.Second, "mirror up", func() bool { return m.Status() == "ok" })
	return m
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMirrorContract runs the shared store contract against the Redis
// mirror (a real redis-server), each store under its own prefix.
func TestMirrorContract(t *testing.T) {
	srv := testredis.Start(t)
	n := 0
	kvtest.Run(t, func(t *testing.T) kv.Store {
		n++
		return openMirror(t, srv.URL(), fmt.Sprintf("m%d:", n), t.TempDir(), true)
	})
}
