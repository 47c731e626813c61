package kv

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fakeDisk is a volume whose free space the test sets; the guard measures
// it instead of statfs. Everything else (Badger, the reserve file) is real.
type fakeDisk struct{ free atomic.Uint64 }

func (d *fakeDisk) stat(string) (uint64, uint64, error) { return d.free.Load(), 1 << 30, nil }

func openGuarded(t *testing.T, dir string, d *fakeDisk) (*Badger, error) {
	t.Helper()
	b, err := Open(context.Background(), Options{Dir: dir, Prefix: "t:", LockTimeout: time.Second, statFS: d.stat})
	if err == nil {
		t.Cleanup(func() { b.Close() })
	}
	return b, err
}

func TestSpaceGuard(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := &fakeDisk{}
	d.free.Store(1 << 30)
	b, err := openGuarded(t, dir, d)
	if err != nil {
		t.Fatal(err)
	}
	reserve := filepath.Join(dir, reserveFileName)
	fi, err := os.Stat(reserve)
	if err != nil {
		t.Fatalf("no reserve file after an open with room: %v", err)
	}
	if fi.Size() < int64(b.space.deleteReserve()) {
		t.Fatalf("reserve file is %d bytes, less than the delete reserve %d", fi.Size(), b.space.deleteReserve())
	}
	// The memtable log's blocks are allocated, so a write into it cannot
	// fault on a full volume.
	mems, _ := filepath.Glob(filepath.Join(dir, "*.mem"))
	if len(mems) == 0 {
		t.Fatal("no memtable log after Open")
	}
	for _, m := range mems {
		var st syscall.Stat_t
		if err := syscall.Stat(m, &st); err != nil {
			t.Fatal(err)
		}
		if st.Blocks*512 < st.Size {
			t.Errorf("%s: %d of %d bytes allocated", filepath.Base(m), st.Blocks*512, st.Size)
		}
	}
	if err := b.Set(ctx, "a", []byte("1"), 0); err != nil {
		t.Fatalf("Set with room: %v", err)
	}
	if st := b.DiskStatus(); st.ReadOnly || st.Free != 1<<30 {
		t.Fatalf("status with room: %+v", st)
	}

	// Under the write reserve, above the delete reserve: writes refused,
	// deletes go on, the reserve file is kept.
	d.free.Store(b.space.deleteReserve() + 1)
	b.space.poll()
	if _, err := os.Stat(reserve); err != nil {
		t.Errorf("reserve file released above the delete reserve: %v", err)
	}
	for name, err := range map[string]error{
		"Set":    b.Set(ctx, "b", []byte("2"), 0),
		"Create": b.Create(ctx, "c", []byte("3"), 0),
	} {
		if !errors.Is(err, ErrFull) {
			t.Errorf("%s on a full volume = %v, want ErrFull", name, err)
		}
	}
	if err := b.Delete(ctx, "a"); err != nil {
		t.Errorf("Delete above the delete reserve: %v", err)
	}
	if st := b.DiskStatus(); !st.ReadOnly || st.Reason == "" {
		t.Errorf("status when full: %+v", st)
	}
	if _, err := b.Get(ctx, "b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused Set wrote: %v", err)
	}

	// Under the delete reserve: the reserve file is released (with a real
	// volume, its bytes would now be free); here the fake volume stays
	// full, so deletes are refused too; reads go on.
	d.free.Store(b.space.deleteReserve() - 1)
	b.space.poll()
	if _, err := os.Stat(reserve); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("reserve file not released: %v", err)
	}
	if err := b.Delete(ctx, "a"); !errors.Is(err, ErrFull) {
		t.Errorf("Delete under the delete reserve = %v, want ErrFull", err)
	}
	if _, err := b.apply(ctx, []localOp{{key: "x", stored: []byte("raw")}}); !errors.Is(err, ErrFull) {
		t.Errorf("apply under the reserve = %v, want ErrFull", err)
	}
	if err := b.Ping(ctx); err != nil {
		t.Errorf("Ping when full: %v", err)
	}

	// Room for the write reserve but not yet for the reserve file: still
	// refused (hysteresis), then space is back: reserve restored, writes on.
	d.free.Store(b.space.writeReserve() + 1)
	b.space.poll()
	if err := b.Set(ctx, "b", []byte("2"), 0); !errors.Is(err, ErrFull) {
		t.Errorf("Set before the reserve is restored = %v, want ErrFull", err)
	}
	d.free.Store(1 << 30)
	b.space.poll()
	if _, err := os.Stat(reserve); err != nil {
		t.Errorf("reserve file not restored: %v", err)
	}
	if err := b.Set(ctx, "b", []byte("2"), 0); err != nil {
		t.Errorf("Set after space is back: %v", err)
	}
}

func TestOpenOnFullVolume(t *testing.T) {
	dir := t.TempDir()
	d := &fakeDisk{}
	d.free.Store(1 << 30)
	b, err := openGuarded(t, dir, d)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Set(context.Background(), "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	b.Close()

	// Full, but the reserve file gives back enough to open: opens, with
	// the reserve released and writes refused.
	d.free.Store(0)
	reserve := filepath.Join(dir, reserveFileName)
	fi, err := os.Stat(reserve)
	if err != nil {
		t.Fatal(err)
	}
	size := uint64(fi.Size())
	d.free.Store(0)
	stat := func(string) (uint64, uint64, error) {
		if _, err := os.Stat(reserve); errors.Is(err, os.ErrNotExist) {
			return d.free.Load() + size, 1 << 30, nil
		}
		return d.free.Load(), 1 << 30, nil
	}
	b, err = Open(context.Background(), Options{Dir: dir, Prefix: "t:", statFS: stat})
	if err != nil {
		t.Fatalf("open on a full volume with a reserve file: %v", err)
	}
	defer b.Close()
	if v, err := b.Get(context.Background(), "k"); err != nil || string(v) != "v" {
		t.Errorf("Get = %q, %v", v, err)
	}
	if err := b.Set(context.Background(), "k", []byte("w"), 0); !errors.Is(err, ErrFull) {
		t.Errorf("Set = %v, want ErrFull", err)
	}
	if st := b.DiskStatus(); !st.ReadOnly {
		t.Errorf("status = %+v, want read-only", st)
	}
	b.Close()

	// Full and no reserve file: a read-write open could fault, so the
	// store opens read-only, and says when it could be reopened.
	d.free.Store(0)
	size = 0
	b, err = Open(context.Background(), Options{Dir: dir, Prefix: "t:", statFS: stat})
	if err != nil {
		t.Fatalf("open on a full volume without a reserve: %v", err)
	}
	defer b.Close()
	if v, err := b.Get(context.Background(), "k"); err != nil || string(v) != "v" {
		t.Errorf("read-only Get = %q, %v", v, err)
	}
	if err := b.Delete(context.Background(), "k"); !errors.Is(err, ErrFull) {
		t.Errorf("read-only Delete = %v, want ErrFull", err)
	}
	if st := b.DiskStatus(); !st.ReadOnly || st.Reason == "" {
		t.Errorf("read-only status = %+v", st)
	}
	select {
	case <-b.Writable():
		t.Fatal("Writable fired on a full volume")
	default:
	}
	d.free.Store(1 << 30)
	b.space.poll()
	select {
	case <-b.Writable():
	case <-time.After(time.Second):
		t.Fatal("Writable did not fire once space is back")
	}
}

func TestDeletesOnly(t *testing.T) {
	tomb := encodeRecord(version(1, "aaaaaaaaaaaa"), true, 0, nil)
	live := encodeRecord(version(1, "aaaaaaaaaaaa"), false, 0, []byte("v"))
	for _, tc := range []struct {
		name string
		ops  []localOp
		want bool
	}{
		{"remove", []localOp{{key: "k", remove: true}}, true},
		{"tombstone", []localOp{{key: "k", stored: tomb}}, true},
		{"queued tombstone", []localOp{{key: "k", stored: tomb}, {key: outboxKey(1), stored: outboxEntry("k", tomb)}}, true},
		{"value", []localOp{{key: "k", stored: live}}, false},
		{"queued value", []localOp{{key: "k", stored: live}, {key: outboxKey(1), stored: outboxEntry("k", live)}}, false},
		{"raw local key", []localOp{{key: "mirror:epoch", stored: []byte("x")}}, false},
	} {
		if got := deletesOnly(tc.ops); got != tc.want {
			t.Errorf("%s: deletesOnly = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestLegacyMemtable: a memtable log an older release left after a crash
// (sized for 8 MiB memtables) is replayed with that size, since a smaller
// memtable could not hold it; otherwise the store uses memTableSize.
func TestLegacyMemtable(t *testing.T) {
	dir := t.TempDir()
	if got := memTableSizeFor(dir); got != memTableSize {
		t.Errorf("empty dir: %d, want %d", got, memTableSize)
	}
	if err := os.WriteFile(filepath.Join(dir, "00001.mem"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, "00001.mem"), 2*memTableSize); err != nil {
		t.Fatal(err)
	}
	if got := memTableSizeFor(dir); got != memTableSize {
		t.Errorf("current log: %d, want %d", got, memTableSize)
	}
	if err := os.Truncate(filepath.Join(dir, "00001.mem"), 2*legacyMemTableSize); err != nil {
		t.Fatal(err)
	}
	if got := memTableSizeFor(dir); got != legacyMemTableSize {
		t.Errorf("legacy log: %d, want %d", got, legacyMemTableSize)
	}
}

// BenchmarkAllow is what the guard adds to a write: a mutex and a time
// comparison, with a real statfs once a second.
func BenchmarkAllow(b *testing.B) {
	g := newSpaceGuard(b.TempDir(), nil, memTableSize, slog.New(slog.DiscardHandler))
	g.held = true
	for b.Loop() {
		if err := g.allow(false); err != nil {
			b.Fatal(err)
		}
	}
}
