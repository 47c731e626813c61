package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testpasskey"
	"soulbridge/internal/testredis"
	"soulbridge/internal/testwait"
	"soulbridge/kv"
	"soulbridge/kv/kvtest"
	"soulbridge/metrics"
	"soulbridge/passkey"
	"soulbridge/web"
)

// The relying party the passkey tests run under; the software
// authenticator answers for it (or, to be refused, for another).
const (
	pkOrigin = "http://localhost:8080"
	pkRPID   = "localhost"
)

// newPasskeySite is a site over store with passkeys on.
func newPasskeySite(t *testing.T, store web.Store, key []byte, tweak func(*web.SiteConfig)) *site {
	t.Helper()
	rp, err := passkey.NewRP(pkOrigin)
	if err != nil {
		t.Fatal(err)
	}
	return newSiteOver(t, store, key, func(c *web.SiteConfig) {
		c.Passkeys = rp
		if tweak != nil {
			tweak(c)
		}
	})
}

func memStore(t testing.TB) *kv.Badger {
	t.Helper()
	store, err := kv.Open(context.Background(), kv.Options{InMemory: true, Prefix: "soulbridge:", LockTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

var pkKey = []byte(strings.Repeat("p", 32))

// postJSON posts v as JSON to path.
func (s *site) postJSON(t *testing.T, path string, cookie *http.Cookie, v any) resp {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return s.do(t, req{method: "POST", path: path, cookie: cookie, body: string(b), header: map[string]string{"Content-Type": "application/json"}})
}

// passkeySignup signs name up with a new passkey of a and returns the
// session cookie.
func (s *site) passkeySignup(t *testing.T, name string, a *testpasskey.Authenticator) *http.Cookie {
	t.Helper()
	res := s.postJSON(t, "/passkeys/signup/begin", nil, map[string]string{"username": name})
	if res.status != http.StatusOK {
		t.Fatalf("signup begin: %d %s", res.status, res.body)
	}
	handle := testpasskey.UserID(t, []byte(res.body))
	cred := a.Create(testpasskey.Challenge(t, []byte(res.body)), handle, pkOrigin, pkRPID)
	res = s.postJSON(t, "/passkeys/signup/finish", nil, map[string]any{
		"username": name, "handle": base64.RawURLEncoding.EncodeToString(handle), "name": "Test key", "credential": json.RawMessage(cred),
	})
	if res.status != http.StatusOK || !strings.Contains(res.body, `"/community"`) {
		t.Fatalf("signup finish: %d %s", res.status, res.body)
	}
	c := sessionCookie(res)
	if c == nil {
		t.Fatal("passkey sign-up set no session cookie")
	}
	return &http.Cookie{Name: c.Name, Value: c.Value}
}

// loginChallenge begins a passkey log-in on s.
func (s *site) loginChallenge(t *testing.T) []byte {
	t.Helper()
	res := s.postJSON(t, "/passkeys/login/begin", nil, struct{}{})
	if res.status != http.StatusOK {
		t.Fatalf("login begin: %d %s", res.status, res.body)
	}
	return testpasskey.Challenge(t, []byte(res.body))
}

// finishLogin sends an assertion to s.
func (s *site) finishLogin(t *testing.T, assertion []byte) resp {
	t.Helper()
	return s.postJSON(t, "/passkeys/login/finish", nil, map[string]any{"credential": json.RawMessage(assertion)})
}

func TestPasskeySignUpAndLogIn(t *testing.T) {
	s := newPasskeySite(t, memStore(t), pkKey, nil)
	a := testpasskey.New(t)
	a.Counting = true
	first := s.passkeySignup(t, "alice", a)
	if got := s.avatarStatus(t, first); got != http.StatusOK {
		t.Fatalf("session of the passkey sign-up: %d", got)
	}
	// The account has no password.
	if res := s.login(t, "alice", nil); res.status != http.StatusUnauthorized {
		t.Fatalf("password log-in to a passkey-only account: %d", res.status)
	}

	assertion := a.Assert(s.loginChallenge(t), pkOrigin, pkRPID)
	res := s.finishLogin(t, assertion)
	if res.status != http.StatusOK {
		t.Fatalf("passkey log-in: %d %s", res.status, res.body)
	}
	c := sessionCookie(res)
	cookie := &http.Cookie{Name: c.Name, Value: c.Value}
	list := s.sessionsOf(t, cookie)
	if len(list) != 2 {
		t.Fatalf("sessions %+v, want 2", list)
	}
	for _, e := range list {
		if e.Method != "passkey" {
			t.Fatalf("session %+v: method %q, want passkey", e, e.Method)
		}
	}

	t.Run("replayed assertion", func(t *testing.T) {
		res := s.finishLogin(t, assertion)
		if res.status != http.StatusBadRequest {
			t.Fatalf("replay: %d %s, want 400", res.status, res.body)
		}
		jsonError(t, "replay", res)
	})
	t.Run("another origin", func(t *testing.T) {
		res := s.finishLogin(t, a.Assert(s.loginChallenge(t), "http://evil.localhost:8080", pkRPID))
		if res.status != http.StatusUnauthorized {
			t.Fatalf("another origin: %d %s, want 401", res.status, res.body)
		}
	})
	t.Run("another RP ID", func(t *testing.T) {
		res := s.finishLogin(t, a.Assert(s.loginChallenge(t), pkOrigin, "evil.example"))
		if res.status != http.StatusUnauthorized {
			t.Fatalf("another RP ID: %d %s, want 401", res.status, res.body)
		}
	})
	t.Run("sign count gone backwards", func(t *testing.T) {
		saved := a.SignCount
		a.SignCount = 0 // the next assertion says 1: at or below the stored count
		res := s.finishLogin(t, a.Assert(s.loginChallenge(t), pkOrigin, pkRPID))
		if res.status != http.StatusUnauthorized || !strings.Contains(res.body, "counter") {
			t.Fatalf("counter gone backwards: %d %s, want 401 naming the counter", res.status, res.body)
		}
		a.SignCount = saved
		if res := s.finishLogin(t, a.Assert(s.loginChallenge(t), pkOrigin, pkRPID)); res.status != http.StatusOK {
			t.Fatalf("the genuine authenticator after the refusal: %d %s", res.status, res.body)
		}
	})
	t.Run("challenge of another purpose", func(t *testing.T) {
		res := s.postJSON(t, "/passkeys/signup/begin", nil, map[string]string{"username": "bob"})
		res = s.finishLogin(t, a.Assert(testpasskey.Challenge(t, []byte(res.body)), pkOrigin, pkRPID))
		if res.status != http.StatusBadRequest {
			t.Fatalf("a sign-up challenge used to log in: %d %s, want 400", res.status, res.body)
		}
	})
}

// A synced passkey reports a signature counter of 0 every time: it keeps
// working.
func TestPasskeySyncedCounterZero(t *testing.T) {
	s := newPasskeySite(t, memStore(t), pkKey, nil)
	a := testpasskey.New(t)
	a.BackupEligible, a.BackedUp = true, true
	s.passkeySignup(t, "alice", a)
	for i := range 3 {
		if res := s.finishLogin(t, a.Assert(s.loginChallenge(t), pkOrigin, pkRPID)); res.status != http.StatusOK {
			t.Fatalf("log-in %d with counter 0: %d %s", i, res.status, res.body)
		}
	}
}

// A challenge expires after passkey.Timeout, whoever holds it.
func TestPasskeyExpiredChallenge(t *testing.T) {
	s := newPasskeySite(t, memStore(t), pkKey, nil)
	a := testpasskey.New(t)
	s.passkeySignup(t, "alice", a)
	// A challenge signed with the site's key as if issued six minutes ago
	// (its expiry passed a minute ago).
	old := passkey.NewChallenges(pkKey, func() time.Time { return time.Now().Add(-passkey.Timeout - time.Minute) })
	ch, err := old.Issue("login")
	if err != nil {
		t.Fatal(err)
	}
	if res := s.finishLogin(t, a.Assert(ch, pkOrigin, pkRPID)); res.status != http.StatusBadRequest {
		t.Fatalf("expired challenge: %d %s, want 400", res.status, res.body)
	}
	// The same made now works: the refusal was the expiry.
	ch, _ = passkey.NewChallenges(pkKey, nil).Issue("login")
	if res := s.finishLogin(t, a.Assert(ch, pkOrigin, pkRPID)); res.status != http.StatusOK {
		t.Fatalf("fresh challenge: %d %s", res.status, res.body)
	}
}

// A passkey of a deleted account logs nobody in, also once the name is
// signed up again.
func TestPasskeyOfDeletedAccount(t *testing.T) {
	s := newPasskeySite(t, memStore(t), pkKey, nil)
	a := testpasskey.New(t)
	cookie := s.passkeySignup(t, "alice", a)
	proof := s.reauthProof(t, cookie, a)
	res := s.do(t, req{method: "POST", path: "/account/delete", cookie: cookie, form: url.Values{"reauth": {proof}}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("deletion confirmed by passkey: %d %s", res.status, res.body)
	}
	if res := s.finishLogin(t, a.Assert(s.loginChallenge(t), pkOrigin, pkRPID)); res.status != http.StatusUnauthorized {
		t.Fatalf("passkey of the deleted account: %d %s, want 401", res.status, res.body)
	}
	s.passkeySignup(t, "alice", testpasskey.New(t))
	if res := s.finishLogin(t, a.Assert(s.loginChallenge(t), pkOrigin, pkRPID)); res.status != http.StatusUnauthorized {
		t.Fatalf("old passkey after the name was signed up again: %d %s, want 401", res.status, res.body)
	}
}

// reauthProof re-authenticates cookie's session with a.
func (s *site) reauthProof(t *testing.T, cookie *http.Cookie, a *testpasskey.Authenticator) string {
	t.Helper()
	res := s.postJSON(t, "/passkeys/reauth/begin", cookie, struct{}{})
	if res.status != http.StatusOK {
		t.Fatalf("reauth begin: %d %s", res.status, res.body)
	}
	res = s.postJSON(t, "/passkeys/reauth/finish", cookie, map[string]any{
		"credential": json.RawMessage(a.Assert(testpasskey.Challenge(t, []byte(res.body)), pkOrigin, pkRPID)),
	})
	var out struct{ Reauth string }
	if res.status != http.StatusOK || json.Unmarshal([]byte(res.body), &out) != nil || out.Reauth == "" {
		t.Fatalf("reauth finish: %d %s", res.status, res.body)
	}
	return out.Reauth
}

// addPasskey adds b to cookie's account (confirmed with password, or with
// a passkey proof when password is "").
func (s *site) addPasskey(t *testing.T, cookie *http.Cookie, confirm map[string]string, b *testpasskey.Authenticator) string {
	t.Helper()
	res := s.postJSON(t, "/passkeys/add/begin", cookie, confirm)
	if res.status != http.StatusOK {
		t.Fatalf("add begin: %d %s", res.status, res.body)
	}
	handle := testpasskey.UserID(t, []byte(res.body))
	cred := b.Create(testpasskey.Challenge(t, []byte(res.body)), handle, pkOrigin, pkRPID)
	res = s.postJSON(t, "/passkeys/add/finish", cookie, map[string]any{
		"handle": base64.RawURLEncoding.EncodeToString(handle), "name": "Second", "credential": json.RawMessage(cred),
	})
	var out struct{ ID string }
	if res.status != http.StatusOK || json.Unmarshal([]byte(res.body), &out) != nil || out.ID == "" {
		t.Fatalf("add finish: %d %s", res.status, res.body)
	}
	return out.ID
}

// Adding and removing passkeys: re-authentication required, the last way
// to log in kept, and a removed passkey's sessions ended.
func TestPasskeyAddAndRemove(t *testing.T) {
	s := newPasskeySite(t, memStore(t), pkKey, nil)
	pw := s.signup(t, "alice") // a password account

	if res := s.postJSON(t, "/passkeys/add/begin", pw, map[string]string{"password": "wrong password"}); res.status != http.StatusForbidden {
		t.Fatalf("add with a wrong password: %d %s, want 403", res.status, res.body)
	}
	if res := s.postJSON(t, "/passkeys/add/begin", pw, map[string]string{"reauth": "forged"}); res.status != http.StatusForbidden {
		t.Fatalf("add with a forged proof: %d %s, want 403", res.status, res.body)
	}
	a := testpasskey.New(t)
	idA := s.addPasskey(t, pw, map[string]string{"password": testPassword}, a)
	res := s.finishLogin(t, a.Assert(s.loginChallenge(t), pkOrigin, pkRPID))
	if res.status != http.StatusOK {
		t.Fatalf("log-in with the added passkey: %d %s", res.status, res.body)
	}
	c := sessionCookie(res)
	byA := &http.Cookie{Name: c.Name, Value: c.Value}

	// A proof of another session is refused.
	proof := s.reauthProof(t, byA, a)
	if res := s.postJSON(t, "/passkeys/add/begin", pw, map[string]string{"reauth": proof}); res.status != http.StatusForbidden {
		t.Fatalf("add with another session's proof: %d %s, want 403", res.status, res.body)
	}

	// Removing passkey A ends the session it made, not the password's.
	res = s.do(t, req{method: "POST", path: "/account/passkeys/" + idA + "/remove", cookie: pw, form: url.Values{"password": {testPassword}}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("remove: %d %s", res.status, res.body)
	}
	if got := s.avatarStatus(t, byA); got != http.StatusUnauthorized {
		t.Fatalf("session of the removed passkey: %d, want 401", got)
	}
	if got := s.avatarStatus(t, pw); got != http.StatusOK {
		t.Fatalf("password session after the removal: %d, want 200", got)
	}
	if res := s.finishLogin(t, a.Assert(s.loginChallenge(t), pkOrigin, pkRPID)); res.status != http.StatusUnauthorized {
		t.Fatalf("log-in with the removed passkey: %d, want 401", res.status)
	}
	// Recent activity lists the passkey's life, newest first; the failed
	// log-in with the removed passkey is counted among the failures.
	if got, want := kinds(s.activityOf(t, pw)), "log-in-failed passkey-removed log-in passkey-added sign-up"; got != want {
		t.Errorf("activity: %q, want %q", got, want)
	}

	// A passkey-only account cannot remove its last passkey.
	b := testpasskey.New(t)
	onlyB := s.passkeySignup(t, "bob", b)
	idB := base64.RawURLEncoding.EncodeToString(b.ID)
	res = s.do(t, req{method: "POST", path: "/account/passkeys/" + idB + "/remove", cookie: onlyB,
		form: url.Values{"reauth": {s.reauthProof(t, onlyB, b)}}, header: map[string]string{"Accept": "application/json"}})
	if res.status != http.StatusConflict || !strings.Contains(jsonError(t, "last passkey", res), "no way to log in") {
		t.Fatalf("removing the last way to log in: %d %s, want 409 with the reason", res.status, res.body)
	}
	// Renamed, it shows on the account page.
	res = s.do(t, req{method: "POST", path: "/account/passkeys/" + idB + "/rename", cookie: onlyB, form: url.Values{"name": {"Laptop <b>"}}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("rename: %d %s", res.status, res.body)
	}
	page := s.do(t, req{method: "GET", path: "/account", cookie: onlyB, header: map[string]string{"Host": "localhost:8080"}})
	if !strings.Contains(page.body, "Laptop &lt;b&gt;") || !strings.Contains(page.body, `name="reauth"`) {
		t.Fatalf("account page lacks the renamed passkey or the passkey confirmation: %.2000s", page.body)
	}
}

// The log-in page offers passkeys (autofill markup, a challenge) only at
// the relying party's own host.
func TestPasskeyLoginPage(t *testing.T) {
	s := newPasskeySite(t, memStore(t), pkKey, nil)
	here := s.do(t, req{method: "GET", path: "/login", header: map[string]string{"Host": "localhost:8080"}})
	if !strings.Contains(here.body, `autocomplete="username webauthn"`) || !strings.Contains(here.body, "data-passkey-login") ||
		!strings.Contains(here.body, "Passkeys need JavaScript") {
		t.Fatalf("log-in page at the RP's host lacks the passkey parts: %.3000s", here.body)
	}
	other := s.do(t, req{method: "GET", path: "/login", header: map[string]string{"Host": "127.0.0.1:8080"}})
	if strings.Contains(other.body, "webauthn") || strings.Contains(other.body, "data-passkey-login") {
		t.Fatalf("log-in page at another host offers passkeys: %.3000s", other.body)
	}
}

// Begun on instance A, finished on instance B (two sites sharing Redis):
// the challenge is checked by B, and its single use holds across both.
func TestPasskeyAcrossInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	redis := testredis.Start(t)
	opts := kv.MirrorOptions{URL: redis.URL(), Persistent: true}
	ma := kvtest.Mirror(t, "soulbridge:", opts)
	mb := kvtest.Mirror(t, "soulbridge:", opts)
	a := newPasskeySite(t, ma, pkKey, func(c *web.SiteConfig) { c.Mirror = ma; c.Counter = ma })
	b := newPasskeySite(t, mb, pkKey, func(c *web.SiteConfig) { c.Mirror = mb; c.Counter = mb })
	for _, m := range []*kv.Mirror{ma, mb} {
		testwait.Until(t, 10*time.Second, "the mirror up", func() bool { return m.Status() == "ok" })
	}

	// Sign-up begun on A, finished on B.
	auth := testpasskey.New(t)
	res := a.postJSON(t, "/passkeys/signup/begin", nil, map[string]string{"username": "alice"})
	handle := testpasskey.UserID(t, []byte(res.body))
	cred := auth.Create(testpasskey.Challenge(t, []byte(res.body)), handle, pkOrigin, pkRPID)
	res = b.postJSON(t, "/passkeys/signup/finish", nil, map[string]any{
		"username": "alice", "handle": base64.RawURLEncoding.EncodeToString(handle), "credential": json.RawMessage(cred),
	})
	if res.status != http.StatusOK {
		t.Fatalf("sign-up begun on A, finished on B: %d %s", res.status, res.body)
	}

	// Log-in begun on A, finished on B; the same assertion replayed on A.
	assertion := auth.Assert(a.loginChallenge(t), pkOrigin, pkRPID)
	if res := b.finishLogin(t, assertion); res.status != http.StatusOK {
		t.Fatalf("log-in begun on A, finished on B: %d %s", res.status, res.body)
	}
	if res := a.finishLogin(t, assertion); res.status != http.StatusBadRequest {
		t.Fatalf("the assertion replayed on A: %d %s, want 400", res.status, res.body)
	}

	// With Redis down, single use cannot be had: 503.
	redis.Kill()
	defer redis.StartAgain()
	testwait.Until(t, 10*time.Second, "the mirror down", func() bool { return mb.Status() != "ok" })
	res = b.finishLogin(t, auth.Assert(b.loginChallenge(t), pkOrigin, pkRPID))
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Fatalf("passkey log-in with the mirror down: %d %s, want 503 with Retry-After", res.status, res.body)
	}
}

// Passkey log-in failures count in the log-in throttle like wrong
// passwords.
func TestPasskeyFailuresThrottled(t *testing.T) {
	s := newPasskeySite(t, memStore(t), pkKey, nil)
	a := testpasskey.New(t)
	s.passkeySignup(t, "alice", a)
	throttled := false
	for range 15 {
		res := s.finishLogin(t, a.Assert(s.loginChallenge(t), "http://evil.localhost", pkRPID))
		if res.status == http.StatusTooManyRequests {
			throttled = true
			break
		}
		if res.status != http.StatusUnauthorized {
			t.Fatalf("refused assertion: %d %s", res.status, res.body)
		}
	}
	if !throttled {
		t.Fatal("15 refused passkey log-ins from one address were never throttled")
	}
	// The genuine passkey from the same address is throttled too.
	if res := s.finishLogin(t, a.Assert(s.loginChallenge(t), pkOrigin, pkRPID)); res.status != http.StatusTooManyRequests {
		t.Fatalf("genuine passkey after the failures: %d, want 429", res.status)
	}
}

// An operator's lock refuses passkey log-ins (403), and its unlock lets
// them in again.
func TestPasskeyLockedAccount(t *testing.T) {
	s := newPasskeySite(t, memStore(t), pkKey, nil)
	a := testpasskey.New(t)
	cookie := s.passkeySignup(t, "alice", a)
	accounts := s.server.Services().Accounts
	if _, err := accounts.Lock(context.Background(), "alice", "spam"); err != nil {
		t.Fatal(err)
	}
	res := s.finishLogin(t, a.Assert(s.loginChallenge(t), pkOrigin, pkRPID))
	if res.status != http.StatusForbidden || !strings.Contains(jsonError(t, "locked", res), "locked") {
		t.Fatalf("passkey log-in to a locked account: %d %s, want 403 saying it is locked", res.status, res.body)
	}
	if got := s.avatarStatus(t, cookie); got != http.StatusUnauthorized {
		t.Fatalf("passkey session of a locked account: %d, want 401", got)
	}
	if _, err := accounts.Unlock(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if res := s.finishLogin(t, a.Assert(s.loginChallenge(t), pkOrigin, pkRPID)); res.status != http.StatusOK {
		t.Fatalf("passkey log-in after the unlock: %d %s", res.status, res.body)
	}
}

// Passkey-only and back: the password removed (confirmed with it), the
// account then logs in by passkey only; a password set again with a
// passkey's confirmation.
func TestPasskeyOnlyAndBack(t *testing.T) {
	s := newPasskeySite(t, memStore(t), pkKey, nil)
	pw := s.signup(t, "alice")
	a := testpasskey.New(t)
	s.addPasskey(t, pw, map[string]string{"password": testPassword}, a)
	res := s.do(t, req{method: "POST", path: "/account/password/remove", cookie: pw, form: url.Values{"password": {testPassword}}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("remove password: %d %s", res.status, res.body)
	}
	c := sessionCookie(res)
	pw = &http.Cookie{Name: c.Name, Value: c.Value}
	if res := s.login(t, "alice", nil); res.status != http.StatusUnauthorized {
		t.Fatalf("password log-in after removing it: %d", res.status)
	}
	if res := s.finishLogin(t, a.Assert(s.loginChallenge(t), pkOrigin, pkRPID)); res.status != http.StatusOK {
		t.Fatalf("passkey log-in of the passkey-only account: %d %s", res.status, res.body)
	}
	// Back: a new password, confirmed with the passkey.
	res = s.do(t, req{method: "POST", path: "/account/password", cookie: pw,
		form: url.Values{"reauth": {s.reauthProof(t, pw, a)}, "new_password": {newPassword}}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("set a password with a passkey's confirmation: %d %s", res.status, res.body)
	}
	if res := s.do(t, req{method: "POST", path: "/login", form: url.Values{"username": {"alice"}, "password": {newPassword}}}); res.status != http.StatusSeeOther {
		t.Fatalf("log-in with the new password: %d", res.status)
	}
}

// TestPasskeyMetrics: passkey sign-ups and log-ins are counted like the
// password ones, under method="passkey": a success, a wrong assertion (a
// passkey whose signature the account's key does not match) and an unknown
// user handle.
func TestPasskeyMetrics(t *testing.T) {
	m := metrics.New()
	s := newPasskeySite(t, memStore(t), pkKey, func(c *web.SiteConfig) { c.Metrics = m })
	a := testpasskey.New(t)
	s.passkeySignup(t, "alice", a)
	if res := s.finishLogin(t, a.Assert(s.loginChallenge(t), pkOrigin, pkRPID)); res.status != http.StatusOK {
		t.Fatalf("passkey log-in: %d %s", res.status, res.body)
	}
	// Another key under alice's credential id and handle: a wrong signature.
	forged := testpasskey.New(t)
	forged.ID, forged.Handle = a.ID, a.Handle
	if res := s.finishLogin(t, forged.Assert(s.loginChallenge(t), pkOrigin, pkRPID)); res.status != http.StatusUnauthorized {
		t.Fatalf("forged assertion: %d %s, want 401", res.status, res.body)
	}
	stranger := testpasskey.New(t)
	if res := s.finishLogin(t, stranger.Assert(s.loginChallenge(t), pkOrigin, pkRPID)); res.status != http.StatusUnauthorized {
		t.Fatalf("unknown handle: %d %s, want 401", res.status, res.body)
	}
	for _, c := range []struct{ result string }{{"success"}, {"wrong_password"}, {"unknown_user"}} {
		got := sample(t, m, "soulbridge_login_attempts_total", map[string]string{"method": "passkey", "result": c.result}).GetCounter().GetValue()
		if got != 1 {
			t.Errorf("login_attempts_total{method=passkey,result=%s} = %v, want 1", c.result, got)
		}
	}
	if got := sample(t, m, "soulbridge_signups_total", map[string]string{"result": "success"}).GetCounter().GetValue(); got != 1 {
		t.Errorf("signups_total{result=success} = %v, want 1", got)
	}
	// Removing a passkey ends the session it made: revoked.
	pw := s.signup(t, "bob")
	b := testpasskey.New(t)
	id := s.addPasskey(t, pw, map[string]string{"password": testPassword}, b)
	if res := s.finishLogin(t, b.Assert(s.loginChallenge(t), pkOrigin, pkRPID)); res.status != http.StatusOK {
		t.Fatalf("bob's passkey log-in: %d %s", res.status, res.body)
	}
	before := sample(t, m, "soulbridge_sessions_ended_total", map[string]string{"reason": "revoked"}).GetCounter().GetValue()
	if res := s.do(t, req{method: "POST", path: "/account/passkeys/" + id + "/remove", cookie: pw, form: url.Values{"password": {testPassword}}}); res.status != http.StatusSeeOther {
		t.Fatalf("remove bob's passkey: %d %s", res.status, res.body)
	}
	if got := sample(t, m, "soulbridge_sessions_ended_total", map[string]string{"reason": "revoked"}).GetCounter().GetValue(); got != before+1 {
		t.Errorf("sessions_ended_total{reason=revoked} after removing a passkey with one session: %v, want %v", got, before+1)
	}
}

// TestRecoveryAsksToReviewPasskeys: a recovery ends every session but
// leaves the passkeys, which still log in; the account page of the session
// the recovery made asks to review them, a password log-in's does not, and
// an account without passkeys is not asked.
func TestRecoveryAsksToReviewPasskeys(t *testing.T) {
	s := newPasskeySite(t, memStore(t), pkKey, nil)
	pw := s.signup(t, "alice")
	s.addPasskey(t, pw, map[string]string{"password": testPassword}, testpasskey.New(t))
	codes := s.makeCodes(t, pw)
	accountOf := func(c *http.Cookie) string {
		t.Helper()
		res := s.do(t, req{method: "GET", path: "/account", cookie: &http.Cookie{Name: c.Name, Value: c.Value}, header: map[string]string{"Host": "localhost:8080"}})
		if res.status != http.StatusOK {
			t.Fatalf("GET /account: %d", res.status)
		}
		return res.body
	}
	if strings.Contains(accountOf(pw), `id="passkeys-review"`) {
		t.Error("a sign-up session is asked to review its passkeys")
	}
	res := s.recover(t, "alice", codes[0], recoveredPassword, nil)
	if res.status != http.StatusSeeOther {
		t.Fatalf("recovery: %d %.300s", res.status, res.body)
	}
	if !strings.Contains(accountOf(sessionCookie(res)), `id="passkeys-review"`) {
		t.Error("after a recovery the account page does not ask to review the passkeys")
	}
	li := s.do(t, req{method: "POST", path: "/login", form: url.Values{"username": {"alice"}, "password": {recoveredPassword}}})
	if li.status != http.StatusSeeOther {
		t.Fatalf("log-in with the new password: %d", li.status)
	}
	if strings.Contains(accountOf(sessionCookie(li)), `id="passkeys-review"`) {
		t.Error("a password log-in after the recovery is asked to review the passkeys")
	}

	bob := s.signup(t, "bob")
	res = s.recover(t, "bob", s.makeCodes(t, bob)[0], recoveredPassword, nil)
	if strings.Contains(accountOf(sessionCookie(res)), `id="passkeys-review"`) {
		t.Error("an account without passkeys is asked to review them")
	}
}
