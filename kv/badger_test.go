package kv

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testlog"
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
	if testing.Short() {
		t.Skip("waits out a 700 ms lock timeout: skipped by -short")
	}
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

// TestLockWaitNamesALocalHolder (issue 18 row 11): while a process on this
// machine holds the data dir (here this very process, through a first
// Open), the wait's one line says so and names its pid, instead of
// guessing at an old deploy.
func TestLockWaitNamesALocalHolder(t *testing.T) {
	_, dir := openTemp(t)
	logs := &testlog.Recorder{}
	_, err := Open(context.Background(), Options{Dir: dir, LockTimeout: 300 * time.Millisecond, Logger: slog.New(logs)})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
	var waits []slog.Record
	for _, r := range logs.Records() {
		if strings.Contains(r.Message, "locked") {
			waits = append(waits, r)
		}
	}
	if len(waits) != 1 {
		t.Fatalf("%d lock-wait lines, want one", len(waits))
	}
	if msg := waits[0].Message; !strings.Contains(msg, "on this machine") || strings.Contains(msg, "old deploy") {
		t.Errorf("lock-wait line %q: want it to say the holder is on this machine, not an old deploy", msg)
	}
	pid := -1
	waits[0].Attrs(func(a slog.Attr) bool {
		if a.Key == "holder_pid" {
			pid = int(a.Value.Int64())
		}
		return true
	})
	if pid != os.Getpid() {
		t.Errorf("holder_pid = %d, want this process's %d", pid, os.Getpid())
	}
}

func TestOpenGetsLockWhenReleased(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 600 ms for a lock: skipped by -short")
	}
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
