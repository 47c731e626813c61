package browser_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"soulbridge/internal/testbin"
)

// TestAccountEndsAnotherSessionWithoutJavaScript: logged in in the browser
// (scripts off) and from a second client, the header's Account link opens
// the account page, which lists both with this browser marked; its "End
// session" form ends the other one (whose cookie then gets 401), and "Log
// out everywhere else" ends a third.
func TestAccountEndsAnotherSessionWithoutJavaScript(t *testing.T) {
	srv := startServer(t)
	tb := newTab(t, srv, tabOptions{noScript: true})
	user := "dora"
	tb.signUp(user)
	c := testbin.Client(t)
	other := testbin.Form(t, c, srv.base(), "/login", user, password)

	res := tb.clickAndLoad(`header a[href="/account"]`)
	if res.Status != 200 || tb.path() != "/account" {
		t.Fatalf("the header's Account link: %d at %s, want 200 at /account", res.Status, tb.path())
	}
	if n := eval[int](tb, `document.querySelectorAll('.session').length`); n != 2 {
		t.Fatalf("the account page lists %d sessions, want 2", n)
	}
	if got := eval[string](tb, `document.querySelector('.session.is-current .session-device').textContent`); !strings.Contains(got, "This device") || !strings.Contains(got, "Chrome on Linux") {
		t.Errorf("the current session reads %q, want Chrome on Linux, marked This device", got)
	}
	if got := eval[string](tb, `document.querySelector('.session:not(.is-current) .session-device').textContent`); !strings.Contains(got, "Go HTTP client") {
		t.Errorf("the other session reads %q, want Go HTTP client", got)
	}

	mark := tb.rec.mark()
	res = tb.clickAndLoad(`.session:not(.is-current) form button[type="submit"]`)
	if res.Status != 200 || tb.path() != "/account" {
		t.Fatalf("after End session: %d at %s, want 200 at /account", res.Status, tb.path())
	}
	ended := false
	for _, e := range tb.documentLoads(mark) {
		if e.method == "POST" && strings.HasSuffix(e.path(), "/end") {
			ended = e.status == http.StatusSeeOther
		}
	}
	if !ended {
		t.Errorf("no form POST …/end answered 303: %v", tb.documentLoads(mark))
	}
	if n := eval[int](tb, `document.querySelectorAll('.session').length`); n != 1 {
		t.Fatalf("after ending the other session the page lists %d, want 1", n)
	}
	if r := testbin.Must(t, c, http.MethodGet, srv.base()+"/community/avatar", other, "", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("the ended session's cookie: %d, want 401", r.Status)
	}

	// Log out everywhere else.
	third := testbin.Form(t, c, srv.base(), "/login", user, password)
	tb.reload()
	res = tb.clickAndLoad(`form[action="/account/sessions/revoke-others"] button[type="submit"]`)
	if res.Status != 200 || tb.path() != "/account" {
		t.Fatalf("after Log out everywhere else: %d at %s", res.Status, tb.path())
	}
	if r := testbin.Must(t, c, http.MethodGet, srv.base()+"/community/avatar", third, "", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("a session after Log out everywhere else: %d, want 401", r.Status)
	}
	if n := eval[int](tb, `document.querySelectorAll('.session').length`); n != 1 {
		t.Fatalf("after Log out everywhere else the page lists %d sessions, want 1", n)
	}
	tb.do("still logged in", chromedp.WaitVisible(chromedp.CSS(`header .logout-form`)))
	tb.checkClean(nil)
}
