package kv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"soulbridge/internal/testredis"
	"soulbridge/internal/testwait"
)

// get reads key from b as a string, "<none>" when not found.
func get(t *testing.T, b interface {
	Get(context.Context, string) ([]byte, error)
}, key string) string {
	t.Helper()
	v, err := b.Get(context.Background(), key)
	if errors.Is(err, ErrNotFound) {
		return "<none>"
	}
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return string(v)
}

// TestReadCacheFollowsEveryWrite: a key read (so cached) and then written
// in each of the store's ways is read back as written, never as cached.
func TestReadCacheFollowsEveryWrite(t *testing.T) {
	b, _ := openTemp(t)
	ctx := context.Background()
	cached := func(key string) bool { _, ok := b.cache.get(key); return ok }
	steps := []struct {
		name  string
		write func() error
		want  string
	}{
		{"set", func() error { return b.Set(ctx, "k", []byte("v1"), 0) }, "v1"},
		{"set again", func() error { return b.Set(ctx, "k", []byte("v2"), 0) }, "v2"},
		{"delete", func() error { return b.Delete(ctx, "k") }, "<none>"},
		{"create", func() error { return b.Create(ctx, "k", []byte("v3"), 0) }, "v3"},
		{"mirror copy", func() error {
			_, err := b.apply(ctx, []localOp{{key: "k", stored: b.stamp([]byte("v4"), 0), ifNewer: true}})
			return err
		}, "v4"},
		{"mirror delete", func() error { _, err := b.apply(ctx, []localOp{{key: "k", remove: true}}); return err }, "<none>"},
	}
	get(t, b, "k") // a miss is cached too
	if !cached("k") {
		t.Fatal("a read of a missing key was not cached")
	}
	for _, s := range steps {
		if err := s.write(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := get(t, b, "k"); got != s.want {
			t.Fatalf("after %s: Get = %q, want %q", s.name, got, s.want)
		}
		if !cached("k") {
			t.Fatalf("after %s: the read was not cached", s.name)
		}
		if got := get(t, b, "k"); got != s.want {
			t.Fatalf("after %s, from the cache: Get = %q, want %q", s.name, got, s.want)
		}
	}
	// The caller owns what Get returns: changing it changes nothing cached.
	if err := b.Set(ctx, "k", []byte("mine"), 0); err != nil {
		t.Fatal(err)
	}
	v, _ := b.Get(ctx, "k")
	copy(v, "xxxx")
	if got := get(t, b, "k"); got != "mine" {
		t.Fatalf("after the caller changed its copy: Get = %q", got)
	}
}

// TestReadCacheRestore: a restore that replaces the store's contents drops
// every cached record.
func TestReadCacheRestore(t *testing.T) {
	src, _ := openTemp(t)
	dst, _ := openTemp(t)
	ctx := context.Background()
	if err := src.Set(ctx, "k", []byte("from backup"), 0); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := src.Backup(ctx, &buf, testSiteKey); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"k", "only-here"} {
		if err := dst.Set(ctx, k, []byte("before"), 0); err != nil {
			t.Fatal(err)
		}
		get(t, dst, k)
	}
	br, err := OpenBackup(&buf, testRead)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Restore(ctx, br, RestoreOptions{Replace: true}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, dst, "k"); got != "from backup" {
		t.Fatalf("after a restore: Get = %q", got)
	}
	if got := get(t, dst, "only-here"); got != "<none>" {
		t.Fatalf("after a restore that replaced the store: Get(only-here) = %q", got)
	}
}

// TestReadCacheTTL: a cached key expires when Badger hides it.
func TestReadCacheTTL(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a 1 s TTL to pass: skipped by -short")
	}
	b, _ := openTemp(t)
	if err := b.Set(context.Background(), "k", []byte("v"), time.Second); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.cache.get("k"); ok {
		t.Fatal("cached before any read")
	}
	testwait.Until(t, 3*time.Second, "the key expires", func() bool {
		got := get(t, b, "k")
		if _, ok := b.cache.get("k"); got == "v" && !ok {
			t.Fatal("a live read was not cached")
		}
		return got == "<none>"
	})
	raw, _, err := b.getRecord(context.Background(), "k")
	if err != nil || raw.val != nil {
		t.Fatalf("after expiry getRecord = %q, %v", raw.val, err)
	}
}

// TestReadCacheBounded: the cache never holds more than its bounds.
func TestReadCacheBounded(t *testing.T) {
	c := newReadCache()
	val := make([]byte, 1000)
	for i := range 3 * cacheMaxEntries {
		c.put(fmt.Sprintf("key:%06d", i), val, 0, c.generation())
		if c.len() > cacheMaxEntries || c.bytes > cacheMaxBytes {
			t.Fatalf("after %d puts: %d entries, %d bytes", i+1, c.len(), c.bytes)
		}
	}
	if c.len() < cacheMaxBytes/2/1010 {
		t.Fatalf("only %d entries kept", c.len())
	}
	// A read that began before a write keeps nothing.
	gen := c.generation()
	c.drop("other")
	c.put("stale", val, 0, gen)
	if _, ok := c.get("stale"); ok {
		t.Fatal("a read that began before a write was cached")
	}
}

// TestReadCacheConcurrentWrites: readers racing writers of one key always
// see, once a write has returned, that write or a later one.
func TestReadCacheConcurrentWrites(t *testing.T) {
	b := openMem(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					get(t, b, "k")
				}
			}
		})
	}
	for i := range 300 {
		want := fmt.Sprintf("%04d", i)
		if err := b.Set(ctx, "k", []byte(want), 0); err != nil {
			t.Fatal(err)
		}
		if got := get(t, b, "k"); got < want {
			close(stop)
			t.Fatalf("after writing %s, Get = %s", want, got)
		}
	}
	close(stop)
	wg.Wait()
}

func openMem(t *testing.T) *Badger {
	t.Helper()
	b, err := Open(context.Background(), Options{InMemory: true, Prefix: "t:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestReadCacheUnderMirror: with the Redis mirror, each instance's local
// copy (served while Redis is down) follows what other instances write:
// the mirror's own local writes drop the cached records.
func TestReadCacheUnderMirror(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for background copies and an outage (1.5 s): skipped by -short")
	}
	srv := testredis.Start(t)
	opts := MirrorOptions{URL: srv.URL(), Persistent: true, CachePrefixes: []string{"session:"}}
	a, b := mirrorOn(t, t.TempDir(), opts), mirrorOn(t, t.TempDir(), opts)
	ctx := context.Background()
	for _, step := range []struct {
		name  string
		write func() error
		want  string
	}{
		{"set on B", func() error { return b.Set(ctx, "avatar:x", []byte("owl"), 0) }, "owl"},
		{"set again on B", func() error { return b.Set(ctx, "avatar:x", []byte("fox"), 0) }, "fox"},
		{"delete on B", func() error { return b.Delete(ctx, "avatar:x") }, "<none>"},
	} {
		if err := step.write(); err != nil {
			t.Fatal(err)
		}
		if got := get(t, a, "avatar:x"); got != step.want {
			t.Fatalf("after %s: A reads %q from Redis, want %q", step.name, got, step.want)
		}
		// A keeps a local copy of what it read (in the background); its
		// local store, read through its cache, must come to hold it, and
		// the read to be cached. Both are awaited together: the local
		// write drops the key from the cache after its commit (a deferred
		// drop), so a read between the two sees the new value and caches
		// it only for the drop to take it out again (issue 18: "A's local
		// read was not cached", twice in 20 runs on a busy machine).
		testwait.Until(t, 2*time.Second, "A's local copy after "+step.name+", read and cached", func() bool {
			if get(t, a.local, "avatar:x") != step.want {
				return false
			}
			_, ok := a.local.cache.get("avatar:x")
			return ok
		})
	}
	if err := b.Set(ctx, "avatar:x", []byte("cat"), 0); err != nil {
		t.Fatal(err)
	}
	get(t, a, "avatar:x")
	testwait.Until(t, 2*time.Second, "A's local copy of cat", func() bool { return get(t, a.local, "avatar:x") == "cat" })
	// Redis down: A serves its local copy, the latest.
	srv.Pause()
	defer srv.Resume()
	testwait.Until(t, 5*time.Second, "A notices Redis is down", func() bool { return !a.up() })
	if got := get(t, a, "avatar:x"); got != "cat" {
		t.Fatalf("with Redis down A reads %q, want cat", got)
	}
}
