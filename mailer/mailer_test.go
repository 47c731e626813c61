package mailer

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"soulbridge/internal/testsmtp"
)

const testPass = "s3cret-Smtp-Pass-91"

func TestParseRules(t *testing.T) {
	cases := []struct {
		url, from, ca string
		ok            bool
		sec           Security
		port          int
		want          string // part of the error
	}{
		{"smtp://u:" + testPass + "@mail.example.org", "a@example.org", "", true, StartTLS, 587, ""},
		{"smtp://u:" + testPass + "@mail.example.org:2525", "a@example.org", "", true, StartTLS, 2525, ""},
		{"smtps://u:" + testPass + "@mail.example.org", "Site <a@example.org>", "", true, ImplicitTLS, 465, ""},
		{"smtp+insecure://127.0.0.1:2525", "a@example.org", "", true, Insecure, 2525, ""},
		{"smtp+insecure://[::1]:2525", "a@example.org", "", true, Insecure, 2525, ""},
		{"smtp+insecure://localhost:2525", "a@example.org", "", true, Insecure, 2525, ""},
		{"smtp+insecure://u:" + testPass + "@mail.example.org:25", "a@example.org", "", false, 0, 0, "loopback"},
		{"smtp+insecure://10.0.0.1:25", "a@example.org", "", false, 0, 0, "loopback"},
		{"http://u:" + testPass + "@mail.example.org", "a@example.org", "", false, 0, 0, "must start with"},
		{"smtp://u:" + testPass + "@mail.example.org", "", "", false, 0, 0, "MAIL_FROM"},
		{"smtp://u:" + testPass + "@mail.example.org", "not an address", "", false, 0, 0, "MAIL_FROM"},
		{"smtp://u:" + testPass + "@mail.example.org:99999", "a@example.org", "", false, 0, 0, "port"},
		{"smtp://u:" + testPass + "@mail.example.org", "a@example.org", "/nonexistent/ca.pem", false, 0, 0, "SMTP_CA_FILE"},
		{"smtp://:" + testPass + "@", "a@example.org", "", false, 0, 0, "no host"},
	}
	for _, c := range cases {
		s, err := Parse(c.url, c.from, c.ca)
		if err != nil && strings.Contains(err.Error(), testPass) {
			t.Errorf("%s: error shows the password: %v", c.url, err)
		}
		if c.ok != (err == nil) {
			t.Errorf("Parse(%q, %q): err=%v, want ok=%v", c.url, c.from, err, c.ok)
			continue
		}
		if !c.ok {
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse(%q): %v, want it to mention %q", c.url, err, c.want)
			}
			continue
		}
		if s.Security != c.sec || s.Port != c.port {
			t.Errorf("Parse(%q) = %+v, want security %v port %d", c.url, s.Security, c.sec, c.port)
		}
		if strings.Contains(s.Redacted(), testPass) {
			t.Errorf("Redacted() shows the password: %s", s.Redacted())
		}
	}
}

// syncBuf is a log destination safe for the background sender.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func settingsFor(t *testing.T, scheme string, srv *testsmtp.Server) Settings {
	t.Helper()
	u := scheme + "://127.0.0.1:" + strconv.Itoa(srv.Port)
	if srv.User != "" {
		u = scheme + "://" + srv.User + ":" + srv.Pass + "@127.0.0.1:" + strconv.Itoa(srv.Port)
	}
	s, err := Parse(u, "Soulbridge <noreply@example.org>", srv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSendStartTLSAndImplicitTLS(t *testing.T) {
	for _, tc := range []struct {
		scheme string
		mode   testsmtp.Mode
	}{{"smtp", testsmtp.StartTLS}, {"smtps", testsmtp.TLS}} {
		t.Run(tc.scheme, func(t *testing.T) {
			srv := testsmtp.Start(t, tc.mode, "mailuser", testPass)
			m, err := New(settingsFor(t, tc.scheme, srv), slog.New(slog.DiscardHandler), WithTimeout(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close(time.Second)
			err = m.SendNow(context.Background(), Message{To: "member@example.net", Subject: "Hello", Body: "token=abc", Kind: "test"})
			if err != nil {
				t.Fatal(err)
			}
			got := srv.Wait(t, 5*time.Second)
			if !got.TLS || got.From != "noreply@example.org" || len(got.To) != 1 || got.To[0] != "member@example.net" || !strings.Contains(got.Data, "token=abc") {
				t.Fatalf("received %+v", got)
			}
		})
	}
}

// smtp:// means STARTTLS is required: a server that does not offer it gets
// nothing, not the message in plain text.
func TestStartTLSRequiredNoFallback(t *testing.T) {
	srv := testsmtp.Start(t, testsmtp.Plain, "", "")
	s := settingsFor(t, "smtp", srv)
	m, err := New(s, slog.New(slog.DiscardHandler), WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(time.Second)
	if err := m.SendNow(context.Background(), Message{To: "member@example.net", Subject: "x", Body: "y"}); err == nil {
		t.Fatal("sent without STARTTLS")
	}
	if n := len(srv.Mails()); n != 0 {
		t.Fatalf("server received %d message(s) in plain text", n)
	}
	// The same server, named as plain loopback SMTP, is fine (tests).
	m2, _ := New(settingsFor(t, "smtp+insecure", srv), slog.New(slog.DiscardHandler), WithTimeout(5*time.Second))
	defer m2.Close(time.Second)
	if err := m2.SendNow(context.Background(), Message{To: "member@example.net", Subject: "x", Body: "y"}); err != nil {
		t.Fatal(err)
	}
}

// A server that is down is retried in the background; the log never has
// the password or the body (which holds a token).
func TestSendRetriesInBackgroundAndLogsNoSecrets(t *testing.T) {
	// Find a free port, then start the server on it only after a failure.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s, err := Parse("smtp+insecure://mailuser:"+testPass+"@127.0.0.1:"+strconv.Itoa(port), "noreply@example.org", "")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuf
	m, err := New(s, slog.New(slog.NewTextHandler(&logs, nil)), WithTimeout(2*time.Second),
		WithRetryWaits(300*time.Millisecond, 300*time.Millisecond, 2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	const token = "TOKEN-Zq8xW3-should-never-be-logged"
	m.Send(Message{To: "member@example.net", Subject: "Reset", Body: "https://example.org/reset?user=a&token=" + token, Kind: "reset-link"})
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "will retry") {
		if time.Now().After(deadline) {
			t.Fatalf("no retry logged: %s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv := startOn(t, port)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	got := srv.Wait(t, 10*time.Second)
	if !strings.Contains(got.Data, token) {
		t.Fatalf("received %+v", got)
	}
	m.Close(5 * time.Second)
	out := logs.String()
	if !strings.Contains(out, "mail sent") {
		t.Fatalf("no success logged: %s", out)
	}
	for _, secret := range []string{testPass, token, "member@example.net"} {
		if strings.Contains(out, secret) {
			t.Fatalf("log contains %q:\n%s", secret, out)
		}
	}
}

// startOn starts a plain test server on a given loopback port (retrying
// briefly while the port is released).
func startOn(t *testing.T, port int) *testsmtp.Server {
	t.Helper()
	return testsmtp.StartOn(t, testsmtp.Plain, "mailuser", testPass, "127.0.0.1:"+strconv.Itoa(port))
}
