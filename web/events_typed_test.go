package web_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestTypedNamesAreNotLogged: a failed or throttled log-in logs the name
// typed only when an account by that name exists, otherwise its length: a
// password typed into the name box never reaches the log, and neither do
// kilobytes of a name. Sign-up likewise. Every line stays short, a long
// path's included. Before, the name was logged as typed, whatever it was.
func TestTypedNamesAreNotLogged(t *testing.T) {
	buf := &lockedBuffer{}
	s := newSite(t, siteOptions{logger: slog.New(slog.NewJSONHandler(buf, nil))})
	s.signup(t, "alice")
	const secret = "MyS3cret!Passw0rd"
	long := strings.Repeat("p", 5000)
	for _, name := range []string{secret, long, "alice"} {
		if res := s.do(t, req{method: "POST", path: "/login", form: url.Values{"username": {name}, "password": {"wrong password!"}}}); res.status != http.StatusUnauthorized {
			t.Fatalf("log-in as %.20q: %d, want 401", name, res.status)
		}
	}
	// Throttled: enough failures from this address to be refused.
	for range 12 {
		s.do(t, req{method: "POST", path: "/login", form: url.Values{"username": {secret}, "password": {"wrong password!"}}})
	}
	for range 12 {
		s.do(t, req{method: "POST", path: "/signup", form: url.Values{"username": {secret}, "password": {"wrong password!"}}})
	}
	s.do(t, req{method: "GET", path: "/" + long})

	logs := buf.String()
	if strings.Contains(logs, secret) || strings.Contains(logs, strings.ToLower(secret)) {
		t.Errorf("the log holds the name typed, a password:\n%s", logs)
	}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if len(line) > 600 {
			t.Errorf("a log line of %d bytes: %.200s…", len(line), line)
		}
	}
	var failed, throttled, known, lengths int
	for _, e := range authEvents(t, buf) {
		switch e["event"] {
		case "log-in failed":
			failed++
		case "throttled":
			throttled++
		default:
			continue
		}
		if e["user"] == "alice" {
			known++
		}
		if _, ok := e["user_len"]; ok {
			lengths++
		}
	}
	if failed < 3 || throttled == 0 || known != 1 || lengths != failed+throttled-1 {
		t.Errorf("failed %d, throttled %d, named %d, by length %d: want the one name of an account, lengths for the rest", failed, throttled, known, lengths)
	}
}
