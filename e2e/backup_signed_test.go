package e2e

// Signed backups (issue 16, row 5): a backup carries an HMAC under a key
// derived from the site key; restore refuses an altered or foreign file
// before touching anything, accepts one signed under a fallback key, and
// with --unverified loads one it cannot verify (the previous release's)
// without its sessions.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// forgeSession writes a copy of the backup in src to dst in which the
// session record of cookie's token names user instead: what someone with
// the backup file in hand would do to become user after the restore.
func forgeSession(t *testing.T, src, dst, cookie, user string) {
	t.Helper()
	tok := cookieToken(cookie)
	if tok == nil {
		t.Fatal("cannot read the token of the cookie")
	}
	sum := sha256.Sum256(tok)
	key := "session:" + hex.EncodeToString(sum[:])
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	found := false
	for i, l := range lines {
		var rec struct {
			K string `json:"k"`
			R []byte `json:"r"`
		}
		if json.Unmarshal([]byte(l), &rec) != nil || rec.K != key {
			continue
		}
		s := string(rec.R)
		at := strings.Index(s, `"username":"`)
		if at < 0 {
			t.Fatalf("session record without a username: %q", s)
		}
		end := at + len(`"username":"`) + strings.Index(s[at+len(`"username":"`):], `"`)
		rec.R = []byte(s[:at] + `"username":"` + user + s[end:])
		b, _ := json.Marshal(map[string]any{"k": rec.K, "r": rec.R})
		lines[i] = string(b)
		found = true
	}
	if !found {
		t.Fatalf("no %s in the backup", key)
	}
	if err := os.WriteFile(dst, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// restoreRefused runs restore and requires exit 1 with a one-line message
// holding want, and that dir was left without a store.
func restoreRefused(t *testing.T, env testbin.Env, want string, args ...string) {
	t.Helper()
	restoreRefusedFrom(t, env, nil, want, args...)
}

// restoreRefusedFrom is restoreRefused with stdin.
func restoreRefusedFrom(t *testing.T, env testbin.Env, stdin io.Reader, want string, args ...string) {
	t.Helper()
	code, _, stderr := testbin.RunWith(t, 30*time.Second, env, testbin.Options{}, stdin, append([]string{"restore"}, args...)...)
	msg := strings.TrimSpace(stderr)
	if code != 1 || !strings.Contains(msg, want) || strings.Count(msg, "\n") != 0 {
		t.Fatalf("restore %v: exit %d, stderr:\n%s\nwant exit 1 and one line saying %q", args, code, stderr, want)
	}
	if entries, _ := os.ReadDir(env["DATA_DIR"]); len(entries) != 0 {
		t.Fatalf("a refused restore wrote into the data dir: %v", entries)
	}
}

func TestBackupSignedRefusesAlteredAndForeign(t *testing.T) {
	testbin.SkipShort(t)
	root := testbin.Root(t)
	env := keyedEnv(t, filepath.Join(root, "data"))
	c := testbin.Client(t)
	srv := testbin.Start(t, "server", env)
	alice := testbin.Signup(t, c, srv.Base(), "alice", backupPassword)
	bob := testbin.Signup(t, c, srv.Base(), "bob", backupPassword)
	putAvatar(t, c, srv, alice, "owl")
	putAvatar(t, c, srv, bob, "fox")
	file := filepath.Join(root, "signed.backup")
	if code, _, stderr := testbin.Run(t, 20*time.Second, env, "backup", file); code != 0 {
		t.Fatalf("backup: exit %d:\n%s", code, stderr)
	}
	srv.Stop()
	into := func(name string) testbin.Env { return env.With(testbin.Env{"DATA_DIR": filepath.Join(root, name)}) }

	// alice's own session, edited to name bob: refused, nothing written.
	forged := filepath.Join(root, "forged.backup")
	forgeSession(t, file, forged, alice, "bob")
	restoreRefused(t, into("forged"), "altered", forged)
	// Through a pipe (spooled, then checked whole) the same; the genuine
	// file through a pipe restores.
	for name, f := range map[string]string{"forged": forged, "genuine": file} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if name == "forged" {
			restoreRefusedFrom(t, into("pipe-forged"), bytes.NewReader(b), "altered", "-")
			continue
		}
		if code, _, stderr := testbin.RunWith(t, 30*time.Second, into("pipe-genuine"), testbin.Options{}, bytes.NewReader(b), "restore", "-"); code != 0 || strings.Contains(stderr, "WARNING") {
			t.Fatalf("restore of the genuine backup through a pipe: exit %d:\n%s", code, stderr)
		}
	}
	// A backup of another site (another key): refused.
	other := into("foreign").With(testbin.Env{"SECRET_KEY": testbin.Key(t)})
	restoreRefused(t, other, "another key", file)

	// The key rotated (the old one among the fallbacks): accepted, and the
	// old cookies still work on the restored store.
	rotated := into("rotated").With(testbin.Env{"SECRET_KEY": testbin.Key(t), "SECRET_KEY_FALLBACKS": env["SECRET_KEY"]})
	if code, _, stderr := testbin.Run(t, 30*time.Second, rotated, "restore", file); code != 0 || strings.Contains(stderr, "WARNING") {
		t.Fatalf("restore with the key among the fallbacks: exit %d:\n%s", code, stderr)
	}
	srv = testbin.Start(t, "rotated", rotated)
	if a, _ := testbin.GetAvatar(t, c, srv.Base(), alice); a.Username != "alice" || a.Avatar != "owl" {
		t.Fatalf("restored under a fallback key: alice's cookie gives %+v", a)
	}
	srv.Stop()

	// --unverified: the forged file loads without any session: alice's
	// cookie is nobody (not bob), accounts and avatars are back.
	unv := into("unverified")
	code, _, stderr := testbin.Run(t, 30*time.Second, unv, "restore", "--unverified", forged)
	if code != 0 || !strings.Contains(stderr, "everyone logs in once") {
		t.Fatalf("restore --unverified: exit %d:\n%s", code, stderr)
	}
	srv = testbin.Start(t, "unverified", unv)
	for _, cookie := range []string{alice, bob} {
		if r := testbin.Must(t, c, http.MethodGet, srv.Base()+"/community/avatar", cookie, "", nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("after restore --unverified a session cookie answers %d, want 401: %s", r.Status, r.Body)
		}
	}
	cookie := testbin.Form(t, c, srv.Base(), "/login", "bob", backupPassword)
	if a, _ := testbin.GetAvatar(t, c, srv.Base(), cookie); a.Username != "bob" || a.Avatar != "fox" {
		t.Fatalf("bob after restore --unverified: %+v", a)
	}
	srv.Stop()

	// A running server on an empty data dir (a new volume) checks the same
	// before it loads anything, locally or into Redis.
	live := into("live")
	srv = testbin.Start(t, "live", live)
	code, _, stderr = testbin.Run(t, 30*time.Second, live, "restore", forged)
	if code != 1 || !strings.Contains(stderr, "altered") || !strings.Contains(stderr, "nothing was changed") {
		t.Fatalf("live restore of the forged backup: exit %d:\n%s", code, stderr)
	}
	code, _, stderr = testbin.Run(t, 30*time.Second, live, "restore", "--unverified", forged)
	if code != 0 || !strings.Contains(stderr, "into the running server") || !strings.Contains(stderr, "everyone logs in once") {
		t.Fatalf("live restore --unverified: exit %d:\n%s", code, stderr)
	}
	if r := testbin.Must(t, c, http.MethodGet, srv.Base()+"/community/avatar", alice, "", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("after a live restore --unverified alice's cookie answers %d, want 401", r.Status)
	}
	cookie = testbin.Form(t, c, srv.Base(), "/login", "alice", backupPassword)
	if a, _ := testbin.GetAvatar(t, c, srv.Base(), cookie); a.Avatar != "owl" {
		t.Fatalf("alice after a live restore --unverified: %+v", a)
	}
	srv.Stop()

	// A name that breaks the username rules: refused even with the flag.
	bad := filepath.Join(root, "badname.backup")
	rec := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "~1%016d0123456789abv%013d%s",
		time.Now().UnixMicro(), 0, `{"username":"Bad Name!","password_hash":"x"}`))
	os.WriteFile(bad, []byte(`{"app":"soulbridge","kind":"backup","format":1,"prefix":"soulbridge:","created_at":"2026-01-01T00:00:00Z","source":"local"}`+"\n"+
		`{"k":"user:Bad Name!","r":"`+rec+`"}`+"\n"+`{"end":true,"records":1}`+"\n"), 0o600)
	restoreRefused(t, into("badname"), "not a valid username", "--unverified", bad)
}

// unsignedRelease is the last release before signed backups (format 1).
const unsignedRelease = "5d9b1b21b6bcfabdf2f2261c11d47ccd4d2e7fff"

// TestBackupPreviousReleaseRestoresUnverified: a backup written by the
// previous release carries no signature. That release restored a record
// edited by hand as it was (shown first: alice's cookie becomes bob); this
// build refuses the file without --unverified, and with it restores the
// accounts and avatars and none of the sessions, forged or not.
func TestBackupPreviousReleaseRestoresUnverified(t *testing.T) {
	old := testbin.BuildRevision(t, unsignedRelease)
	root := testbin.Root(t)
	env := keyedEnv(t, filepath.Join(root, "old"))
	c := testbin.Client(t)
	p := testbin.SpawnWith(t, "previous", env, testbin.Options{Binary: old})
	p.WaitHealthy(15 * time.Second)
	alice := testbin.Signup(t, c, p.Base(), "alice", backupPassword)
	bob := testbin.Signup(t, c, p.Base(), "bob", backupPassword)
	putAvatar(t, c, p, alice, "owl")
	putAvatar(t, c, p, bob, "fox")
	file := filepath.Join(root, "previous.backup")
	code, _, stderr := testbin.RunWith(t, 20*time.Second, env, testbin.Options{Binary: old}, nil, "backup", file)
	if code != 0 {
		t.Fatalf("previous release's backup: exit %d:\n%s", code, stderr)
	}
	p.Stop()
	forged := filepath.Join(root, "forged.backup")
	forgeSession(t, file, forged, alice, "bob")

	// The previous release takes the forged record: alice's cookie is bob.
	was := env.With(testbin.Env{"DATA_DIR": filepath.Join(root, "was")})
	if code, _, stderr := testbin.RunWith(t, 30*time.Second, was, testbin.Options{Binary: old}, nil, "restore", forged); code != 0 {
		t.Fatalf("previous release's restore: exit %d:\n%s", code, stderr)
	}
	p = testbin.SpawnWith(t, "previous restored", was, testbin.Options{Binary: old})
	p.WaitHealthy(15 * time.Second)
	if a, _ := testbin.GetAvatar(t, c, p.Base(), alice); a.Username != "bob" {
		t.Fatalf("the previous release should show the hole this closes: alice's cookie gives %+v", a)
	}
	p.Stop()

	into := func(name string) testbin.Env { return env.With(testbin.Env{"DATA_DIR": filepath.Join(root, name)}) }
	restoreRefused(t, into("refused"), "--unverified", file)
	restoreRefused(t, into("refused-forged"), "not signed", forged)

	for _, f := range []string{file, forged} {
		dir := into("unverified-" + filepath.Base(f))
		code, _, stderr := testbin.Run(t, 30*time.Second, dir, "restore", "--unverified", f)
		if code != 0 || !strings.Contains(stderr, "everyone logs in once") {
			t.Fatalf("restore --unverified of the previous release's %s: exit %d:\n%s", filepath.Base(f), code, stderr)
		}
		srv := testbin.Start(t, "restored", dir)
		for _, cookie := range []string{alice, bob} {
			if r := testbin.Must(t, c, http.MethodGet, srv.Base()+"/community/avatar", cookie, "", nil); r.Status != http.StatusUnauthorized {
				t.Fatalf("%s restored --unverified: a session answers %d, want 401", filepath.Base(f), r.Status)
			}
		}
		for user, want := range map[string]string{"alice": "owl", "bob": "fox"} {
			cookie := testbin.Form(t, c, srv.Base(), "/login", user, backupPassword)
			if a, _ := testbin.GetAvatar(t, c, srv.Base(), cookie); a.Username != user || a.Avatar != want {
				t.Fatalf("%s restored --unverified: %s logs in to %+v, want avatar %q", filepath.Base(f), user, a, want)
			}
		}
		srv.Stop()
	}
}
