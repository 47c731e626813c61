package kv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func openTemp(t *testing.T) (*Badger, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := Open(context.Background(), Options{Dir: dir, Prefix: "t:", LockTimeout: time.Second})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b, dir
}

func TestSetGetDelete(t *testing.T) {
	ctx := context.Background()
	for _, inMemory := range []bool{false, true} {
		t.Run(fmt.Sprintf("inMemory=%v", inMemory), func(t *testing.T) {
			var b *Badger
			if inMemory {
				var err error
				b, err = Open(ctx, Options{InMemory: true, Prefix: "t:"})
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
			} else {
				b, _ = openTemp(t)
			}
			if _, err := b.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get missing: err = %v, want ErrNotFound", err)
			}
			if err := b.Set(ctx, "a", []byte("1"), 0); err != nil {
				t.Fatal(err)
			}
			if err := b.Set(ctx, "a", []byte("2"), 0); err != nil {
				t.Fatal(err)
			}
			got, err := b.Get(ctx, "a")
			if err != nil || string(got) != "2" {
				t.Fatalf("Get = %q, %v; want 2", got, err)
			}
			if err := b.Delete(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if err := b.Delete(ctx, "a"); err != nil {
				t.Fatalf("Delete missing: %v", err)
			}
			if _, err := b.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get after Delete: err = %v", err)
			}
		})
	}
}

func TestTTLExpires(t *testing.T) {
	b, _ := openTemp(t)
	ctx := context.Background()
	if err := b.Set(ctx, "short", []byte("x"), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "long", []byte("y"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "short"); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	// Badger's TTL has one-second resolution.
	time.Sleep(2100 * time.Millisecond)
	if _, err := b.Get(ctx, "short"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after expiry: err = %v, want ErrNotFound", err)
	}
	if _, err := b.Get(ctx, "long"); err != nil {
		t.Fatalf("long TTL key gone: %v", err)
	}
}

func TestScanPrefix(t *testing.T) {
	b, _ := openTemp(t)
	ctx := context.Background()
	for _, k := range []string{"user:bob", "user:alice", "avatar:alice", "users", "user:carol"} {
		if err := b.Set(ctx, k, []byte("v-"+k), 0); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	err := b.Scan(ctx, "user:", func(k string, v []byte) error {
		if string(v) != "v-"+k {
			t.Errorf("value of %s = %q", k, v)
		}
		keys = append(keys, k)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(keys, ","), "user:alice,user:bob,user:carol"; got != want {
		t.Fatalf("Scan keys = %s, want %s", got, want)
	}
	stop := errors.New("stop")
	n := 0
	if err := b.Scan(ctx, "user:", func(string, []byte) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Scan did not stop at fn's error: err=%v n=%d", err, n)
	}
}

func TestCreateOnlyOnce(t *testing.T) {
	b, _ := openTemp(t)
	ctx := context.Background()
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			err := b.Create(ctx, "user:alice", []byte(fmt.Sprint(i)), 0)
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, ErrExists):
			default:
				t.Errorf("Create: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d Creates succeeded, want exactly 1", wins.Load())
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := Open(ctx, Options{Dir: dir, Prefix: "p:"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b, err = Open(ctx, Options{Dir: dir, Prefix: "p:"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if v, err := b.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("after reopen Get = %q, %v", v, err)
	}
	// Another prefix sees nothing of it.
	other, err := Open(ctx, Options{InMemory: true, Prefix: "q:"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("prefix isolation: %v", err)
	}
}

func TestOpenWaitsForLockThenFails(t *testing.T) {
	_, dir := openTemp(t)
	start := time.Now()
	_, err := Open(context.Background(), Options{Dir: dir, LockTimeout: 700 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
	if waited := time.Since(start); waited < 700*time.Millisecond {
		t.Fatalf("gave up after %s, before the lock timeout", waited)
	}
	if !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("error does not say the dir is locked: %v", err)
	}
}

func TestOpenGetsLockWhenReleased(t *testing.T) {
	first, dir := openTemp(t)
	go func() {
		time.Sleep(600 * time.Millisecond)
		first.Close()
	}()
	second, err := Open(context.Background(), Options{Dir: dir, LockTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Open after release: %v", err)
	}
	second.Close()
}

func TestOpenLockWaitCancelled(t *testing.T) {
	_, dir := openTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err := Open(ctx, Options{Dir: dir, LockTimeout: time.Minute})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("cancel did not end the lock wait promptly")
	}
}

func TestCloseTwice(t *testing.T) {
	b, _ := openTemp(t)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := b.Ping(context.Background()); err == nil {
		t.Fatal("Ping on a closed store succeeded")
	}
}
