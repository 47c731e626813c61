package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"soulbridge/kv"
	"soulbridge/session"
)

// TestHTTPSReadsOnlyHostCookie (issue 10 row 4): over HTTPS (a trusted edge
// saying so) only __Host-sb_session is read; a plain sb_session cookie, which
// a sibling subdomain or a plain-HTTP attacker can plant, is no session.
// Over plain HTTP the bare name still works.
func TestHTTPSReadsOnlyHostCookie(t *testing.T) {
	s := newSite(t, siteOptions{trustProxy: true})
	s.signup(t, "alice")
	https := map[string]string{"X-Forwarded-Proto": "https"}
	res := s.do(t, req{method: "POST", path: "/login", form: url.Values{"username": {"alice"}, "password": {testPassword}}})
	c := sessionCookie(res)
	if c == nil || c.Name != session.CookieName {
		t.Fatalf("log-in over http set %v, want sb_session", c)
	}
	plain := &http.Cookie{Name: session.CookieName, Value: c.Value}
	host := &http.Cookie{Name: session.SecureCookieName, Value: c.Value}
	tests := []struct {
		name   string
		header map[string]string
		cookie *http.Cookie
		want   int
	}{
		{"plain name over http", nil, plain, http.StatusOK},
		{"plain name over https", https, plain, http.StatusUnauthorized},
		{"__Host- name over https", https, host, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := s.do(t, req{method: "GET", path: "/community/avatar", header: tc.header, cookie: tc.cookie})
			if got.status != tc.want {
				t.Errorf("GET /community/avatar: %d, want %d", got.status, tc.want)
			}
		})
	}
}

// TestHSTS (issue 10 row 5): responses over HTTPS carry
// Strict-Transport-Security; over plain HTTP, and with an untrusted
// X-Forwarded-Proto, they do not.
func TestHSTS(t *testing.T) {
	https := map[string]string{"X-Forwarded-Proto": "https"}
	tests := []struct {
		name       string
		trustProxy bool
		header     map[string]string
		want       string
	}{
		{"https from a trusted edge", true, https, "max-age=63072000"},
		{"plain http", true, nil, ""},
		{"X-Forwarded-Proto not trusted", false, https, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t, siteOptions{trustProxy: tc.trustProxy})
			for _, path := range []string{"/", "/healthz", "/no-such-page"} {
				res := s.do(t, req{method: "GET", path: path, header: tc.header})
				if got := res.header.Get("Strict-Transport-Security"); got != tc.want {
					t.Errorf("GET %s: Strict-Transport-Security %q, want %q", path, got, tc.want)
				}
			}
		})
	}
}

// TestForwardedProtoNeedsTrust (issue 10 row 9): without
// TRUST_PROXY_HEADERS, X-Forwarded-Proto is the client's own word: log-in
// sets the plain cookie, not a Secure __Host- one.
func TestForwardedProtoNeedsTrust(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.signup(t, "alice")
	res := s.do(t, req{method: "POST", path: "/login", header: map[string]string{"X-Forwarded-Proto": "https"},
		form: url.Values{"username": {"alice"}, "password": {testPassword}}})
	c := sessionCookie(res)
	if c == nil || c.Name != session.CookieName || c.Secure {
		t.Fatalf("log-in with an untrusted X-Forwarded-Proto set %+v, want a plain sb_session", c)
	}
}

// TestClientIPFromTrustedEdge (issue 10 row 9): with TRUST_PROXY_HEADERS the
// client address is X-Real-IP, else the last X-Forwarded-For address (the one
// the edge appended); without it, the connection's peer.
func TestClientIPFromTrustedEdge(t *testing.T) {
	tests := []struct {
		name       string
		trustProxy bool
		header     map[string]string
		want       string
	}{
		{"X-Real-IP wins", true, map[string]string{"X-Real-IP": "192.0.2.7", "X-Forwarded-For": "198.51.100.1, 203.0.113.5"}, "192.0.2.7"},
		{"last X-Forwarded-For", true, map[string]string{"X-Forwarded-For": "198.51.100.1, 203.0.113.5"}, "203.0.113.5"},
		{"garbage falls back to the peer", true, map[string]string{"X-Forwarded-For": "198.51.100.1, nonsense"}, "127.0.0.1"},
		{"not trusted", false, map[string]string{"X-Real-IP": "192.0.2.7", "X-Forwarded-For": "203.0.113.5"}, "127.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t, siteOptions{trustProxy: tc.trustProxy})
			res := s.do(t, req{method: "POST", path: "/signup", header: tc.header,
				form: url.Values{"username": {"alice"}, "password": {testPassword}}})
			if res.status != http.StatusSeeOther {
				t.Fatalf("sign-up: %d", res.status)
			}
			var ips []string
			err := s.store.Scan(context.Background(), kv.Range{Prefix: session.KeyPrefix}, func(_ string, val []byte) error {
				var rec struct {
					IP string `json:"ip"`
				}
				if err := json.Unmarshal(val, &rec); err != nil {
					return err
				}
				ips = append(ips, rec.IP)
				return nil
			})
			if err != nil || len(ips) != 1 || ips[0] != tc.want {
				t.Errorf("session IPs %q (%v), want [%s]", ips, err, tc.want)
			}
		})
	}
}
