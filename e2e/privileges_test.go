package e2e

// Privileges: started as root, the binary hands its data dir to
// testbin.ServiceUID and drops to it; started as another uid on a data dir it
// cannot write, it refuses to start. Both need root (requireRoot).

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// TestPrivilegeDrop: started as root, the server runs as 65532:65532 and
// owns everything in its data dir, including what root left there.
func TestPrivilegeDrop(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the privilege drop only happens when started as uid 0")
	}
	root := testbin.Root(t)
	data := filepath.Join(root, "data")
	// A root-owned volume with root-owned content, as Railway mounts it.
	if err := os.MkdirAll(filepath.Join(data, "lost+found"), 0o700); err != nil {
		t.Fatal(err)
	}
	p := testbin.Start(t, "privdrop", testbin.ServerEnv(t, data, nil))

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID()))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string][]string{}
	for line := range strings.SplitSeq(string(status), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if ok {
			fields[name] = strings.Fields(rest)
		}
	}
	for _, name := range []string{"Uid", "Gid"} {
		if len(fields[name]) != 4 {
			t.Fatalf("/proc status %s line: %q", name, fields[name])
		}
		for _, id := range fields[name] {
			if id != "65532" {
				t.Errorf("%s = %v, want 65532 (real, effective, saved, fs)", name, fields[name])
				break
			}
		}
	}
	if g := fields["Groups"]; len(g) != 1 || g[0] != "65532" {
		t.Errorf("Groups = %v, want [65532]", g)
	}

	// A write, so the store has files of its own.
	c := testbin.Client(t)
	testbin.Signup(t, c, p.Base(), "frank", "frank-password")
	for _, want := range []string{keyFile, "MANIFEST", "lost+found"} {
		if _, err := os.Stat(filepath.Join(data, want)); err != nil {
			t.Errorf("data dir: %v", err)
		}
	}
	n := 0
	err = filepath.Walk(data, func(path string, fi os.FileInfo, err error) error {
		if os.IsNotExist(err) {
			return nil // removed by the running store meanwhile
		}
		if err != nil {
			return err
		}
		n++
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 65532 || st.Gid != 65532 {
			t.Errorf("%s owned by %d:%d, want 65532:65532", path, st.Uid, st.Gid)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries in the data dir checked", n)
	p.Stop()

	// A data dir whose parents do not exist yet: root creates them, and they
	// must stay traversable by 65532 after the drop.
	nested := filepath.Join(root, "missing", "parents", "data")
	p = testbin.Start(t, "privdrop-nested", testbin.ServerEnv(t, nested, nil))
	if !strings.Contains(p.Output(), "dropped root privileges") {
		t.Errorf("nested data dir: privileges not dropped:\n%s", p.Output())
	}
	testbin.Signup(t, c, p.Base(), "grace", "grace-password")
	p.Stop()
}

// TestPrivilegeDropAsRoot: started as root on a root-owned data dir (as on
// Railway), the serving process runs as 65532 (real, effective, saved and
// filesystem ids, and no other groups) and everything in the data dir
// belongs to 65532.
func TestPrivilegeDropAsRoot(t *testing.T) {
	requireRoot(t)
	root := testbin.Root(t)
	dataDir := filepath.Join(root, "data")
	if err := os.Mkdir(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A root-owned file already in the volume must be handed over too.
	if err := os.WriteFile(filepath.Join(dataDir, "left-by-root"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := serve(t, "root-start", root, keyedEnv(t, dataDir), nil)
	p.WaitHealthy(20 * time.Second)

	want := strconv.Itoa(testbin.ServiceUID)
	uids, gids, groups := procIDs(t, p.PID())
	if len(uids) != 4 || slices.ContainsFunc(uids, func(s string) bool { return s != want }) {
		t.Errorf("/proc/%d/status Uid: %v, want %s for real, effective, saved and filesystem", p.PID(), uids, want)
	}
	if len(gids) != 4 || slices.ContainsFunc(gids, func(s string) bool { return s != want }) {
		t.Errorf("/proc/%d/status Gid: %v, want %s for all four", p.PID(), gids, want)
	}
	if slices.ContainsFunc(groups, func(s string) bool { return s != want }) {
		t.Errorf("/proc/%d/status Groups: %v, want none but %s (root's groups must be dropped)", p.PID(), groups, want)
	}

	testbin.Signup(t, oneShotClient(5*time.Second), p.Base(), "rootless", "rootless-password")

	var files int
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != testbin.ServiceUID || st.Gid != testbin.ServiceUID {
			t.Errorf("%s is owned by %d:%d, want %d:%d", path, st.Uid, st.Gid, testbin.ServiceUID, testbin.ServiceUID)
		}
		files++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Errorf("walked only %d entries in the data dir; the store's files are missing", files)
	}

	p.Signal(syscall.SIGTERM)
	if code := p.WaitExit(15 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
}

// procIDs reads the Uid:, Gid: and Groups: lines of /proc/PID/status.
func procIDs(t *testing.T, pid int) (uids, gids, groups []string) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch k {
		case "Uid":
			uids = strings.Fields(v)
		case "Gid":
			gids = strings.Fields(v)
		case "Groups":
			groups = strings.Fields(v)
		}
	}
	return uids, gids, groups
}

// TestUnwritableDataDir: started as an unprivileged uid (as with
// RAILWAY_RUN_UID or docker run --user) on a root-owned data dir, the binary
// exits non-zero at once, without binding, and says how to fix it.
func TestUnwritableDataDir(t *testing.T) {
	requireRoot(t)
	root := testbin.Root(t)
	dataDir := filepath.Join(root, "data")
	if err := os.Mkdir(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	const other = testbin.ServiceUID + 1 // neither root nor the service uid
	attr := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: other, Gid: other}}
	p := serve(t, fmt.Sprintf("uid-%d", other), root, keyedEnv(t, dataDir), attr)
	code := p.WaitExit(10 * time.Second)
	out := p.Output()
	if code == 0 {
		t.Fatalf("exit status 0 on an unwritable data dir; output:\n%s", out)
	}
	for _, want := range []string{dataDir, "DATA_DIR"} {
		if !strings.Contains(out, want) {
			t.Errorf("the error does not mention %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "chown") && !strings.Contains(out, "RAILWAY_RUN_UID") {
		t.Errorf("the error names no fix (chown or RAILWAY_RUN_UID):\n%s", out)
	}
	if strings.Contains(out, "listening") {
		t.Errorf("the binary bound the port before failing:\n%s", out)
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) > 0 {
		t.Errorf("the unwritable data dir got %d entries", len(entries))
	}
}
