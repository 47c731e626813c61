package e2e

// Members' activity events (events:<name>:…, docs/architecture.md, "Recent
// activity") during a rolling deploy: an instance of a release that knows
// no events shares one Redis with this build. Its rewrites of an account
// leave the events alone; its deletion of an account leaves them behind,
// and the next owner of the name does not see them.

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

func TestActivityAcrossTheReleaseBeforeIt(t *testing.T) {
	const pw, pw2 = "correct horse battery", "staple violet quarry"
	prev, next, c, _ := mixedOnOneRedis(t, testbin.BuildRevision(t, releaseBeforeOperator))
	post := func(base, path, cookie string, form url.Values) testbin.Response {
		t.Helper()
		return testbin.Must(t, c, http.MethodPost, base+path, cookie, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	}
	kindsOn := func(cookie string) []string {
		t.Helper()
		var k []string
		for _, e := range activityOn(t, c, next.Base(), cookie) {
			k = append(k, e.Kind)
		}
		return k
	}

	// Events made on this build; the previous release changes the password
	// (a rewrite of the account); the events are all still there, in order.
	s := testbin.Signup(t, c, next.Base(), "erin", pw)
	if r := post(next.Base(), "/login", "", url.Values{"username": {"erin"}, "password": {"not the password"}}); r.Status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", r.Status)
	}
	time.Sleep(20 * time.Millisecond)
	testbin.Form(t, c, next.Base(), "/login", "erin", pw)
	onPrev := testbin.Form(t, c, prev.Base(), "/login", "erin", pw)
	changePassword(t, c, prev.Base(), onPrev, pw, pw2)
	s = testbin.Form(t, c, next.Base(), "/login", "erin", pw2)
	want := []string{"log-in", "log-in", "log-in-failed", "sign-up"}
	waitFor(t, 5*time.Second, "erin's activity on this build", func() bool { return slices.Equal(kindsOn(s), want) })

	// The previous release deletes the account (it knows no events: they
	// stay); the name's next owner sees only its own.
	if r := post(prev.Base(), "/account/delete", onPrev, url.Values{"password": {pw2}}); r.Status != http.StatusSeeOther {
		// onPrev ended with the password change: log in there again.
		again := testbin.Form(t, c, prev.Base(), "/login", "erin", pw2)
		if r := post(prev.Base(), "/account/delete", again, url.Values{"password": {pw2}}); r.Status != http.StatusSeeOther {
			t.Fatalf("delete on the previous release: %d", r.Status)
		}
	}
	s = testbin.Signup(t, c, next.Base(), "erin", pw)
	waitFor(t, 5*time.Second, "the new erin's sign-up", func() bool { return len(kindsOn(s)) > 0 })
	if got := kindsOn(s); !slices.Equal(got, []string{"sign-up"}) {
		t.Errorf("the name's next owner sees %v, want only its sign-up", got)
	}
}
