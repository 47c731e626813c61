package kv_test

import (
	"context"
	"testing"
	"time"

	"soulbridge/kv"
)

// TestLiveRecords counts the live records under a prefix: not the ones
// deleted, not another prefix's.
func TestLiveRecords(t *testing.T) {
	ctx := context.Background()
	b, err := kv.Open(ctx, kv.Options{Dir: t.TempDir(), Prefix: "t:", LockTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, k := range []string{"session:a", "session:b", "session:c", "sessions-of:x:a", "user:x"} {
		if err := b.Set(ctx, k, []byte(`{}`), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Delete(ctx, "session:b"); err != nil {
		t.Fatal(err)
	}
	n, err := b.LiveRecords(ctx, "session:")
	if err != nil || n != 2 {
		t.Fatalf("LiveRecords(session:) = %d, %v; want 2", n, err)
	}
	if b.Size() < 0 || b.FreeBytes() == 0 {
		t.Errorf("Size %d, FreeBytes %d: want a size and free space", b.Size(), b.FreeBytes())
	}
}
