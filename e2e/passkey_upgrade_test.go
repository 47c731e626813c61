package e2e

// Passkeys live in the account record (auth.User.Passkeys, README
// "Passkeys"). During a rolling deploy an instance of the release before
// them shares one Redis with this build: its rewrites of the account (a
// password change, "log out everywhere else") keep the passkeys and the
// user handle (it keeps the fields it does not know), so they still log in
// on this build; and the account's deletion there removes them with it.

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testpasskey"
)

// releaseBeforePasskeys is main just before passkeys.
const releaseBeforePasskeys = "8eb59aa4d56b53ddfb70d19ab4b1216c36f692fc"

func TestPasskeysSurviveTheReleaseBeforeThemOnOneRedis(t *testing.T) {
	const pw, pw2 = "correct horse battery", "staple violet quarry"
	prev, next, c, _ := mixedOnOneRedis(t, testbin.BuildRevision(t, releaseBeforePasskeys))
	// This build's relying party: http://localhost:PORT (no PUBLIC_URL).
	u, err := url.Parse(next.Base())
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://localhost:" + u.Port()
	postJSON := func(path, cookie string, v any) testbin.Response {
		t.Helper()
		b, _ := json.Marshal(v)
		return testbin.Must(t, c, http.MethodPost, next.Base()+path, cookie, "application/json", strings.NewReader(string(b)))
	}
	login := func(a *testpasskey.Authenticator) testbin.Response {
		t.Helper()
		r := postJSON("/passkeys/login/begin", "", struct{}{})
		if r.Status != http.StatusOK {
			t.Fatalf("login begin: %d %s", r.Status, r.Body)
		}
		return postJSON("/passkeys/login/finish", "", map[string]any{
			"credential": json.RawMessage(a.Assert(testpasskey.Challenge(t, []byte(r.Body)), origin, "localhost")),
		})
	}

	// This build: a password account adds a passkey.
	s := testbin.Signup(t, c, next.Base(), "erin", pw)
	r := postJSON("/passkeys/add/begin", s, map[string]string{"password": pw})
	if r.Status != http.StatusOK {
		t.Fatalf("add begin: %d %s", r.Status, r.Body)
	}
	a := testpasskey.New(t)
	handle := testpasskey.UserID(t, []byte(r.Body))
	cred := a.Create(testpasskey.Challenge(t, []byte(r.Body)), handle, origin, "localhost")
	r = postJSON("/passkeys/add/finish", s, map[string]any{
		"handle": base64.RawURLEncoding.EncodeToString(handle), "name": "Laptop", "credential": json.RawMessage(cred),
	})
	if r.Status != http.StatusOK {
		t.Fatalf("add finish: %d %s", r.Status, r.Body)
	}

	// The previous release rewrites the account twice.
	s = changePassword(t, c, prev.Base(), s, pw, pw2)
	if r := testbin.Must(t, c, http.MethodPost, prev.Base()+"/account/sessions/revoke-others", s, "application/x-www-form-urlencoded", strings.NewReader("")); r.Status != http.StatusSeeOther {
		t.Fatalf("log out everywhere else on the previous release: %d", r.Status)
	}

	// This build still logs in with the passkey, and lists it.
	r = login(a)
	if r.Status != http.StatusOK || r.SessionCookie() == "" {
		t.Fatalf("passkey log-in after the previous release rewrote the account: %d %s", r.Status, r.Body)
	}
	if page := testbin.Must(t, c, http.MethodGet, next.Base()+"/account", r.SessionCookie(), "", nil); !strings.Contains(page.Body, "Laptop") {
		t.Fatalf("the account page no longer lists the passkey: %.500s", page.Body)
	}

	// Deleted on the previous release, the account's passkey logs nobody in.
	del := url.Values{"password": {pw2}}
	if r := testbin.Must(t, c, http.MethodPost, prev.Base()+"/account/delete", s, "application/x-www-form-urlencoded", strings.NewReader(del.Encode())); r.Status != http.StatusSeeOther {
		t.Fatalf("deletion on the previous release: %d %s", r.Status, r.Body)
	}
	waitFor(t, 5*time.Second, "the deletion seen by this build", func() bool { return login(a).Status == http.StatusUnauthorized })

	// A passkey-only account (its password removed on this build): the
	// previous release, which knows no such account, refuses its old
	// password like a wrong one.
	f := testbin.Signup(t, c, next.Base(), "fay", pw)
	r = postJSON("/passkeys/add/begin", f, map[string]string{"password": pw})
	if r.Status != http.StatusOK {
		t.Fatalf("add begin: %d %s", r.Status, r.Body)
	}
	b := testpasskey.New(t)
	handle = testpasskey.UserID(t, []byte(r.Body))
	r = postJSON("/passkeys/add/finish", f, map[string]any{
		"handle": base64.RawURLEncoding.EncodeToString(handle), "name": "Phone",
		"credential": json.RawMessage(b.Create(testpasskey.Challenge(t, []byte(r.Body)), handle, origin, "localhost")),
	})
	if r.Status != http.StatusOK {
		t.Fatalf("add finish: %d %s", r.Status, r.Body)
	}
	rm := url.Values{"password": {pw}}
	if r := testbin.Must(t, c, http.MethodPost, next.Base()+"/account/password/remove", f, "application/x-www-form-urlencoded", strings.NewReader(rm.Encode())); r.Status != http.StatusSeeOther {
		t.Fatalf("remove the password: %d %s", r.Status, r.Body)
	}
	old := url.Values{"username": {"fay"}, "password": {pw}}
	if r := testbin.Must(t, c, http.MethodPost, prev.Base()+"/login", "", "application/x-www-form-urlencoded", strings.NewReader(old.Encode())); r.Status != http.StatusUnauthorized {
		t.Errorf("the old password of a passkey-only account on the previous release: %d, want 401", r.Status)
	}
}
