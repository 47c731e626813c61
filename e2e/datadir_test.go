package e2e

// The data dir at start-up: a dir the binary cannot write (a read-only
// mount; a dir the service uid does not own), damaged store files, another
// app's files, a marker naming another app or a newer format. Each ends
// start-up with a non-zero exit and an error naming the path, what was found
// and what to do, with no stack trace, before the port is bound, and leaves
// every file in the data dir as it was (names, sizes, modification times).
// An empty dir, or one holding only lost+found, is fine, and gets the marker.

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// markerFile is the data dir marker (kv.MarkerName).
const markerFile = "soulbridge.json"

// makeStore starts the binary on dir, signs a user up and stops it, so dir
// holds a closed store (MANIFEST, a table, the marker) owned by the service
// uid.
func makeStore(t *testing.T, dir string) {
	t.Helper()
	p := testbin.Start(t, "make-store", keyedEnv(t, dir))
	testbin.Signup(t, testbin.Client(t), p.Base(), "keeper", "staple battery horse")
	p.Stop()
}

// dirSnapshot is every entry under dir (not dir itself) with its size and
// modification time.
func dirSnapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == dir {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d %s\n", strings.TrimPrefix(path, dir), fi.Size(), fi.ModTime().Format(time.RFC3339Nano))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// refused starts the server on dataDir (as attr's user; nil: root) and
// requires it to exit non-zero without serving, with an error naming
// dataDir and every string in want, no stack trace, and the data dir
// unchanged.
func refused(t *testing.T, name, dataDir string, env testbin.Env, attr *syscall.SysProcAttr, want ...string) {
	t.Helper()
	before := dirSnapshot(t, dataDir)
	p := serve(t, name, filepath.Dir(dataDir), env, attr)
	code := p.WaitExit(20 * time.Second)
	out := p.Output()
	if code == 0 {
		t.Fatalf("%s: exit status 0; output:\n%s", name, out)
	}
	for _, w := range append([]string{dataDir}, want...) {
		if !strings.Contains(out, w) {
			t.Errorf("%s: the error does not say %q:\n%s", name, w, out)
		}
	}
	for _, bad := range []string{"goroutine ", "panic:", "listening"} {
		if strings.Contains(out, bad) {
			t.Errorf("%s: output contains %q:\n%s", name, bad, out)
		}
	}
	if after := dirSnapshot(t, dataDir); after != before {
		t.Errorf("%s: the data dir changed:\nbefore:\n%safter:\n%s", name, before, after)
	}
	t.Logf("%s: exit %d: %s", name, code, lastLine(out))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// copyStore copies the store in src to a new dir next to it, keeping
// owners, modes and times.
func copyStore(t *testing.T, src, name string) string {
	t.Helper()
	dst := filepath.Join(filepath.Dir(src), name)
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a %s %s: %v %s", src, dst, err, out)
	}
	return dst
}

// storeFile returns the first file in dir matching pattern.
func storeFile(t *testing.T, dir, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(m) == 0 {
		t.Fatalf("no %s in %s", pattern, dir)
	}
	return m[0]
}

// overwrite writes 200 bytes of 0xA5 at offset at (< 0: from the end).
func overwrite(t *testing.T, path string, at int64) {
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
	if _, err := f.WriteAt([]byte(strings.Repeat("\xa5", 200)), at); err != nil {
		t.Fatal(err)
	}
}

func TestDataDirDamagedStore(t *testing.T) {
	requireRoot(t)
	root := testbin.Root(t)
	good := filepath.Join(root, "good")
	makeStore(t, good)
	cases := []struct {
		name   string
		damage func(dir string)
		want   []string
	}{
		{"manifest-truncated", func(d string) {
			if err := os.Truncate(filepath.Join(d, "MANIFEST"), 12); err != nil {
				t.Fatal(err)
			}
		}, []string{"MANIFEST is truncated or garbled"}},
		{"manifest-garbled", func(d string) { overwrite(t, filepath.Join(d, "MANIFEST"), 0) },
			[]string{"MANIFEST", "cannot be read"}},
		{"manifest-missing", func(d string) { os.Remove(filepath.Join(d, "MANIFEST")) },
			[]string{"MANIFEST is missing"}},
		{"table-truncated", func(d string) {
			if err := os.Truncate(storeFile(t, d, "*.sst"), 100); err != nil {
				t.Fatal(err)
			}
		}, []string{".sst (100 bytes) is truncated or garbled"}},
		{"table-garbled", func(d string) { overwrite(t, storeFile(t, d, "*.sst"), -300) },
			[]string{".sst", "checksum mismatch"}},
		{"vlog-garbled", func(d string) { overwrite(t, storeFile(t, d, "*.vlog"), 0) },
			[]string{"the value log 000001.vlog has a garbled header"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyStore(t, good, tc.name)
			tc.damage(dir)
			refused(t, tc.name, dir, keyedEnv(t, dir), nil,
				append(tc.want, "damaged or incomplete", "restore the data dir from a backup")...)
		})
	}
	// The undamaged original still starts, and keeps its user.
	p := testbin.Start(t, "good", keyedEnv(t, good))
	testbin.Form(t, testbin.Client(t), p.Base(), "/login", "keeper", "staple battery horse")
	p.Stop()
}

func TestDataDirOfAnotherApp(t *testing.T) {
	requireRoot(t)
	root := testbin.Root(t)
	mk := func(name string, files map[string]string) string {
		dir := filepath.Join(root, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f, content := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	foreign := mk("foreign", map[string]string{"app.sqlite": "SQLite format 3", "index.html": "<h1>hi</h1>"})
	refused(t, "foreign", foreign, keyedEnv(t, foreign), nil,
		"holds files of another app (app.sqlite, index.html)", "point DATA_DIR at an empty directory")
	// Not handed to the service uid either.
	if fi, _ := os.Stat(filepath.Join(foreign, "app.sqlite")); fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("another app's file was chowned")
	}

	other := mk("other-marker", map[string]string{markerFile: `{"app":"ghost","prefix":"g:","format":1}`})
	refused(t, "other-marker", other, keyedEnv(t, other), nil, `belongs to "ghost"`, "point DATA_DIR")

	good := filepath.Join(root, "good")
	makeStore(t, good)
	newer := copyStore(t, good, "newer")
	if err := os.WriteFile(filepath.Join(newer, markerFile), []byte(`{"app":"soulbridge","prefix":"soulbridge:","format":3}`), 0o600); err != nil {
		t.Fatal(err)
	}
	refused(t, "newer-format", newer, keyedEnv(t, newer), nil,
		"format 3", "this build reads formats 1 to 2", "deploy that newer release")

	// A fresh volume: only lost+found. It starts, and gets the marker.
	fresh := filepath.Join(root, "fresh")
	if err := os.MkdirAll(filepath.Join(fresh, "lost+found"), 0o700); err != nil {
		t.Fatal(err)
	}
	p := testbin.Start(t, "fresh-volume", keyedEnv(t, fresh))
	p.Stop()
	m := readMarkerFile(t, fresh)
	if m.App != "soulbridge" || m.Format != 2 || m.Prefix != "soulbridge:" {
		t.Errorf("marker = %+v", m)
	}
}

type markerDoc struct {
	App    string `json:"app"`
	Prefix string `json:"prefix"`
	Format int    `json:"format"`
}

func readMarkerFile(t *testing.T, dir string) markerDoc {
	t.Helper()
	path := filepath.Join(dir, markerFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", path, fi.Mode().Perm())
	}
	var m markerDoc
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v in %q", path, err, b)
	}
	return m
}

// TestDataDirNotWritable: a store on a read-only mount (root cannot write
// it either), and a store the service uid does not own, started as that
// uid.
func TestDataDirNotWritable(t *testing.T) {
	requireRoot(t)
	root := testbin.Root(t)

	t.Run("read-only-mount", func(t *testing.T) {
		dir := filepath.Join(root, "ro")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", dir).CombinedOutput(); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("mount tmpfs (CI is set, so this fails): %v %s", err, out)
			}
			t.Skipf("cannot mount a tmpfs here (%v %s); the read-only mount case needs CAP_SYS_ADMIN", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", dir).Run() })
		makeStore(t, dir)
		if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
			t.Fatalf("remount ro: %v %s", err, out)
		}
		refused(t, "read-only-mount", dir, keyedEnv(t, dir), nil, "read-only file system", "mount it read-write")
	})

	t.Run("not-owned-by-service-uid", func(t *testing.T) {
		dir := filepath.Join(root, "rootowned")
		makeStore(t, dir)
		// Back to root, as a volume root once wrote: readable, not writable
		// by the service uid.
		if out, err := exec.Command("chown", "-R", "0:0", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		attr := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: testbin.ServiceUID, Gid: testbin.ServiceUID}}
		refused(t, "service-uid", dir, keyedEnv(t, dir), attr,
			fmt.Sprintf("is not writable by uid %d", testbin.ServiceUID), fmt.Sprintf("chown -R %d", testbin.ServiceUID))
	})
}

// TestDataDirPrefixChanged: a changed SESSION_KEY_PREFIX over existing data
// starts, but says in the log that the old prefix's data is invisible.
func TestDataDirPrefixChanged(t *testing.T) {
	testbin.SkipShort(t)
	dir := filepath.Join(testbin.Root(t), "data")
	makeStore(t, dir)
	p := testbin.Start(t, "new-prefix", keyedEnv(t, dir).With(testbin.Env{"SESSION_KEY_PREFIX": "renamed:"}))
	p.Stop()
	for _, want := range []string{"SESSION_KEY_PREFIX changed over existing data", "old_prefix=soulbridge:", "new_prefix=renamed:"} {
		if !strings.Contains(p.Output(), want) {
			t.Errorf("the log does not say %q:\n%s", want, p.Output())
		}
	}
}
