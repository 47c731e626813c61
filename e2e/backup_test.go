package e2e

// Backup and restore: `soulbridge backup` taken from a running server (and,
// with the mirror, holding what other instances wrote to Redis), restored
// with `soulbridge restore` into a fresh data dir, serves the same users,
// cookies and avatars; a logged-out session stays out; a non-empty data
// dir is refused without --force, changing nothing.

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testredis"
	"soulbridge/kv"
)

const backupPassword = "correct horse battery"

func TestBackupRestoreKeepsUsersSessionsAvatars(t *testing.T) {
	testbin.SkipShort(t)
	root := testbin.Root(t)
	env := keyedEnv(t, filepath.Join(root, "old"))
	c := testbin.Client(t)
	old := testbin.Start(t, "old", env)

	cookies := map[string]string{}
	for _, u := range []string{"alice", "bob", "carol"} {
		cookies[u] = testbin.Signup(t, c, old.Base(), u, backupPassword)
	}
	putAvatar(t, c, old, cookies["alice"], "owl")
	putAvatar(t, c, old, cookies["bob"], "fox")
	// A second session of alice's, logged out before the backup.
	gone := testbin.Form(t, c, old.Base(), "/login", "alice", backupPassword)
	if r := testbin.Must(t, c, http.MethodPost, old.Base()+"/logout", gone, "application/x-www-form-urlencoded", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.Status)
	}

	// The backup, taken while the server serves (it holds the data dir).
	file := filepath.Join(root, "soulbridge.backup")
	code, _, stderr := testbin.Run(t, 20*time.Second, env, "backup", file)
	if code != 0 || !strings.Contains(stderr, "from the running server") {
		t.Fatalf("backup while serving: exit %d, stderr:\n%s", code, stderr)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v, want mode 0600", fi, err)
	}
	// The socket the command asked through: 0600, and (started as root)
	// the service user's after the privilege drop.
	sock := filepath.Join(env["DATA_DIR"], "soulbridge-admin.sock")
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket: %v %v, want a 0600 socket", fi, err)
	}
	if st := fi.Sys().(*syscall.Stat_t); os.Geteuid() == 0 && st.Uid != testbin.ServiceUID {
		t.Fatalf("admin socket owned by uid %d, want %d", st.Uid, testbin.ServiceUID)
	}
	raw, _ := os.ReadFile(file)
	if strings.Contains(string(raw), backupPassword) {
		t.Fatal("the backup holds a plain password")
	}
	// After the backup: not in it.
	putAvatar(t, c, old, cookies["carol"], "frog")
	if r := testbin.Must(t, c, http.MethodGet, old.Base()+"/healthz", "", "", nil); r.Status != http.StatusOK {
		t.Fatalf("server after backup: %d", r.Status)
	}
	// A restore into the running server, which holds records, is refused;
	// with --force it must be stopped first.
	if code, _, stderr := testbin.Run(t, 20*time.Second, env, "restore", file); code == 0 || !strings.Contains(stderr, "not empty") {
		t.Fatalf("restore into a running server with records: exit %d, stderr:\n%s", code, stderr)
	}
	if code, _, stderr := testbin.Run(t, 20*time.Second, env, "restore", "--force", file); code == 0 || !strings.Contains(stderr, "stop it first") {
		t.Fatalf("restore --force into a running server's dir: exit %d, stderr:\n%s", code, stderr)
	}
	if a, _ := testbin.GetAvatar(t, c, old.Base(), cookies["carol"]); a.Avatar != "frog" {
		t.Fatalf("a refused restore changed the running server: %+v", a)
	}
	old.Stop()

	newEnv := env.With(testbin.Env{"DATA_DIR": filepath.Join(root, "new")})
	if code, _, stderr := testbin.Run(t, 30*time.Second, newEnv, "restore", file); code != 0 {
		t.Fatalf("restore into a fresh dir: exit %d, stderr:\n%s", code, stderr)
	}
	srv := testbin.Start(t, "restored", newEnv)
	wantRestored := func(when, carol string) {
		t.Helper()
		for u, want := range map[string]string{"alice": "owl", "bob": "fox", "carol": carol} {
			if a, _ := testbin.GetAvatar(t, c, srv.Base(), cookies[u]); a.Username != u || a.Avatar != want {
				t.Fatalf("%s: %s's old cookie gives %+v, want avatar %q", when, u, a, want)
			}
		}
		if r := testbin.Must(t, c, http.MethodGet, srv.Base()+"/community/avatar", gone, "", nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("%s: the logged-out session answers %d, want 401", when, r.Status)
		}
	}
	wantRestored("after restore", "default")
	testbin.Form(t, c, srv.Base(), "/login", "bob", backupPassword)

	// A change on the restored server, then a restore without --force:
	// refused, nothing changed.
	putAvatar(t, c, srv, cookies["carol"], "whale")
	srv.Stop()
	code, _, stderr = testbin.Run(t, 30*time.Second, newEnv, "restore", file)
	if code == 0 || !strings.Contains(stderr, "not empty") || !strings.Contains(stderr, "--force") {
		t.Fatalf("restore into a non-empty dir: exit %d, stderr:\n%s", code, stderr)
	}
	srv = testbin.Start(t, "after refusal", newEnv)
	wantRestored("after the refused restore", "whale")
	srv.Stop()

	// With --force the store is the backup's again.
	if code, _, stderr := testbin.Run(t, 30*time.Second, newEnv, "restore", "--force", file); code != 0 {
		t.Fatalf("restore --force: exit %d, stderr:\n%s", code, stderr)
	}
	srv = testbin.Start(t, "after --force", newEnv)
	wantRestored("after restore --force", "default")
}

// TestBackupStoppedAndRestoreLive: with no server the command opens the
// store itself; a foreign or cut-off file is refused; a server running on
// a fresh (empty) data dir takes a restore through its socket and serves
// the records at once (Railway's new volume).
func TestBackupStoppedAndRestoreLive(t *testing.T) {
	testbin.SkipShort(t)
	root := testbin.Root(t)
	env := keyedEnv(t, filepath.Join(root, "data"))
	c := testbin.Client(t)
	srv := testbin.Start(t, "server", env)
	cookie := testbin.Signup(t, c, srv.Base(), "dora", backupPassword)
	putAvatar(t, c, srv, cookie, "koala")
	srv.Stop()

	// No server: the command opens the store itself, to stdout.
	code, stdout, stderr := testbin.Run(t, 20*time.Second, env, "backup")
	if code != 0 || !strings.Contains(stderr, "store opened directly") || !strings.HasPrefix(stdout, `{"app":"soulbridge"`) {
		t.Fatalf("backup of a stopped server: exit %d, stderr:\n%s", code, stderr)
	}
	// To a file in a directory only root may write (the test runs as
	// root in CI): written there, and the data dir stays the service user's.
	code, _, stderr = testbin.Run(t, 20*time.Second, env, "backup", filepath.Join(root, "stopped.backup"))
	if code != 0 {
		t.Fatalf("backup of a stopped server to a file: exit %d, stderr:\n%s", code, stderr)
	}
	if os.Geteuid() == 0 {
		filepath.WalkDir(env["DATA_DIR"], func(path string, d fs.DirEntry, err error) error {
			if fi, err := os.Lstat(path); err == nil && fi.Sys().(*syscall.Stat_t).Uid != testbin.ServiceUID {
				t.Errorf("after a backup as root, %s is owned by uid %d", path, fi.Sys().(*syscall.Stat_t).Uid)
			}
			return nil
		})
	}
	foreign := filepath.Join(root, "foreign")
	os.WriteFile(foreign, []byte("username,password\ndora,x\n"), 0o600)
	cut := filepath.Join(root, "cut")
	os.WriteFile(cut, []byte(stdout[:len(stdout)-30]), 0o600)
	for _, f := range []string{foreign, cut} {
		dir := filepath.Join(root, "target-"+filepath.Base(f))
		code, _, stderr := testbin.Run(t, 20*time.Second, env.With(testbin.Env{"DATA_DIR": dir}), "restore", f)
		if code == 0 {
			t.Fatalf("restore of %s: exit 0, want a refusal", f)
		}
		t.Logf("restore of %s: %s", filepath.Base(f), strings.TrimSpace(stderr))
	}
	good := filepath.Join(root, "good")
	os.WriteFile(good, []byte(stdout), 0o600)
	newEnv := env.With(testbin.Env{"DATA_DIR": filepath.Join(root, "new")})
	srv = testbin.Start(t, "fresh", newEnv)
	if r := testbin.Must(t, c, http.MethodGet, srv.Base()+"/community/avatar", cookie, "", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("fresh server knows the cookie before the restore: %d", r.Status)
	}
	code, _, stderr = testbin.Run(t, 20*time.Second, newEnv, "restore", good)
	if code != 0 || !strings.Contains(stderr, "into the running server") {
		t.Fatalf("restore into the running fresh server: exit %d, stderr:\n%s", code, stderr)
	}
	if a, _ := testbin.GetAvatar(t, c, srv.Base(), cookie); a.Avatar != "koala" {
		t.Fatalf("restored avatar %+v, want koala", a)
	}
	testbin.Form(t, c, srv.Base(), "/login", "dora", backupPassword)
	// Once it holds records, a second live restore is refused.
	if code, _, stderr := testbin.Run(t, 20*time.Second, newEnv, "restore", good); code == 0 || !strings.Contains(stderr, "not empty") {
		t.Fatalf("second live restore: exit %d, stderr:\n%s", code, stderr)
	}
}

// TestBackupMirrorHoldsOtherInstances: two instances share one Redis, each
// with its own data dir; a user who only ever used B is in a backup taken
// from A (which has no local copy of that user).
func TestBackupMirrorHoldsOtherInstances(t *testing.T) {
	testbin.SkipShort(t)
	rs := testredis.Start(t)
	root := testbin.Root(t)
	key := testbin.Key(t)
	envOf := func(name string) testbin.Env {
		return testbin.ServerEnv(t, filepath.Join(root, name), testbin.Env{
			"SECRET_KEY": key, "REDIS_URL": rs.URL(), "SESSION_KEY_PREFIX": mirrorPrefix, "LOG_FORMAT": "text",
		})
	}
	envA, envB := envOf("a"), envOf("b")
	p := &pair{redis: rs, c: testbin.Client(t)}
	p.a = testbin.Start(t, "A", envA)
	p.b = testbin.Start(t, "B", envB)
	p.waitRedis(t, "ok", 5*time.Second)

	onA := testbin.Signup(t, p.c, p.a.Base(), "anna", backupPassword)
	p.put(t, p.a, onA, "panda")
	onB := testbin.Signup(t, p.c, p.b.Base(), "bea", backupPassword)
	p.put(t, p.b, onB, "whale")

	file := filepath.Join(root, "a.backup")
	code, _, stderr := testbin.Run(t, 20*time.Second, envA, "backup", file)
	if code != 0 || !strings.Contains(stderr, "redis+local") {
		t.Fatalf("backup from A: exit %d, stderr:\n%s", code, stderr)
	}
	p.a.Stop()
	p.b.Stop()
	// A's own copy has no trace of bea: without Redis' records the backup
	// would miss her.
	localOnly := envA.With(testbin.Env{"REDIS_URL": ""})
	_, local, _ := testbin.Run(t, 20*time.Second, localOnly, "backup", "-")
	if strings.Contains(local, `"k":"user:bea"`) || !strings.Contains(local, `"k":"user:anna"`) {
		t.Fatalf("A's local copy: bea present or anna missing:\n%s", local)
	}
	raw, _ := os.ReadFile(file)
	if !strings.Contains(string(raw), `"k":"user:bea"`) {
		t.Fatalf("A's backup does not hold bea, who only used B")
	}
	rs.Kill()

	// Restored alone (no Redis) into a fresh dir, both users are there.
	newEnv := localOnly.With(testbin.Env{"DATA_DIR": filepath.Join(root, "new")})
	if code, _, stderr := testbin.Run(t, 20*time.Second, newEnv, "restore", file); code != 0 {
		t.Fatalf("restore: exit %d, stderr:\n%s", code, stderr)
	}
	srv := testbin.Start(t, "restored", newEnv)
	for cookie, want := range map[string]string{onA: "panda", onB: "whale"} {
		if a, _ := testbin.GetAvatar(t, p.c, srv.Base(), cookie); a.Avatar != want {
			t.Fatalf("restored: %+v, want avatar %q", a, want)
		}
	}
	testbin.Form(t, p.c, srv.Base(), "/login", "bea", backupPassword)
	srv.Stop()

	// The restored dir started with a new, empty Redis pushes its records
	// there (restore dropped the local epoch), so a fresh instance beside
	// it serves them too.
	rs2 := testredis.Start(t)
	q := &pair{redis: rs2, c: p.c}
	q.a = testbin.Start(t, "restored+redis", newEnv.With(testbin.Env{"REDIS_URL": rs2.URL()}))
	q.b = testbin.Start(t, "fresh+redis", envOf("c").With(testbin.Env{"REDIS_URL": rs2.URL()}))
	q.waitRedis(t, "ok", 10*time.Second)
	waitFor(t, 5*time.Second, "the fresh instance serves the restored session", func() bool {
		st, got := q.avatar(t, q.b, onB)
		return st == http.StatusOK && got == "whale"
	})
}

func putAvatar(t *testing.T, c *http.Client, p *testbin.Proc, cookie, id string) {
	t.Helper()
	r, err := testbin.PutAvatar(c, p.Base(), cookie, id)
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("PUT avatar %s: %v %d %s", id, err, r.Status, r.Body)
	}
}

// TestBackupLarge measures the real binary on 100,000 sessions: a restore
// of a generated backup into a fresh data dir, then a backup through the
// running server's socket. Set SOULBRIDGE_BACKUP_LARGE=1 to run it (about
// 15 s on 2 cores; not part of CI).
func TestBackupLarge(t *testing.T) {
	testbin.SkipShort(t)
	if os.Getenv("SOULBRIDGE_BACKUP_LARGE") == "" {
		t.Skip("set SOULBRIDGE_BACKUP_LARGE=1 to measure 100,000 sessions")
	}
	const n = 100_000
	root := testbin.Root(t)
	env := keyedEnv(t, filepath.Join(root, "data"))
	in := filepath.Join(root, "generated.backup")
	writeGeneratedBackup(t, in, n, env["SECRET_KEY"])

	start := time.Now()
	code, _, stderr := testbin.Run(t, 5*time.Minute, env, "restore", in)
	if code != 0 {
		t.Fatalf("restore: exit %d, stderr:\n%s", code, stderr)
	}
	restoreTook := time.Since(start)

	srv := testbin.Start(t, "large", env)
	out := filepath.Join(root, "out.backup")
	start = time.Now()
	code, _, stderr = testbin.Run(t, 5*time.Minute, env, "backup", out)
	backupTook := time.Since(start)
	// The sessions, the index entries the start-up built for them, its marker.
	if code != 0 || !strings.Contains(stderr, "200001 records") {
		t.Fatalf("backup: exit %d, stderr:\n%s", code, stderr)
	}
	if r := testbin.Must(t, testbin.Client(t), http.MethodGet, srv.Base()+"/healthz", "", "", nil); r.Status != http.StatusOK {
		t.Fatalf("healthz after the backup: %d", r.Status)
	}
	fi, _ := os.Stat(out)
	t.Logf("100,000 sessions through the real binary: restore %s, backup while serving %s, %.1f MB",
		restoreTook.Round(time.Millisecond), backupTook.Round(time.Millisecond), float64(fi.Size())/1e6)
}

// writeGeneratedBackup writes a backup of n session records in the stored
// record form of kv/record.go ("~1", 16-digit microseconds and a 12-character
// instance id, 'v', 13-digit expiry in ms, then the value), signed under
// the site key keyHex as kv/backup.go says.
func writeGeneratedBackup(t *testing.T, path string, n int, keyHex string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	key, err := hex.DecodeString(keyHex)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, kv.BackupKey(key))
	w := bufio.NewWriter(f)
	sw := io.MultiWriter(w, mac)
	now := time.Now()
	fmt.Fprintf(sw, `{"app":"soulbridge","kind":"backup","format":2,"prefix":"soulbridge:","created_at":%q,"source":"local"}`+"\n", now.UTC().Format(time.RFC3339Nano))
	for i := range n {
		id := sha256.Sum256([]byte(fmt.Sprint(i)))
		seen := now.Add(-time.Duration(i) * 1237 * time.Millisecond)
		val := fmt.Sprintf(`{"username":"user%06d","created_at":%q,"last_seen":%q,"expires_at":%q,"user_agent":"Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0","ip":"203.0.%d.%d"}`,
			i%20000, seen.Add(-time.Hour).Format(time.RFC3339Nano), seen.Format(time.RFC3339Nano), seen.Add(2160*time.Hour).Format(time.RFC3339Nano), id[0], id[1])
		rec := fmt.Sprintf("~1%016d0123456789abv%013d%s", seen.UnixMicro(), now.Add(720*time.Hour).UnixMilli(), val)
		fmt.Fprintf(sw, `{"k":"session:%s","r":"%s"}`+"\n", hex.EncodeToString(id[:]), base64.StdEncoding.EncodeToString([]byte(rec)))
	}
	fmt.Fprintf(mac, "end %d\n", n)
	fmt.Fprintf(w, `{"end":true,"records":%d,"mac":%q}`+"\n", n, hex.EncodeToString(mac.Sum(nil)))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
