package e2e

// Start-up hardening of the data dir (issue 10 rows 6, 7 and 10): modes
// 0700/0600 whatever existed before, no serving as root when the drop is
// impossible, and a hand-over that never follows a link out of the data dir.

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// TestDataDirModes (row 6): an existing data dir of mode 0755 holding a 0644
// file and a 0755 subdirectory comes out of start-up as 0700 with every file
// 0600 and every directory 0700, and the store's own files (the memtable and
// value log that hold password hashes) are created 0600. Started as root
// (the Railway case) and as the service uid itself (docker --user).
func TestDataDirModes(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name string
		attr *syscall.SysProcAttr
	}{
		{"as root", nil},
		{"as the service uid", &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: testbin.ServiceUID, Gid: testbin.ServiceUID}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := testbin.Root(t)
			data := filepath.Join(root, "data")
			if err := os.Mkdir(data, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(data, "soulbridge-old"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(data, "soulbridge-old", "notes"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(data, "soulbridge-left-behind"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{data, filepath.Join(data, "soulbridge-old"), filepath.Join(data, "soulbridge-old", "notes"), filepath.Join(data, "soulbridge-left-behind")} {
				if err := os.Chmod(p, map[bool]os.FileMode{true: 0o755, false: 0o644}[strings.HasSuffix(p, "data") || strings.HasSuffix(p, "old")]); err != nil {
					t.Fatal(err) // the test's own umask must not decide the starting modes
				}
				if tc.attr != nil {
					if err := os.Chown(p, testbin.ServiceUID, testbin.ServiceUID); err != nil {
						t.Fatal(err)
					}
				}
			}
			p := serve(t, "modes", root, keyedEnv(t, data), tc.attr)
			p.WaitHealthy(20 * time.Second)
			testbin.Signup(t, testbin.Client(t), p.Base(), "modes", "staple battery horse")

			files := eachDataFile(t, data, func(path string, fi fs.FileInfo) {
				want := os.FileMode(0o600)
				if fi.IsDir() {
					want = 0o700
				}
				if got := fi.Mode().Perm(); got != want {
					t.Errorf("%s has mode %#o, want %#o", path, got, want)
				}
			})
			if files < 5 {
				t.Errorf("walked only %d entries; the store's files are missing", files)
			}
			p.StopWithin(15 * time.Second)
		})
	}
}

// closedDataDir makes root/closed (0700: uid 65532 cannot traverse it)
// and returns it and the data dir inside it, as in a checkout under /root.
func closedDataDir(t *testing.T, root string) (closed, data string) {
	t.Helper()
	closed = filepath.Join(root, "closed")
	if err := os.Mkdir(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	return closed, filepath.Join(closed, "data")
}

// TestRootRefusesUnreachableDataDir (issue 10 row 7, issue 18 row 3):
// started as root in production or in the image on a data dir the service
// uid could not reach (an ancestor closed to others), the binary does not
// serve as root: it exits non-zero before binding, naming the blocking
// directory and the fix.
func TestRootRefusesUnreachableDataDir(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name string
		env  testbin.Env
	}{
		{"production", testbin.Env{"APP_ENV": "production"}},
		{"image", testbin.Env{"SOULBRIDGE_IMAGE": "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := testbin.Root(t)
			closed, data := closedDataDir(t, root)
			p := serve(t, "unreachable-"+tc.name, root, keyedEnv(t, data).With(tc.env), nil)
			code := p.WaitExit(10 * time.Second)
			out := p.Output()
			if code == 0 {
				t.Fatalf("exit status 0 with an unreachable data dir; output:\n%s", out)
			}
			for _, want := range []string{"refusing to run as root", closed, "DATA_DIR", "/data"} {
				if !strings.Contains(out, want) {
					t.Errorf("the error does not mention %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "listening") {
				t.Errorf("the binary bound the port:\n%s", out)
			}
		})
	}
}

// TestRootServesLocallyWithWarning (issue 18 row 3): a person's local run
// as root (neither production nor the image) in a checkout uid 65532
// cannot reach serves, as root, with exactly one warning that says why and
// how to avoid it, and hands the data dir to no one: it stays root's.
func TestRootServesLocallyWithWarning(t *testing.T) {
	requireRoot(t)
	root := testbin.Root(t)
	closed, data := closedDataDir(t, root)
	p := serve(t, "unreachable-local", root, keyedEnv(t, data), nil)
	p.WaitHealthy(20 * time.Second)
	testbin.Signup(t, testbin.Client(t), p.Base(), "rootuser", "staple battery horse")
	p.StopWithin(15 * time.Second)
	out := p.Output()
	var warnings []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "level=WARN") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 1 {
		t.Fatalf("%d warnings, want exactly one (serving as root):\n%s", len(warnings), out)
	}
	for _, want := range []string{"serving as root", closed, "ordinary user", "DATA_DIR", "chmod o+x"} {
		if !strings.Contains(warnings[0], want) {
			t.Errorf("the warning does not mention %q: %s", want, warnings[0])
		}
	}
	if strings.Contains(out, "dropped root privileges") {
		t.Errorf("dropped privileges on a data dir uid %d cannot reach:\n%s", testbin.ServiceUID, out)
	}
	eachDataFile(t, data, func(path string, fi fs.FileInfo) {
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 {
			t.Errorf("%s is owned by uid %d, want root's (nothing handed over)", path, st.Uid)
		}
	})
}

// TestHandOverDoesNotFollowLinks (row 10): a symbolic link in the data dir
// pointing at a root-owned file outside it (planted by whoever ran as the
// service uid before) does not make the root start-up hand that file to the
// service uid nor change its mode.
func TestHandOverDoesNotFollowLinks(t *testing.T) {
	requireRoot(t)
	root := testbin.Root(t)
	data := filepath.Join(root, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(root, "root-secret")
	if err := os.WriteFile(secret, []byte("root only"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(secret, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(data, "soulbridge-link")); err != nil {
		t.Fatal(err)
	}
	p := serve(t, "links", root, keyedEnv(t, data), nil)
	p.WaitHealthy(20 * time.Second)
	p.StopWithin(15 * time.Second)

	fi, err := os.Stat(secret)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 0 || st.Gid != 0 {
		t.Errorf("the link's target was handed to %d:%d, want it left to root", st.Uid, st.Gid)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("the link's target has mode %#o, want 0640 untouched", fi.Mode().Perm())
	}
	li, err := os.Lstat(filepath.Join(data, "soulbridge-link"))
	if err != nil {
		t.Fatal(err)
	}
	if lst := li.Sys().(*syscall.Stat_t); lst.Uid != testbin.ServiceUID {
		t.Errorf("the link itself is owned by %d, want the service uid", lst.Uid)
	}
}
