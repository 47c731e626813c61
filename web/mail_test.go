package web_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"soulbridge/internal/testsmtp"
	"soulbridge/mailer"
)

const mailSMTPPass = "smtp-Pass-Xq71-secret"

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

var linkRE = regexp.MustCompile(`https://community\.example\.org(/[^\s]+)`)

// linkIn returns the path and query of the site link in a mail.
func linkIn(t *testing.T, m testsmtp.Mail) string {
	t.Helper()
	got := linkRE.FindStringSubmatch(m.Data)
	if got == nil {
		t.Fatalf("no link in the mail:\n%s", m.Data)
	}
	return got[1]
}

// TestMailReset runs the optional e-mail against a real SMTP server on
// loopback (STARTTLS, a test CA, AUTH): add and confirm an address, ask
// for a link, follow it and be logged in; a link used twice or for another
// account refused; the old address told of a change; the answer the same
// for every name; the log without tokens or the SMTP password.
func TestMailReset(t *testing.T) {
	smtpSrv := testsmtp.Start(t, testsmtp.StartTLS, "mailer", mailSMTPPass)
	settings, err := mailer.Parse("smtp://mailer:"+mailSMTPPass+"@127.0.0.1:"+strconv.Itoa(smtpSrv.Port), "noreply@example.org", smtpSrv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuf
	log := slog.New(slog.NewTextHandler(&logs, nil))
	m, err := mailer.New(settings, log, mailer.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(time.Second) })
	s := newSite(t, siteOptions{logger: log, mailer: m, publicURL: "https://community.example.org/"})
	dora := s.signup(t, "dora")
	s.signup(t, "bob")

	// Add an address: the password is checked first.
	if res := s.do(t, req{method: "POST", path: "/account/email", cookie: dora,
		form: url.Values{"email": {"dora@example.net"}, "password": {"wrong password here"}}}); res.status != http.StatusForbidden {
		t.Fatalf("wrong password: %d, want 403", res.status)
	}
	if res := s.do(t, req{method: "POST", path: "/account/email", cookie: dora,
		form: url.Values{"email": {"not an address"}, "password": {testPassword}}}); res.status != http.StatusBadRequest {
		t.Fatalf("bad address: %d, want 400", res.status)
	}
	res := s.do(t, req{method: "POST", path: "/account/email", cookie: dora,
		form: url.Values{"email": {"dora@example.net"}, "password": {testPassword}}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("add address: %d %.300s", res.status, res.body)
	}
	confirm := smtpSrv.Wait(t, 10*time.Second)
	if len(confirm.To) != 1 || confirm.To[0] != "dora@example.net" || !confirm.TLS {
		t.Fatalf("confirmation mail: %+v", confirm)
	}
	confirmLink := linkIn(t, confirm)
	if !strings.HasPrefix(confirmLink, "/account/email/confirm?") {
		t.Fatalf("confirmation link %q: the token must be in the query string", confirmLink)
	}

	// Unconfirmed: asking for a link mails nothing, with the same answer.
	ask := func(name string) resp {
		t.Helper()
		return s.do(t, req{method: "POST", path: "/recover/email", form: url.Values{"username": {name}}})
	}
	before := ask("dora")
	if before.status != http.StatusOK || !strings.Contains(before.body, "is on its way") {
		t.Fatalf("ask: %d %.300s", before.status, before.body)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(smtpSrv.Mails()); n != 1 {
		t.Fatalf("%d mails: an unconfirmed address was mailed a reset link", n)
	}

	// Confirm: GET changes nothing, POST confirms, once.
	if page := s.do(t, req{method: "GET", path: confirmLink}); page.status != http.StatusOK {
		t.Fatalf("GET confirm: %d", page.status)
	}
	if r := s.do(t, req{method: "POST", path: confirmLink}); r.status != http.StatusSeeOther {
		t.Fatalf("POST confirm: %d %.300s", r.status, r.body)
	}
	if r := s.do(t, req{method: "POST", path: confirmLink}); r.status != http.StatusBadRequest {
		t.Fatalf("confirm twice: %d, want 400", r.status)
	}
	if acct := s.do(t, req{method: "GET", path: "/account", cookie: dora}); !strings.Contains(acct.body, "dora@example.net") {
		t.Fatal("/account does not show the confirmed address")
	}

	// Ask for a link: the same answer for dora, a name without an address
	// and a name that does not exist; only dora's address gets mail.
	for _, name := range []string{"nobody", "bob", "dora"} {
		if r := ask(name); r.status != before.status || r.body != before.body {
			t.Fatalf("answer for %s differs: %d", name, r.status)
		}
	}
	reset := smtpSrv.Wait(t, 10*time.Second)
	if reset.To[0] != "dora@example.net" {
		t.Fatalf("reset mail to %v", reset.To)
	}
	resetLink := linkIn(t, reset)
	if !strings.HasPrefix(resetLink, "/reset?") {
		t.Fatalf("reset link %q", resetLink)
	}
	u, _ := url.Parse(resetLink)
	token := u.Query().Get("token")
	// The token for another account does not work.
	bobLink := "/reset?" + url.Values{"user": {"bob"}, "token": {token}}.Encode()
	if r := s.do(t, req{method: "POST", path: bobLink, form: url.Values{"new_password": {"staple violet quarry"}}}); r.status != http.StatusBadRequest {
		t.Fatalf("dora's token for bob: %d, want 400", r.status)
	}
	r := s.do(t, req{method: "POST", path: resetLink, form: url.Values{"new_password": {"staple violet quarry"}}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/account" || sessionCookie(r) == nil {
		t.Fatalf("follow the reset link: %d %q", r.status, r.header.Get("Location"))
	}
	if again := s.do(t, req{method: "POST", path: resetLink, form: url.Values{"new_password": {"another fine passphrase"}}}); again.status != http.StatusBadRequest {
		t.Fatalf("the link used twice: %d, want 400", again.status)
	}
	in := s.do(t, req{method: "POST", path: "/login", form: url.Values{"username": {"dora"}, "password": {"staple violet quarry"}}})
	if in.status != http.StatusSeeOther {
		t.Fatalf("log in with the new password: %d", in.status)
	}
	dora = sessionCookie(in)
	// That log-in came from a browser new to the account: its confirmed
	// address is told.
	if nd := smtpSrv.Wait(t, 10*time.Second); nd.To[0] != "dora@example.net" || !strings.Contains(nd.Data, "new device") {
		t.Fatalf("new-device notice: %+v", nd)
	}

	// Change the address: the old one is told once the new one is confirmed.
	if r := s.do(t, req{method: "POST", path: "/account/email", cookie: &http.Cookie{Name: dora.Name, Value: dora.Value},
		form: url.Values{"email": {"new@example.net"}, "password": {"staple violet quarry"}}}); r.status != http.StatusSeeOther {
		t.Fatalf("change address: %d %.300s", r.status, r.body)
	}
	c2 := smtpSrv.Wait(t, 10*time.Second)
	if c2.To[0] != "new@example.net" {
		t.Fatalf("second confirmation to %v", c2.To)
	}
	if r := s.do(t, req{method: "POST", path: linkIn(t, c2)}); r.status != http.StatusSeeOther {
		t.Fatalf("confirm the new address: %d", r.status)
	}
	notice := smtpSrv.Wait(t, 10*time.Second)
	if notice.To[0] != "dora@example.net" || !strings.Contains(notice.Data, "changed") {
		t.Fatalf("old address not told: %+v", notice)
	}

	out := logs.String()
	for _, secret := range []string{mailSMTPPass, token, u.Query().Get("token"), mustQuery(t, confirmLink, "token")} {
		if secret != "" && strings.Contains(out, secret) {
			t.Fatalf("the log holds a secret %q", secret)
		}
	}
}

func mustQuery(t *testing.T, link, key string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get(key)
}

// TestMailResetThrottled: "e-mail me a link" is throttled per name.
func TestMailResetThrottled(t *testing.T) {
	smtpSrv := testsmtp.Start(t, testsmtp.Plain, "", "")
	settings, err := mailer.Parse("smtp+insecure://127.0.0.1:"+strconv.Itoa(smtpSrv.Port), "noreply@example.org", "")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := mailer.New(settings, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { m.Close(time.Second) })
	s := newSite(t, siteOptions{mailer: m, publicURL: "https://community.example.org"})
	var last resp
	for range 4 {
		last = s.do(t, req{method: "POST", path: "/recover/email", form: url.Values{"username": {"nobody"}}})
	}
	if last.status != http.StatusTooManyRequests {
		t.Fatalf("4th request for one name: %d, want 429", last.status)
	}
}

// TestNoMailRoutesWithoutMail: without a mailer the routes do not exist.
func TestNoMailRoutesWithoutMail(t *testing.T) {
	s := newSite(t, siteOptions{})
	if r := s.do(t, req{method: "POST", path: "/recover/email", form: url.Values{"username": {"x"}}}); r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
		t.Fatalf("/recover/email without mail: %d", r.status)
	}
	if r := s.do(t, req{method: "GET", path: "/recover"}); strings.Contains(r.body, "E-mail me a link") {
		t.Fatal("/recover offers mail without a mailer")
	}
}
