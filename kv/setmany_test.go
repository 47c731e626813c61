package kv_test

import (
	"context"
	"fmt"
	"testing"

	"soulbridge/kv"
	"soulbridge/kv/kvtest"
)

// SetMany writes every entry, in more than one transaction when they do
// not fit in one (30,000 take several with the store's small memtables),
// and the writes survive a reopen (they were committed, and so synced,
// before it returned).
func TestSetMany(t *testing.T) {
	dir := t.TempDir()
	store := kvtest.Dir(t, dir)
	ctx := context.Background()
	if _, err := store.Get(ctx, "k:00007"); err == nil {
		t.Fatal("k:00007 exists before the write")
	}
	const n = 30_000 // past one Badger transaction's limit
	entries := make([]kv.Entry, n)
	for i := range entries {
		entries[i] = kv.Entry{Key: fmt.Sprintf("k:%05d", i), Val: []byte(fmt.Sprintf("value %d", i))}
	}
	if err := store.SetMany(ctx, entries); err != nil {
		t.Fatalf("SetMany: %v", err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	store = kvtest.Dir(t, dir)
	count := 0
	if err := store.Scan(ctx, kv.Range{Prefix: "k:"}, func(string, []byte) error { count++; return nil }); err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Fatalf("after a reopen %d keys, want %d", count, n)
	}
	for _, i := range []int{0, 1, n - 1} {
		v, err := store.Get(ctx, entries[i].Key)
		if err != nil || string(v) != string(entries[i].Val) {
			t.Fatalf("Get(%s) = %q, %v; want %q", entries[i].Key, v, err, entries[i].Val)
		}
	}
	// A read cached before a SetMany sees the new value after it.
	if err := store.SetMany(ctx, []kv.Entry{{Key: "k:00000", Val: []byte("changed")}}); err != nil {
		t.Fatal(err)
	}
	if v, _ := store.Get(ctx, "k:00000"); string(v) != "changed" {
		t.Fatalf("after a second SetMany Get = %q, want changed", v)
	}
}
