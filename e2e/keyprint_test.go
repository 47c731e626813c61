package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// keyPrintWarning is the start of the warning serve logs when the store's
// sessions were made under a key it does not have (keyprint.go).
const keyPrintWarning = "the store holds sessions made under another signing key"

// TestRestoreUnderAnotherKeyWarns (issue 18 row 9): a backup restored into
// a fresh data dir with the site's SECRET_KEY, then served without it (the
// server generates a key file), does not let every session die silently:
// the start-up log warns, naming SECRET_KEY and SECRET_KEY_FALLBACKS. Served
// again with a new key and the old one as a fallback, the restored session
// works and nothing is said.
func TestRestoreUnderAnotherKeyWarns(t *testing.T) {
	testbin.SkipShort(t)
	root := testbin.Root(t)
	key := testbin.Key(t)
	envA := keyedEnv(t, filepath.Join(root, "a"))
	envA["SECRET_KEY"] = key
	c := testbin.Client(t)
	a := testbin.Start(t, "A", envA)
	cookie := testbin.Signup(t, c, a.Base(), "alice", "staple battery horse")
	a.StopWithin(15 * time.Second)

	file := filepath.Join(root, "site.backup")
	if code, _, stderr := testbin.Run(t, 30*time.Second, envA, "backup", file); code != 0 {
		t.Fatalf("backup: exit %d\n%s", code, stderr)
	}
	envB := keyedEnv(t, filepath.Join(root, "b"))
	envB["SECRET_KEY"] = key
	if code, _, stderr := testbin.Run(t, 30*time.Second, envB, "restore", file); code != 0 {
		t.Fatalf("restore: exit %d\n%s", code, stderr)
	}

	// Served without SECRET_KEY: a key file is generated, and the log says
	// the restored sessions are refused.
	noKey := envB.With(testbin.Env{"SECRET_KEY": ""})
	b := testbin.Start(t, "B-no-key", noKey)
	if r := testbin.Must(t, c, http.MethodGet, b.Base()+"/community/avatar", cookie, "", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("the restored session under a generated key: %d, want 401 (the case the warning is for)", r.Status)
	}
	b.StopWithin(15 * time.Second)
	out := b.Output()
	var warning string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, keyPrintWarning) {
			warning = line
		}
	}
	if warning == "" {
		t.Fatalf("no warning that the restored sessions were made under another key:\n%s", out)
	}
	for _, want := range []string{"level=WARN", "SECRET_KEY ", "SECRET_KEY_FALLBACKS", "sessions=1"} {
		if !strings.Contains(warning, want) {
			t.Errorf("the warning does not mention %q: %s", want, warning)
		}
	}
	if strings.Contains(out, key) {
		t.Errorf("the log holds the key:\n%s", out)
	}

	// A new key, the old one as a fallback: the session works, no warning.
	withFallback := envB.With(testbin.Env{"SECRET_KEY": testbin.Key(t), "SECRET_KEY_FALLBACKS": key})
	b = testbin.Start(t, "B-fallback", withFallback)
	if r := testbin.Must(t, c, http.MethodGet, b.Base()+"/community/avatar", cookie, "", nil); r.Status != http.StatusOK {
		t.Fatalf("the restored session with its key as a fallback: %d, want 200", r.Status)
	}
	b.StopWithin(15 * time.Second)
	if strings.Contains(b.Output(), keyPrintWarning) {
		t.Errorf("warned with the sessions' key among the fallbacks:\n%s", b.Output())
	}
}
