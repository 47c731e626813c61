package web_test

import (
	"bytes"
	"context"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestLockedLogIn: an operator's lock ends the member's session; the
// correct password then gets 403 saying the account is locked and to
// contact the operator (a wrong one stays 401); after unlock, /account says
// an operator changed the account.
func TestLockedLogIn(t *testing.T) {
	s := newSite(t, siteOptions{})
	ctx := context.Background()
	cookie := s.signup(t, "alice")
	accounts := s.server.Services().Accounts
	if _, err := accounts.Lock(ctx, "alice", "spam"); err != nil {
		t.Fatal(err)
	}
	if res := s.do(t, req{method: "GET", path: "/community/avatar", cookie: cookie}); res.status != http.StatusUnauthorized {
		t.Errorf("the session after the lock: %d, want 401", res.status)
	}
	res := s.login(t, "alice", nil)
	if res.status != http.StatusForbidden || !strings.Contains(res.body, "locked") || !strings.Contains(res.body, "operator") {
		t.Errorf("log-in of a locked account: %d %.300s, want 403 saying locked and operator", res.status, res.body)
	}
	if strings.Contains(res.body, "spam") {
		t.Error("the log-in answer shows the operator's reason")
	}
	if _, err := accounts.Unlock(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	res = s.login(t, "alice", nil)
	if res.status != http.StatusSeeOther {
		t.Fatalf("log-in after unlock: %d", res.status)
	}
	page := s.do(t, req{method: "GET", path: "/account", cookie: sessionCookie(res)})
	if !strings.Contains(page.body, "An operator of this site unlocked your account") {
		t.Errorf("/account does not show the operator's note: %.500s", page.body)
	}
}

// TestUploadsOff: with uploads turned off by an operator, an upload is
// refused 403 with a reason, before the body is read.
func TestUploadsOff(t *testing.T) {
	s := newSite(t, siteOptions{})
	cookie := s.signup(t, "bob")
	upload := func() resp {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", "x.png")
		fw.Write([]byte("not an image"))
		mw.Close()
		return s.do(t, req{method: "POST", path: "/community/avatar/upload", cookie: cookie, body: body.String(),
			header: map[string]string{"Content-Type": mw.FormDataContentType(), "Accept": "application/json"}})
	}
	if res := upload(); res.status != http.StatusUnsupportedMediaType {
		t.Fatalf("upload with uploads on: %d, want 415", res.status)
	}
	if _, err := s.server.Services().Accounts.SetUploads(context.Background(), "bob", false, "offensive"); err != nil {
		t.Fatal(err)
	}
	if res := upload(); res.status != http.StatusForbidden || !strings.Contains(jsonError(t, "upload with uploads off", res), "operator") {
		t.Errorf("upload with uploads off: %d %s, want 403 naming the operator", res.status, res.body)
	}
}

// TestRecoverLocked: a right recovery code for a locked account gets the
// locked answer (403), not a session.
func TestRecoverLocked(t *testing.T) {
	s := newSite(t, siteOptions{})
	ctx := context.Background()
	s.signup(t, "carol")
	accounts := s.server.Services().Accounts
	codes, err := accounts.NewRecoveryCodes(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.Lock(ctx, "carol", "spam"); err != nil {
		t.Fatal(err)
	}
	res := s.do(t, req{method: "POST", path: "/recover", form: url.Values{
		"username": {"carol"}, "code": {codes[0]}, "new_password": {"staple violet quarry"}}})
	if res.status != http.StatusForbidden || !strings.Contains(res.body, "locked") || sessionCookie(res) != nil {
		t.Errorf("recovery of a locked account: %d (cookie %v) %.300s, want 403 locked and no session", res.status, sessionCookie(res), res.body)
	}
}

// TestResetLinkPage: an operator's reset link shows the form, sets the new
// password once (303 to /account, logged in, other sessions ended), then
// answers 400; the token never appears in the log.
func TestResetLinkPage(t *testing.T) {
	var logBuf bytes.Buffer
	s := newSite(t, siteOptions{logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	old := s.signup(t, "dora")
	tok, err := s.server.Services().Accounts.NewResetToken(context.Background(), "dora")
	if err != nil {
		t.Fatal(err)
	}
	link := "/reset?" + url.Values{"user": {"dora"}, "token": {tok}}.Encode()
	if page := s.do(t, req{method: "GET", path: link}); page.status != http.StatusOK || !strings.Contains(page.body, `name="new_password"`) {
		t.Fatalf("GET the link: %d %.300s", page.status, page.body)
	}
	if res := s.do(t, req{method: "POST", path: link, form: url.Values{"new_password": {"short"}}}); res.status != http.StatusBadRequest {
		t.Fatalf("a bad new password: %d, want 400", res.status)
	}
	res := s.do(t, req{method: "POST", path: link, form: url.Values{"new_password": {"staple violet quarry"}}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/account" || sessionCookie(res) == nil {
		t.Fatalf("POST the link: %d Location %q, want 303 /account with a session", res.status, res.header.Get("Location"))
	}
	if r := s.do(t, req{method: "GET", path: "/community/avatar", cookie: old}); r.status != http.StatusUnauthorized {
		t.Errorf("the earlier session after the reset: %d, want 401", r.status)
	}
	if again := s.do(t, req{method: "POST", path: link, form: url.Values{"new_password": {"another fine passphrase"}}}); again.status != http.StatusBadRequest {
		t.Errorf("the link used twice: %d, want 400", again.status)
	}
	if strings.Contains(logBuf.String(), tok) {
		t.Error("the log holds the reset token")
	}
}
