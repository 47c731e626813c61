package kv_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"soulbridge/kv"
)

// openBench opens a store on disk, as in production (fsynced writes).
func openBench(b *testing.B) *kv.Badger {
	b.Helper()
	s, err := kv.Open(context.Background(), kv.Options{Dir: b.TempDir(), Prefix: "soulbridge:", LockTimeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// benchValue is the size of a session record.
var benchValue = []byte(`{"username":"alice","created_at":"2026-12-01T01:02:03.456789Z","last_seen":"2026-12-01T01:02:03.456789Z",` +
	`"expires_at":"2027-03-01T01:02:03.456789Z","user_agent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0","ip":"192.0.2.1",` +
	`"updated_at":"2026-12-01T01:02:03.456789Z"}`)

// BenchmarkGet reads one hot key, as every authenticated request does.
func BenchmarkGet(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	if err := s.Set(ctx, "session:hot", benchValue, time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, "session:hot"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetParallel reads 200 keys from every CPU at once.
func BenchmarkGetParallel(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	keys := make([]string, 200)
	for i := range keys {
		keys[i] = fmt.Sprintf("session:%04d", i)
		if err := s.Set(ctx, keys[i], benchValue, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.Get(ctx, keys[i%len(keys)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkSet writes (fsynced) one key over and over.
func BenchmarkSet(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Set(ctx, "avatar:alice", benchValue, 0); err != nil {
			b.Fatal(err)
		}
	}
}
