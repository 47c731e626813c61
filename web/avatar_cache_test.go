package web_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// TestAvatarAnswerFollowsEveryChange: GET /community/avatar, answered from
// remembered bodies, gives each user their own avatar and the latest choice,
// byte for byte as the PUT that made it answers (its JSON, one line).
func TestAvatarAnswerFollowsEveryChange(t *testing.T) {
	s := newSite(t, siteOptions{})
	alice, bob := s.signup(t, "alice"), s.signup(t, "bob")
	get := func(c *http.Cookie) resp {
		t.Helper()
		res := s.do(t, req{method: "GET", path: "/community/avatar", cookie: c})
		if res.status != 200 || res.header.Get("Content-Type") != "application/json; charset=utf-8" ||
			res.header.Get("Cache-Control") != "no-store" || res.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("GET: %d %v %s", res.status, res.header, res.body)
		}
		return res
	}
	if a, b := get(alice).body, get(bob).body; a == b {
		t.Fatalf("alice and bob get the same answer %s", a)
	}
	for _, id := range []string{"owl", "fox", "owl"} {
		get(alice) // remembered
		put := s.do(t, req{method: "PUT", path: "/community/avatar", cookie: alice,
			header: map[string]string{"Content-Type": "application/json"}, body: `{"avatar":"` + id + `"}`})
		if put.status != 200 {
			t.Fatalf("PUT %s: %d %s", id, put.status, put.body)
		}
		got := get(alice).body
		if got != put.body {
			t.Fatalf("after PUT %s: GET answers %q, PUT answered %q", id, got, put.body)
		}
		var v struct {
			Username, Avatar string
			UpdatedAt        *time.Time `json:"updated_at"`
		}
		if err := json.Unmarshal([]byte(got), &v); err != nil || v.Username != "alice" || v.Avatar != id || v.UpdatedAt == nil ||
			got[len(got)-1] != '\n' {
			t.Fatalf("after PUT %s: GET answers %q (%v)", id, got, err)
		}
	}
	if b := get(bob).body; !json.Valid([]byte(b)) || b == get(alice).body {
		t.Fatalf("bob gets %q", b)
	}
}
