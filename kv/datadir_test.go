package kv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// storeDir returns a data dir holding a closed store with a few keys, so
// that it has a MANIFEST, a table and a marker.
func storeDir(t *testing.T, prefix string) string {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	b, err := Open(ctx, Options{Dir: dir, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"user:a", "user:b", "avatar:a"} {
		if err := b.Set(ctx, k, bytes.Repeat([]byte("x"), 500), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func readMarker(t *testing.T, dir string) marker {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, MarkerName))
	if err != nil {
		t.Fatal(err)
	}
	var m marker
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMarkerWrittenOnce(t *testing.T) {
	dir := storeDir(t, "p:")
	if m := readMarker(t, dir); m != (marker{App: "soulbridge", Prefix: "p:", Format: StoreFormat}) {
		t.Fatalf("marker = %+v", m)
	}
	fi, err := os.Stat(filepath.Join(dir, MarkerName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("marker mode %v, want 0600", fi.Mode().Perm())
	}
	b, err := Open(context.Background(), Options{Dir: dir, Prefix: "p:"})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	fi2, _ := os.Stat(filepath.Join(dir, MarkerName))
	if !fi2.ModTime().Equal(fi.ModTime()) {
		t.Errorf("a current marker was rewritten on the second open")
	}
}

func TestMarkerAddedToFormat1Store(t *testing.T) {
	dir := storeDir(t, "p:")
	os.Remove(filepath.Join(dir, MarkerName)) // as the previous release left it
	var logs bytes.Buffer
	b, err := Open(context.Background(), Options{Dir: dir, Prefix: "p:", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if v, err := b.Get(context.Background(), "user:a"); err != nil || len(v) != 500 {
		t.Fatalf("Get after upgrade = %d bytes, %v", len(v), err)
	}
	if m := readMarker(t, dir); m.Format != StoreFormat || m.Prefix != "p:" {
		t.Fatalf("marker = %+v", m)
	}
	if !strings.Contains(logs.String(), "store format 1") {
		t.Errorf("no log line about the format 1 store:\n%s", logs.String())
	}
}

func TestPrefixChangeWarns(t *testing.T) {
	dir := storeDir(t, "old:")
	var logs bytes.Buffer
	b, err := Open(context.Background(), Options{Dir: dir, Prefix: "new:", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	for _, want := range []string{"SESSION_KEY_PREFIX changed", "old_prefix=old:", "new_prefix=new:"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	if m := readMarker(t, dir); m.Prefix != "old:" {
		t.Errorf("marker prefix = %q, want the data's prefix old:", m.Prefix)
	}
}

func TestOpenRefusesDataDir(t *testing.T) {
	sst := func(dir string) string {
		m, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
		if len(m) == 0 {
			t.Fatal("no table in the store")
		}
		return m[0]
	}
	cases := []struct {
		name   string
		store  bool // start from a store (else an empty dir)
		damage func(dir string)
		want   string
	}{
		{"manifest truncated", true, func(d string) { os.Truncate(filepath.Join(d, "MANIFEST"), 10) }, "MANIFEST is truncated or garbled"},
		{"manifest garbled", true, func(d string) { garble(t, filepath.Join(d, "MANIFEST"), 0) }, "MANIFEST (200 bytes) cannot be read: manifest has bad magic"},
		{"manifest missing", true, func(d string) { os.Remove(filepath.Join(d, "MANIFEST")) }, "MANIFEST is missing"},
		{"table truncated", true, func(d string) { os.Truncate(sst(d), 100) }, "is truncated or garbled"},
		{"table garbled", true, func(d string) { garble(t, sst(d), -300) }, "checksum mismatch"},
		{"value log garbled", true, func(d string) {
			m, _ := filepath.Glob(filepath.Join(d, "*.vlog"))
			garble(t, m[0], 0)
		}, "has a garbled header"},
		{"store files gone", true, func(d string) {
			for _, n := range []string{"MANIFEST", "KEYREGISTRY", "DISCARD"} {
				os.Remove(filepath.Join(d, n))
			}
			os.Remove(sst(d))
			m, _ := filepath.Glob(filepath.Join(d, "*.vlog"))
			for _, f := range m {
				os.Remove(f)
			}
		}, "its files (MANIFEST, *.sst) are gone"},
		{"another app", false, func(d string) { os.WriteFile(filepath.Join(d, "app.db"), []byte("x"), 0o600) }, "holds files of another app (app.db)"},
		{"marker of another app", false, func(d string) {
			os.WriteFile(filepath.Join(d, MarkerName), []byte(`{"app":"other","prefix":"x","format":1}`), 0o600)
		}, `belongs to "other"`},
		{"marker garbled", true, func(d string) {
			os.WriteFile(filepath.Join(d, MarkerName), []byte(`{"app":`), 0o600)
		}, "the marker file soulbridge.json is damaged"},
		{"newer format", true, func(d string) {
			os.WriteFile(filepath.Join(d, MarkerName), []byte(`{"app":"soulbridge","prefix":"p:","format":3}`), 0o600)
		}, "format 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.store {
				dir = storeDir(t, "p:")
			}
			tc.damage(dir)
			before := snapshot(t, dir)
			_, err := Open(context.Background(), Options{Dir: dir, Prefix: "p:", LockTimeout: time.Second})
			if !errors.Is(err, ErrDataDir) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("Open: %v\nwant ErrDataDir naming %s and %q", err, dir, tc.want)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("the data dir changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestOpenAcceptsEmptyAndLostFound(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "lost+found"), 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := Open(context.Background(), Options{Dir: dir, Prefix: "p:"})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
}

func garble(t *testing.T, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if at < 0 {
		fi, _ := f.Stat()
		at += fi.Size()
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, 200), at); err != nil {
		t.Fatal(err)
	}
}

// snapshot is dir's file names, sizes and modification times.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(e.Name() + " " + fi.ModTime().Format(time.RFC3339Nano) + fmt.Sprintf(" %d;", fi.Size()))
	}
	return b.String()
}

func TestPrefixChangeOverNothing(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := Open(ctx, Options{Dir: dir, Prefix: "a:"})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	var logs bytes.Buffer
	b, err = Open(ctx, Options{Dir: dir, Prefix: "b:", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("warned though nothing was stored under the old prefix:\n%s", logs.String())
	}
	if m := readMarker(t, dir); m.Prefix != "b:" {
		t.Errorf("marker prefix = %q, want b:", m.Prefix)
	}
}

// TestGarbledBlockIsAReadError: start-up checks tables by their footer and
// index (Badger itself also reads each table's first and last block); a
// damaged block in between no longer stops the start (it did while
// start-up verified every block): it is found when it is read, as an error
// (a checksum mismatch, or a block that does not decompress), never
// returned as data.
func TestGarbledBlockIsAReadError(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := Open(ctx, Options{Dir: dir, Prefix: "p:"})
	if err != nil {
		t.Fatal(err)
	}
	val := func(i int) []byte { // incompressible: many blocks
		h := sha256.Sum256([]byte(fmt.Sprint(i)))
		return bytes.Repeat(h[:], 16)
	}
	const n = 300
	for i := range n {
		if err := b.Set(ctx, fmt.Sprintf("k:%04d", i), val(i), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(m) != 1 {
		t.Fatalf("want one table, have %v", m)
	}
	f, err := os.OpenFile(m[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, 16), fi.Size()/3); err != nil { // a block in the middle
		t.Fatal(err)
	}
	f.Close()

	b, err = Open(ctx, Options{Dir: dir, Prefix: "p:", LockTimeout: time.Second})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Close()
	failed := 0
	for i := range n {
		v, err := b.Get(ctx, fmt.Sprintf("k:%04d", i))
		switch {
		case err != nil:
			failed++
		case !bytes.Equal(v, val(i)):
			t.Fatalf("Get(k:%04d) returned damaged data", i)
		}
	}
	if failed == 0 {
		t.Fatal("no read reported the damaged block")
	}
	t.Logf("%d of %d reads failed, none returned damaged data", failed, n)
}
