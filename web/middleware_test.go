package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSecurityHeadersEverywhere: pages, API answers, assets and every kind
// of error carry the security headers.
func TestSecurityHeadersEverywhere(t *testing.T) {
	s := newSite(t, siteOptions{})
	alice := s.signup(t, "alice")
	tests := []struct {
		name string
		req  req
		want int
	}{
		{"landing page", req{method: "GET", path: "/"}, 200},
		{"login page", req{method: "GET", path: "/login"}, 200},
		{"community page", req{method: "GET", path: "/community", cookie: alice}, 200},
		{"redirect", req{method: "GET", path: "/community"}, 303},
		{"avatar API", req{method: "GET", path: "/community/avatar", cookie: alice}, 200},
		{"catalogue API", req{method: "GET", path: "/community/avatars"}, 200},
		{"healthz", req{method: "GET", path: "/healthz"}, 200},
		{"readyz", req{method: "GET", path: "/readyz"}, 200},
		{"401 JSON", req{method: "GET", path: "/community/avatar"}, 401},
		{"401 page", req{method: "POST", path: "/login", form: url.Values{"username": {"alice"}, "password": {"nope nope"}}}, 401},
		{"404 page", req{method: "GET", path: "/nope"}, 404},
		{"404 JSON", req{method: "GET", path: "/community/avatar/nope"}, 404},
		{"404 asset", req{method: "GET", path: "/assets/nope.css"}, 404},
		{"405", req{method: "DELETE", path: "/community/avatar"}, 405},
		{"403 cross-origin", req{method: "POST", path: "/logout", header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := s.do(t, tc.req)
			if res.status != tc.want {
				t.Fatalf("status %d, want %d", res.status, tc.want)
			}
			checkSecurityHeaders(t, tc.name, res)
		})
	}
}

// TestMethodNotAllowedAllow: a 405 names the allowed methods.
func TestMethodNotAllowedAllow(t *testing.T) {
	s := newSite(t, siteOptions{})
	tests := []struct {
		method, path string
		wantAllow    []string
	}{
		{"DELETE", "/community/avatar", []string{"GET", "PUT", "POST"}},
		{"PATCH", "/login", []string{"GET", "POST"}},
		{"POST", "/healthz", []string{"GET"}},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			res := s.do(t, req{method: tc.method, path: tc.path})
			if res.status != http.StatusMethodNotAllowed {
				t.Fatalf("status %d, want 405", res.status)
			}
			allow := res.header.Get("Allow")
			for _, m := range tc.wantAllow {
				if !containsToken(allow, m) {
					t.Errorf("Allow %q lacks %s", allow, m)
				}
			}
		})
	}
}

// TestCrossOriginAllowed: same-origin browsers and header-less scripts pass
// the cross-origin protection; only cross-site requests are refused.
func TestCrossOriginAllowed(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.signup(t, "alice")
	form := url.Values{"username": {"alice"}, "password": {testPassword}}
	tests := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"no headers (curl)", nil, 303},
		{"same-origin fetch metadata", map[string]string{"Sec-Fetch-Site": "same-origin"}, 303},
		{"user typed it (none)", map[string]string{"Sec-Fetch-Site": "none"}, 303},
		{"matching Origin", map[string]string{"Origin": s.srv.URL}, 303},
		{"cross-site fetch metadata", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site but other origin", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"foreign Origin", map[string]string{"Origin": "https://evil.example"}, 403},
		{"null Origin", map[string]string{"Origin": "null"}, 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := s.do(t, req{method: "POST", path: "/login", header: tc.header, form: form})
			if res.status != tc.want {
				t.Fatalf("status %d, want %d", res.status, tc.want)
			}
			if tc.want == 403 && sessionCookie(res) != nil {
				t.Errorf("refused request set a session cookie")
			}
		})
	}
}

func containsToken(list, tok string) bool {
	for f := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(f) == tok {
			return true
		}
	}
	return false
}
