package web_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestCommunityPage: the page shows you, your avatar and the members with
// theirs.
func TestCommunityPage(t *testing.T) {
	s := newSite(t, siteOptions{})
	alice := s.signup(t, "alice")
	bob := s.signup(t, "Bob") // stored lower-case
	presets := s.catalogue(t)
	res := s.do(t, req{method: "PUT", path: "/community/avatar", cookie: bob, body: `{"avatar":"fox"}`,
		header: map[string]string{"Content-Type": "application/json"}})
	if res.status != http.StatusOK {
		t.Fatalf("bob picks fox: %d %s", res.status, res.body)
	}

	tests := []struct {
		name   string
		cookie *http.Cookie
		want   []string
	}{
		{"alice sees herself and bob's fox", alice, []string{"alice", "bob", presets["fox"], presets["owl"]}},
		{"bob sees alice", bob, []string{"alice", "bob", presets["fox"]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := s.do(t, req{method: "GET", path: "/community", cookie: tc.cookie})
			if res.status != http.StatusOK {
				t.Fatalf("GET /community: %d, want 200", res.status)
			}
			isHTML(t, "GET /community", res)
			checkSecurityHeaders(t, "GET /community", res)
			for _, w := range tc.want {
				if !strings.Contains(res.body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if strings.Contains(res.body, "Bob") {
				t.Errorf("page shows the name as typed (Bob), want it lower-case")
			}
			if cc := res.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store on a personal page", cc)
			}
		})
	}
}
