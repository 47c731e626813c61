package e2e

// Deploys on one data dir: sessions and avatars survive restarts and key
// rotation, and a second process waits for the data dir's lock.

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// TestDeploySurvival: a session and an avatar survive a restart with the same
// key; a new key logs people out with a JSON 401; the old key as a fallback
// keeps them in and re-issues their cookie under the new key, which then
// works once the fallback is gone.
func TestDeploySurvival(t *testing.T) {
	root := testbin.Root(t)
	data := filepath.Join(root, "data")
	k1, k2 := testbin.Key(t), testbin.Key(t)
	c := testbin.Client(t)

	// Boot 1 (K1): sign up, choose owl.
	p := testbin.Start(t, "boot1-K1", testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": k1}))
	cookie := testbin.Signup(t, c, p.Base(), "alice", "correct horse battery")
	r, err := testbin.PutAvatar(c, p.Base(), cookie, "owl")
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("PUT /community/avatar owl: %v status %d body %s", err, r.Status, r.Body)
	}
	start := time.Now()
	p.Stop()
	t.Logf("boot 1 stopped in %s", time.Since(start).Round(time.Millisecond))

	// Boot 2 (K1 again, same data dir): same cookie, same avatar.
	p = testbin.Start(t, "boot2-K1", testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": k1}))
	if a, _ := testbin.GetAvatar(t, c, p.Base(), cookie); a.Avatar != "owl" || a.Username != "alice" {
		t.Fatalf("after restart with the same key: got %+v, want alice/owl", a)
	}
	p.Stop()

	// Boot 3 (K2 only): the K1 cookie no longer verifies → JSON 401.
	p = testbin.Start(t, "boot3-K2", testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": k2}))
	r = testbin.Must(t, c, http.MethodGet, p.Base()+"/community/avatar", cookie, "", nil)
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("K1 cookie under K2: status %d, want 401; body %s", r.Status, r.Body)
	}
	var e struct {
		Error *string `json:"error"`
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("401 Content-Type = %q, want application/json", ct)
	}
	if err := json.Unmarshal([]byte(r.Body), &e); err != nil || e.Error == nil || *e.Error == "" {
		t.Errorf(`401 body = %q, want {"error":"..."} (%v)`, r.Body, err)
	}
	p.Stop()

	// Boot 4 (K2, fallback K1): accepted and re-issued under K2.
	p = testbin.Start(t, "boot4-K2+K1", testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": k2, "SECRET_KEY_FALLBACKS": k1}))
	a, r := testbin.GetAvatar(t, c, p.Base(), cookie)
	if a.Avatar != "owl" {
		t.Fatalf("K1 cookie with K1 as fallback: avatar %q, want owl", a.Avatar)
	}
	reissued := r.SessionCookie()
	if reissued == "" {
		t.Fatalf("K1 cookie with K1 as fallback: no sb_session re-issued; Set-Cookie %q", r.Header.Values("Set-Cookie"))
	}
	if reissued == cookie {
		t.Fatal("re-issued cookie is identical to the K1 cookie")
	}
	p.Stop()

	// Boot 5 (K2 alone): the re-issued cookie works.
	p = testbin.Start(t, "boot5-K2", testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": k2}))
	if a, _ := testbin.GetAvatar(t, c, p.Base(), reissued); a.Avatar != "owl" || a.Username != "alice" {
		t.Fatalf("re-issued cookie under K2 alone: got %+v, want alice/owl", a)
	}
	p.Stop()
}

// TestLockContention: a second process on the same data dir waits for the
// lock and gives up with "locked" after DATA_LOCK_TIMEOUT while the first
// keeps serving; it takes over when the first stops; SIGTERM ends the wait.
func TestLockContention(t *testing.T) {
	root := testbin.Root(t)
	data := filepath.Join(root, "data")
	c := testbin.Client(t)
	a := testbin.Start(t, "A", testbin.ServerEnv(t, data, nil))

	b := testbin.Spawn(t, "B", testbin.ServerEnv(t, data, testbin.Env{"DATA_LOCK_TIMEOUT": "2s"}))
	b.WaitOutput("locked", 10*time.Second)
	// While B waits, A serves.
	if r := testbin.Must(t, c, http.MethodGet, a.Base()+"/healthz", "", "", nil); r.Status != http.StatusOK {
		t.Fatalf("A /healthz while B waits: %d", r.Status)
	}
	cookie := testbin.Signup(t, c, a.Base(), "dave", "staple battery horse")
	code, ok := b.Wait(30 * time.Second)
	took := time.Since(b.Started())
	if !ok {
		t.Fatalf("B still running 30s after start with DATA_LOCK_TIMEOUT=2s:\n%s", b.Output())
	}
	if code == 0 {
		t.Errorf("B exited 0, want non-zero")
	}
	if took < 2*time.Second || took > 15*time.Second {
		t.Errorf("B gave up after %s, want between 2s and 15s", took)
	}
	if !regexp.MustCompile(`(?m)^soulbridge: .*locked`).MatchString(b.Output()) {
		t.Errorf("B's exit message does not say the data dir is locked:\n%s", b.Output())
	}
	t.Logf("B gave up after %s with status %d", took.Round(time.Millisecond), code)
	if r := testbin.Must(t, c, http.MethodGet, a.Base()+"/healthz", "", "", nil); r.Status != http.StatusOK {
		t.Fatalf("A /healthz after B gave up: %d", r.Status)
	}

	// C waits for A's lock; A stops; C takes over and knows A's users.
	cp := testbin.Spawn(t, "C", testbin.ServerEnv(t, data, testbin.Env{"DATA_LOCK_TIMEOUT": "20s"}))
	cp.WaitOutput("locked", 10*time.Second)
	time.Sleep(time.Second) // C keeps waiting for a while before A goes away
	a.Stop()
	cp.WaitHealthy(15 * time.Second)
	if got, _ := testbin.GetAvatar(t, c, cp.Base(), cookie); got.Username != "dave" {
		t.Fatalf("C: cookie from A belongs to %q, want dave", got.Username)
	}

	// D waits for C's lock; SIGTERM ends the wait at once.
	d := testbin.Spawn(t, "D", testbin.ServerEnv(t, data, testbin.Env{"DATA_LOCK_TIMEOUT": "60s"}))
	d.WaitOutput("locked", 10*time.Second)
	sent := time.Now()
	d.Signal(syscall.SIGTERM)
	code, ok = d.Wait(3 * time.Second)
	if !ok {
		t.Fatalf("D did not exit within 3s of SIGTERM during the lock wait:\n%s", d.Output())
	}
	t.Logf("D exited %s after SIGTERM with status %d", time.Since(sent).Round(time.Millisecond), code)
	if r := testbin.Must(t, c, http.MethodGet, cp.Base()+"/healthz", "", "", nil); r.Status != http.StatusOK {
		t.Fatalf("C /healthz after D: %d", r.Status)
	}
	cp.Stop()
}
