package browser_test

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testsmtp"
)

// startMailServer is startServer with the optional e-mail on: SMTP_URL to
// smtp (plain text, which the binary accepts to loopback only), MAIL_FROM,
// and PUBLIC_URL equal to the address the browser uses (the port is chosen
// before the start, so the links the binary mails open on this server).
func startMailServer(t *testing.T, smtp *testsmtp.Server) *server {
	t.Helper()
	env := testbin.ServerEnv(t, filepath.Join(testbin.Root(t), "data"), testbin.Env{
		"SECRET_KEY":        testbin.Key(t),
		"LOG_FORMAT":        "text",
		"SHUTDOWN_TIMEOUT":  "5s",
		"DATA_LOCK_TIMEOUT": "10s",
		"SMTP_URL":          "smtp+insecure://127.0.0.1:" + strconv.Itoa(smtp.Port),
		"MAIL_FROM":         "Community <noreply@example.org>",
	})
	env["PUBLIC_URL"] = "http://127.0.0.1:" + env["PORT"]
	s := &server{t: t, env: env}
	s.start()
	if s.base() != env["PUBLIC_URL"] {
		t.Fatalf("the browser's address %s is not PUBLIC_URL %s", s.base(), env["PUBLIC_URL"])
	}
	return s
}

// mailedPath returns the path and query of the one link to srv in a mail.
func mailedPath(t *testing.T, srv *server, m testsmtp.Mail) string {
	t.Helper()
	links := regexp.MustCompile(regexp.QuoteMeta(srv.base())+`(/\S+)`).FindAllStringSubmatch(m.Data, -1)
	if len(links) != 1 {
		t.Fatalf("%d links to %s in the mail, want 1:\n%s", len(links), srv.base(), m.Data)
	}
	return links[0][1]
}

// TestMailResetInBrowser, with JavaScript and without, against the real
// binary and a real SMTP server on loopback: sign up, add an e-mail address
// on /account (password again), confirm it through the mailed link, log
// out, ask /recover to "E-mail me a link", follow the mailed link, set a new
// password and land on /account logged in; the same link again is refused;
// the new password logs in.
func TestMailResetInBrowser(t *testing.T) {
	withAndWithoutScript(t, func(t *testing.T, noScript bool) {
		chromiumPath(t) // skip (or fail in CI) before starting anything
		smtp := testsmtp.Start(t, testsmtp.Plain, "", "")
		srv := startMailServer(t, smtp)
		tb := newTab(t, srv, tabOptions{noScript: noScript})
		const user, addr, newPassword = "mabel", "mabel@example.net", "staple violet quarry"
		text := func() string { return eval[string](tb, `document.body.textContent`) }

		tb.signUp(user)
		// Let /community's own requests finish before leaving it: a
		// request cut short by the next navigation may never be reported
		// done, and checkClean waits for a quiet network.
		tb.idle()
		if res := tb.navigate("/account"); res.Status != 200 {
			t.Fatalf("GET /account: %d", res.Status)
		}
		tb.do("fill in the e-mail form",
			chromedp.SendKeys(chromedp.ID("email"), addr, chromedp.NodeVisible),
			chromedp.SendKeys(chromedp.ID("email_password"), password, chromedp.NodeVisible),
		)
		res := tb.clickAndLoad(`main form[action="/account/email"] button[type="submit"]`)
		if res.Status != 200 || tb.path() != "/account" {
			t.Fatalf("add an address: %d at %s, want 200 at /account", res.Status, tb.path())
		}
		if !strings.Contains(text(), "Waiting for confirmation: "+addr) {
			t.Errorf("/account does not show %s waiting for confirmation", addr)
		}
		tb.checkAxe("account, address waiting for confirmation")
		confirm := smtp.Wait(t, 10*time.Second)
		if len(confirm.To) != 1 || confirm.To[0] != addr || !strings.Contains(confirm.From, "noreply@example.org") {
			t.Fatalf("confirmation mail from %q to %v", confirm.From, confirm.To)
		}
		confirmPath := mailedPath(t, srv, confirm)
		if !strings.HasPrefix(confirmPath, "/account/email/confirm?") {
			t.Fatalf("confirmation link %q", confirmPath)
		}
		if res := tb.navigate(confirmPath); res.Status != 200 {
			t.Fatalf("open the confirmation link: %d", res.Status)
		}
		tb.checkAxe("confirmation link")
		res = tb.clickAndLoad(`main form[action^="/account/email/confirm?"] button[type="submit"]`)
		if res.Status != 200 || tb.path() != "/account" {
			t.Fatalf("confirm: %d at %s, want 200 at /account", res.Status, tb.path())
		}
		if body := text(); !strings.Contains(body, "Confirmed address: "+addr) || strings.Contains(body, "Waiting for confirmation") {
			t.Fatalf("/account after confirming does not show %s as confirmed", addr)
		}
		tb.checkAxe("account with a confirmed address")

		tb.logOut()
		tb.navigate("/login")
		res = tb.clickAndLoad(`main a[href="/recover"]`)
		if res.Status != 200 || tb.path() != "/recover" {
			t.Fatalf("Forgot your password?: %d at %s", res.Status, tb.path())
		}
		tb.checkAxe("recover with E-mail me a link")
		tb.do("fill in the e-mail-me-a-link form",
			chromedp.SendKeys(chromedp.ID("mail_username"), user, chromedp.NodeVisible))
		res = tb.clickAndLoad(`main form[action="/recover/email"] button[type="submit"]`)
		if res.Status != 200 || tb.path() != "/recover/email" {
			t.Fatalf("E-mail me a link: %d at %s", res.Status, tb.path())
		}
		if !strings.Contains(text(), "a link to set a new password is on its way") {
			t.Error("the answer to E-mail me a link does not say a link is on its way")
		}
		tb.checkAxe("E-mail me a link's answer")
		reset := smtp.Wait(t, 10*time.Second)
		if len(reset.To) != 1 || reset.To[0] != addr {
			t.Fatalf("reset mail to %v", reset.To)
		}
		resetPath := mailedPath(t, srv, reset)
		if !strings.HasPrefix(resetPath, "/reset?") {
			t.Fatalf("reset link %q", resetPath)
		}

		setPassword := func() int64 {
			t.Helper()
			if res := tb.navigate(resetPath); res.Status != 200 {
				t.Fatalf("open the reset link: %d", res.Status)
			}
			if !strings.Contains(text(), "Choose a new password for "+user) {
				t.Fatalf("the reset page does not name %s", user)
			}
			tb.checkAxe("reset link")
			tb.do("fill in the new password",
				chromedp.SendKeys(chromedp.ID("new_password"), newPassword, chromedp.NodeVisible))
			return tb.clickAndLoad(`main form.form button[type="submit"]`).Status
		}
		if status := setPassword(); status != 200 || tb.path() != "/account" {
			t.Fatalf("set a new password: %d at %s, want 200 at /account", status, tb.path())
		}
		if n := eval[int](tb, `document.querySelectorAll('header .logout-form').length`); n != 1 {
			t.Fatal("not logged in after the reset")
		}
		if !strings.Contains(text(), "Confirmed address: "+addr) {
			t.Error("/account after the reset does not show the confirmed address")
		}

		// The same link again: refused, and nothing changes.
		if status := setPassword(); status != 400 {
			t.Fatalf("the reset link used twice: %d, want 400", status)
		}
		if !strings.Contains(text(), "This link does not work any more") {
			t.Error("the refused link does not say it does not work any more")
		}
		tb.checkAxe("reset link used twice")

		// The new password logs in.
		tb.logOut()
		tb.navigate("/login")
		tb.do("log in with the new password",
			chromedp.SendKeys(chromedp.ID("username"), user, chromedp.NodeVisible),
			chromedp.SendKeys(chromedp.ID("password"), newPassword, chromedp.NodeVisible),
		)
		res = tb.clickAndLoad(`main form[action="/login"] button[type="submit"]`)
		if res.Status != 200 || tb.path() != "/community" {
			t.Fatalf("log in with the new password: %d at %s", res.Status, tb.path())
		}
		if n := len(smtp.Mails()); n != 2 {
			t.Errorf("%d mails, want 2 (confirmation, reset link)", n)
		}
		tb.checkClean(func(p problem) bool {
			return p.source == "log/network" && strings.HasPrefix(p.url, srv.base()+"/reset?") &&
				p.text == "Failed to load resource: the server responded with a status of 400 (Bad Request)"
		})
	})
}
