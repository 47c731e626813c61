package browser_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

var recoveryCode = regexp.MustCompile(`[A-Z2-7]{4}(?:-[A-Z2-7]{4}){5}`)

// TestRecoveryCodes, with JavaScript and without: sign up (the community
// page points to recovery codes, once), make the codes on /account, log out,
// follow "Forgot your password?" on the log-in page, recover with one code
// and a new password (after a wrong code, refused with 400): logged in on
// /account, which says 9 codes are left. axe-core finds nothing on any of
// these pages.
func TestRecoveryCodes(t *testing.T) {
	withAndWithoutScript(t, func(t *testing.T, noScript bool) {
		srv := startServer(t)
		tb := newTab(t, srv, tabOptions{noScript: noScript})
		user := "esme"
		tb.signUp(user)
		if n := eval[int](tb, `document.querySelectorAll('main a[href="/account#recovery-title"]').length`); n != 1 {
			t.Fatalf("the community page after sign-up has %d links to recovery codes, want 1", n)
		}
		tb.checkContrast("community with the recovery banner")
		tb.checkAxe("community with the recovery banner")
		res := tb.clickAndLoad(`main a[href="/account#recovery-title"]`)
		if res.Status != 200 || tb.path() != "/account" {
			t.Fatalf("the banner's link: %d at %s", res.Status, tb.path())
		}
		if !strings.Contains(eval[string](tb, `document.body.textContent`), "You have no recovery codes.") {
			t.Error("the account page does not say there are no codes yet")
		}
		tb.checkAxe("account without recovery codes")
		tb.do("enter the password for recovery codes",
			chromedp.SendKeys(chromedp.ID("recovery_password"), password, chromedp.NodeVisible))
		res = tb.clickAndLoad(`form[action="/account/recovery-codes"] button[type="submit"]`)
		if res.Status != 200 {
			t.Fatalf("making recovery codes: %d", res.Status)
		}
		codes := recoveryCode.FindAllString(eval[string](tb, `document.querySelector('pre.recovery-codes').textContent`), -1)
		if len(codes) != 10 {
			t.Fatalf("the page shows %d codes, want 10", len(codes))
		}
		href := eval[string](tb, `document.querySelector('a[download]').getAttribute('href')`)
		if !strings.HasPrefix(href, "data:text/plain") || !strings.Contains(href, codes[9]) {
			t.Errorf("the download link %.80q does not hold the codes as text", href)
		}
		tb.checkContrast("recovery codes")
		tb.checkAxe("recovery codes")

		tb.logOut()
		tb.navigate("/login")
		tb.checkAxe("login with Forgot your password?")
		res = tb.clickAndLoad(`main a[href="/recover"]`)
		if res.Status != 200 || tb.path() != "/recover" {
			t.Fatalf("Forgot your password?: %d at %s", res.Status, tb.path())
		}
		tb.checkContrast("recover")
		tb.checkAxe("recover")
		// A wrong code first: the refusal is a page of its own.
		tb.do("fill in the recovery form with a wrong code",
			chromedp.SendKeys(chromedp.ID("username"), user, chromedp.NodeVisible),
			chromedp.SendKeys(chromedp.ID("code"), "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA", chromedp.NodeVisible),
			chromedp.SendKeys(chromedp.ID("new_password"), "staple violet quarry", chromedp.NodeVisible),
		)
		if res := tb.clickAndLoad(`main form[action="/recover"] button[type="submit"]`); res.Status != 400 {
			t.Fatalf("a wrong recovery code: %d, want 400", res.Status)
		}
		tb.checkContrast("recover, wrong code")
		tb.checkAxe("recover, wrong code")
		tb.navigate("/recover")
		tb.do("fill in the recovery form",
			chromedp.SendKeys(chromedp.ID("username"), user, chromedp.NodeVisible),
			chromedp.SendKeys(chromedp.ID("code"), strings.ToLower(codes[4]), chromedp.NodeVisible),
			chromedp.SendKeys(chromedp.ID("new_password"), "staple violet quarry", chromedp.NodeVisible),
		)
		res = tb.clickAndLoad(`main form[action="/recover"] button[type="submit"]`)
		if res.Status != 200 || tb.path() != "/account" {
			t.Fatalf("after recovery: %d at %s, want 200 at /account", res.Status, tb.path())
		}
		if !strings.Contains(eval[string](tb, `document.body.textContent`), "You have 9 recovery codes left.") {
			t.Error("the account page after recovery does not say 9 codes are left")
		}
		tb.checkAxe("account after recovery")
		tb.navigate("/community")
		if n := eval[int](tb, `document.querySelectorAll('main a[href="/account#recovery-title"]').length`); n != 0 {
			t.Error("the recovery-codes banner shows again")
		}
		tb.checkClean(func(p problem) bool { // the wrong code's 400 page
			return p.source == "log/network" && p.url == srv.base()+"/recover" &&
				p.text == "Failed to load resource: the server responded with a status of 400 (Bad Request)"
		})
	})
}
