package browser_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"soulbridge/internal/testbin"
)

// TestActivityAndNewDeviceNotice, with JavaScript and without: signed up in
// the browser, the account is then tried with a wrong password and logged
// in to from a client new to it. The browser's next page shows "New
// sign-in from Go HTTP client … was this you?"; /account lists the recent
// activity newest first (that log-in marked "New device", the failed
// attempt grouped by network, the sign-up); "Dismiss" hides the notice;
// for a second new log-in, "End that session" ends it (its cookie then
// gets 401). axe-core finds nothing on these pages.
func TestActivityAndNewDeviceNotice(t *testing.T) {
	withAndWithoutScript(t, func(t *testing.T, noScript bool) {
		srv := startServer(t)
		tb := newTab(t, srv, tabOptions{noScript: noScript})
		const user = "ivy"
		tb.signUp(user)
		tb.idle()
		c := testbin.Client(t)
		wrong := url.Values{"username": {user}, "password": {"not the password"}}.Encode()
		if r := testbin.Must(t, c, http.MethodPost, srv.base()+"/login", "", "application/x-www-form-urlencoded", strings.NewReader(wrong)); r.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", r.Status)
		}
		testbin.Form(t, c, srv.base(), "/login", user, password)
		notice := `document.querySelectorAll('.new-sign-in').length`

		waitNotice := func(where string) {
			t.Helper()
			// The log-in's event is written off the request path: a
			// moment may pass before a page can show it.
			for range 20 {
				if res := tb.navigate(where); res.Status != 200 {
					t.Fatalf("GET %s: %d", where, res.Status)
				}
				if eval[int](tb, notice) == 1 {
					return
				}
				tb.idle()
			}
			t.Fatalf("%s shows no new-sign-in notice", where)
		}
		waitNotice("/community")
		text := eval[string](tb, `document.querySelector('.new-sign-in').textContent.replace(/\s+/g, ' ')`)
		if !strings.Contains(text, "New sign-in from Go HTTP client, 127.0.0.1") || !strings.Contains(text, "was this you?") {
			t.Errorf("the notice reads %q", text)
		}
		tb.idle()
		tb.checkContrast("community with a new-sign-in notice")
		tb.checkAxe("community with a new-sign-in notice")

		if res := tb.navigate("/account"); res.Status != 200 {
			t.Fatalf("GET /account: %d", res.Status)
		}
		kinds := eval[string](tb, `[...document.querySelectorAll('.activity-list .activity')].map((li) => li.dataset.kind).join(' ')`)
		if kinds != "log-in log-in-failed sign-up" {
			t.Errorf("the activity list's kinds: %q, want log-in log-in-failed sign-up (newest first)", kinds)
		}
		first := eval[string](tb, `document.querySelector('.activity-list .activity').textContent.replace(/\s+/g, ' ')`)
		if !strings.Contains(first, "Logged in") || !strings.Contains(first, "New device") || !strings.Contains(first, "Go HTTP client") {
			t.Errorf("the latest activity reads %q", first)
		}
		failed := eval[string](tb, `document.querySelector('.activity[data-kind="log-in-failed"]').textContent`)
		if !strings.Contains(failed, "1 failed log-in attempt from 127.0.0.0/24") {
			t.Errorf("the failed attempt reads %q", failed)
		}
		tb.checkContrast("account with recent activity")
		tb.checkAxe("account with recent activity and a notice")

		res := tb.clickAndLoad(`.new-sign-in form[action$="/dismiss"] button[type="submit"]`)
		if res.Status != 200 || tb.path() != "/account" {
			t.Fatalf("Dismiss: %d at %s", res.Status, tb.path())
		}
		if n := eval[int](tb, notice); n != 0 {
			t.Fatal("the notice shows after Dismiss")
		}

		second := testbin.Form(t, c, srv.base(), "/login", user, password)
		waitNotice("/account")
		res = tb.clickAndLoad(`.new-sign-in form[action$="/end"] button[type="submit"]`)
		if res.Status != 200 || tb.path() != "/account" {
			t.Fatalf("End that session: %d at %s", res.Status, tb.path())
		}
		if n := eval[int](tb, notice); n != 0 {
			t.Error("the notice shows after its session ended")
		}
		if r := testbin.Must(t, c, http.MethodGet, srv.base()+"/community/avatar", second, "", nil); r.Status != http.StatusUnauthorized {
			t.Errorf("the ended session's cookie: %d, want 401", r.Status)
		}
		tb.checkAxe("account after ending a session")
		tb.checkClean(nil)
	})
}
