package e2e

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testsmtp"
)

// TestMailStartTLSBinary: the real binary sends mail over STARTTLS. An
// SMTP server on loopback offers STARTTLS with a certificate from a test CA
// (SMTP_CA_FILE) and requires AUTH; SMTP_URL is smtp://user:pass@…. A
// member adds an address on /account and confirms it through the mailed
// link (GET shows a form, POST confirms); the mail arrived encrypted, with
// the link on PUBLIC_URL; the server's log names the mail server without
// its password and holds no token.
func TestMailStartTLSBinary(t *testing.T) {
	testbin.SkipShort(t)
	const smtpUser, smtpPass = "mailer", "smtp-secret-passphrase-7"
	smtp := testsmtp.Start(t, testsmtp.StartTLS, smtpUser, smtpPass)
	root := testbin.Root(t)
	// Started as root, the binary reads SMTP_CA_FILE after dropping to
	// testbin.ServiceUID: the CA goes where that user can read it.
	ca, err := os.ReadFile(smtp.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(root, "smtp-ca.pem")
	if err := os.WriteFile(caFile, ca, 0o644); err != nil {
		t.Fatal(err)
	}
	env := keyedEnv(t, filepath.Join(root, "data"))
	env["SMTP_URL"] = "smtp://" + smtpUser + ":" + smtpPass + "@127.0.0.1:" + strconv.Itoa(smtp.Port)
	env["SMTP_CA_FILE"] = caFile
	env["MAIL_FROM"] = "Community <noreply@example.org>"
	env["PUBLIC_URL"] = "http://127.0.0.1:" + env["PORT"]
	p := testbin.Start(t, "mail", env)
	c := testbin.Client(t)
	base := p.Base()
	if base != env["PUBLIC_URL"] {
		t.Fatalf("the server's address %s is not PUBLIC_URL %s", base, env["PUBLIC_URL"])
	}

	const addr = "nora@example.net"
	nora := testbin.Signup(t, c, base, "nora", operatorPassword)
	form := url.Values{"email": {addr}, "password": {operatorPassword}}.Encode()
	if r := testbin.Must(t, c, http.MethodPost, base+"/account/email", nora, "application/x-www-form-urlencoded", strings.NewReader(form)); r.Status != http.StatusSeeOther {
		t.Fatalf("add an address: %d %.300s", r.Status, r.Body)
	}
	m := smtp.Wait(t, 15*time.Second)
	if !m.TLS || len(m.To) != 1 || m.To[0] != addr || !strings.Contains(m.From, "noreply@example.org") {
		t.Fatalf("confirmation mail: TLS=%v from %q to %v, want over TLS from noreply@example.org to %s", m.TLS, m.From, m.To, addr)
	}
	links := regexp.MustCompile(regexp.QuoteMeta(base) + `(/account/email/confirm\?\S+)`).FindStringSubmatch(m.Data)
	if links == nil {
		t.Fatalf("no confirmation link on %s in the mail:\n%s", base, m.Data)
	}
	link := base + links[1]
	if r := testbin.Must(t, c, http.MethodGet, link, "", "", nil); r.Status != http.StatusOK {
		t.Fatalf("open the confirmation link: %d", r.Status)
	}
	if r := testbin.Must(t, c, http.MethodGet, base+"/account", nora, "", nil); strings.Contains(r.Body, "Confirmed address") {
		t.Fatal("the link's GET confirmed the address (mail scanners open links)")
	}
	if r := testbin.Must(t, c, http.MethodPost, link, nora, "application/x-www-form-urlencoded", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("confirm: %d %.300s", r.Status, r.Body)
	}
	if r := testbin.Must(t, c, http.MethodGet, base+"/account", nora, "", nil); !strings.Contains(r.Body, "Confirmed address: <strong>"+addr) {
		t.Fatalf("/account does not show %s as confirmed", addr)
	}

	out := p.Output()
	if !strings.Contains(out, "mail enabled") || !strings.Contains(out, `msg="mail sent"`) {
		t.Errorf("the log does not say mail is enabled and was sent:\n%s", out)
	}
	token, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{smtpPass, token.Query().Get("token"), addr} {
		if strings.Contains(out, secret) {
			t.Errorf("the server's log holds %q", secret)
		}
	}
}
