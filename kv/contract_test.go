package kv_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"soulbridge/internal/testredis"
	"soulbridge/kv"
	"soulbridge/kv/kvtest"
)

// TestBadgerContract runs the shared store contract against Badger on disk
// and in memory.
func TestBadgerContract(t *testing.T) {
	t.Parallel()
	t.Run("disk", func(t *testing.T) {
		t.Parallel()
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
		t.Parallel()
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

// TestMirrorContract runs the shared store contract against the Redis
// mirror (a real redis-server), each store under its own prefix.
func TestMirrorContract(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	var n atomic.Int32
	kvtest.Run(t, func(t *testing.T) kv.Store {
		prefix := fmt.Sprintf("m%d:", n.Add(1))
		return kvtest.Mirror(t, prefix, kv.MirrorOptions{URL: srv.URL(), Persistent: true})
	})
}
