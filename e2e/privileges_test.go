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

// TestPrivilegeDrop: started as root on a root-owned data dir holding
// root-owned content (as Railway mounts a volume), the serving process runs
// as testbin.ServiceUID (real, effective, saved and filesystem uid and gid,
// and no supplementary group but its own) and everything in the data dir
// belongs to it: what root left there, the generated key file and the
// store's files. A data dir whose parents do not exist yet works too.
func TestPrivilegeDrop(t *testing.T) {
	requireRoot(t)
	root := testbin.Root(t)
	data := filepath.Join(root, "data")
	// A root-owned volume with root-owned content, as Railway mounts it: a
	// directory and a file, both to be handed over. (Names starting with
	// "soulbridge" are the app's own; a file of any other name, with no
	// store beside it, would be another app's and refused: datadir_test.go.)
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(data, "lost+found"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "soulbridge-left-by-root"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// No SECRET_KEY: the key file is generated after the drop, and must be
	// the service uid's too.
	p := serve(t, "privdrop", root, testbin.ServerEnv(t, data, testbin.Env{"LOG_FORMAT": "text"}), nil)
	p.WaitHealthy(20 * time.Second)

	want := strconv.Itoa(testbin.ServiceUID)
	uids, gids, groups := procIDs(t, p.PID())
	if len(uids) != 4 || slices.ContainsFunc(uids, func(s string) bool { return s != want }) {
		t.Errorf("/proc/%d/status Uid: %v, want %s for real, effective, saved and filesystem", p.PID(), uids, want)
	}
	if len(gids) != 4 || slices.ContainsFunc(gids, func(s string) bool { return s != want }) {
		t.Errorf("/proc/%d/status Gid: %v, want %s for all four", p.PID(), gids, want)
	}
	if len(groups) != 1 || groups[0] != want {
		t.Errorf("/proc/%d/status Groups: %v, want [%s] (root's groups must be dropped)", p.PID(), groups, want)
	}

	// A write, so the store has files of its own.
	c := testbin.Client(t)
	testbin.Signup(t, c, p.Base(), "frank", "staple battery horse")
	for _, name := range []string{keyFile, "MANIFEST", "lost+found", "soulbridge-left-by-root"} {
		if _, err := os.Stat(filepath.Join(data, name)); err != nil {
			t.Errorf("data dir: %v", err)
		}
	}
	files := eachDataFile(t, data, func(path string, fi fs.FileInfo) {
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != testbin.ServiceUID || st.Gid != testbin.ServiceUID {
			t.Errorf("%s is owned by %d:%d, want %d:%d", path, st.Uid, st.Gid, testbin.ServiceUID, testbin.ServiceUID)
		}
	})
	if files < 3 {
		t.Errorf("walked only %d entries in the data dir; the store's files are missing", files)
	}
	t.Logf("%d entries in the data dir checked", files)
	p.StopWithin(15 * time.Second)

	// A data dir whose parents do not exist yet: root creates them, and they
	// must stay traversable by the service uid after the drop.
	nested := filepath.Join(root, "missing", "parents", "data")
	p = testbin.Start(t, "privdrop-nested", testbin.ServerEnv(t, nested, nil))
	if !strings.Contains(p.Output(), "dropped root privileges") {
		t.Errorf("nested data dir: privileges not dropped:\n%s", p.Output())
	}
	testbin.Signup(t, c, p.Base(), "grace", "staple battery horse")
	p.Stop()
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
