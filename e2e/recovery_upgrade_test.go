package e2e

// Recovery codes live in the account record (docs/architecture.md,
// "Recovery codes"). During a rolling deploy an instance of the release
// before them shares one Redis with this build: its rewrites of the account
// (a password change, "log out everywhere else") keep the codes, which then
// still work on this build, once each.

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"soulbridge/internal/testbin"
)

// releaseBeforeRecoveryCodes is main just before recovery codes.
const releaseBeforeRecoveryCodes = "26ed4ef7e192386881263b2a754302c78cb43ded"

var recoveryCodePattern = regexp.MustCompile(`[A-Z2-7]{4}(?:-[A-Z2-7]{4}){5}`)

func TestRecoveryCodesSurviveTheReleaseBeforeThemOnOneRedis(t *testing.T) {
	old := testbin.BuildRevision(t, releaseBeforeRecoveryCodes)
	const pw, pw2, pw3 = "correct horse battery", "staple violet quarry", "quarry staple violet"
	prev, next, c, _ := mixedOnOneRedis(t, old)
	post := func(base, path, cookie string, form url.Values) testbin.Response {
		t.Helper()
		return testbin.Must(t, c, http.MethodPost, base+path, cookie, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	}

	s := testbin.Signup(t, c, next.Base(), "dana", pw)
	r := post(next.Base(), "/account/recovery-codes", s, url.Values{"password": {pw}})
	codes := recoveryCodePattern.FindAllString(r.Body, -1)
	if r.Status != http.StatusOK || len(codes) < 10 {
		t.Fatalf("recovery codes on this build: %d, %d codes", r.Status, len(codes))
	}

	// The previous release rewrites the account twice.
	s = changePassword(t, c, prev.Base(), s, pw, pw2)
	if r := post(prev.Base(), "/account/sessions/revoke-others", s, url.Values{}); r.Status != http.StatusSeeOther {
		t.Fatalf("log out everywhere else on the previous release: %d", r.Status)
	}

	// This build still honours the codes, once each.
	recover := func(code string) testbin.Response {
		return post(next.Base(), "/recover", "", url.Values{"username": {"dana"}, "code": {code}, "new_password": {pw3}})
	}
	if r := recover(codes[0]); r.Status != http.StatusSeeOther || r.SessionCookie() == "" {
		t.Fatalf("a code after the previous release rewrote the account: %d; want 303 with a session", r.Status)
	}
	if r := recover(codes[0]); r.Status != http.StatusBadRequest {
		t.Fatalf("the same code again: %d, want 400", r.Status)
	}
	testbin.Form(t, c, prev.Base(), "/login", "dana", pw3)
}
