package web_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a log destination safe to read while the site writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// authEvents returns the "auth event" lines logged as JSON to buf.
func authEvents(t *testing.T, buf *lockedBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == "auth event" {
			out = append(out, m)
		}
	}
	return out
}

// Every authentication event is one structured line naming the user, the
// client address and the session by a short hash; no line carries a
// password or a cookie's token.
func TestAuthEventsAreLoggedWithoutSecrets(t *testing.T) {
	buf := &lockedBuffer{}
	s := newSite(t, siteOptions{logger: slog.New(slog.NewJSONHandler(buf, nil))})

	cookie := s.signup(t, "alice")
	if res := s.do(t, req{method: "POST", path: "/login", form: url.Values{"username": {"alice"}, "password": {"wrong password!"}}}); res.status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", res.status)
	}
	res := s.login(t, "alice", cookie)
	if res.status != http.StatusSeeOther {
		t.Fatalf("log-in: %d, want 303", res.status)
	}
	second := sessionCookie(res)
	if res := s.do(t, req{method: "POST", path: "/logout", cookie: &http.Cookie{Name: second.Name, Value: second.Value}}); res.status != http.StatusSeeOther {
		t.Fatalf("log-out: %d, want 303", res.status)
	}

	events := authEvents(t, buf)
	var got []string
	for _, e := range events {
		got = append(got, e["event"].(string))
		if e["user"] != "alice" {
			t.Errorf("event %v names user %v, want alice", e["event"], e["user"])
		}
		if e["ip"] != "127.0.0.1" {
			t.Errorf("event %v names ip %v, want 127.0.0.1", e["event"], e["ip"])
		}
		if e["event"] != "log-in failed" {
			if id, _ := e["session"].(string); len(id) != 12 {
				t.Errorf("event %v: session %q, want a 12-character short hash", e["event"], id)
			}
		}
	}
	want := []string{"sign-up", "log-in failed", "log-in", "log-out"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("auth events %q, want %q", got, want)
	}

	log := buf.String()
	for what, secret := range map[string]string{
		"the password":       testPassword,
		"the wrong password": "wrong password!",
		"the first cookie":   cookie.Value,
		"the second cookie":  second.Value,
	} {
		if strings.Contains(log, secret) {
			t.Errorf("the log contains %s", what)
		}
	}
}
