package web_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"soulbridge/auth"
)

// TestSignupRefusesWeakPasswords (issue 10 row 8, ASVS 5.0 V6.2): sign-up
// refuses common passwords and passwords built from the username with a 400
// page saying why; log-in does not apply these rules, so an account created
// before them keeps working.
func TestSignupRefusesWeakPasswords(t *testing.T) {
	s := newSite(t, siteOptions{})
	tests := []struct {
		name, user, pw, wantIn string
	}{
		{"password", "alice", "password", "most common"},
		{"12345678", "alice", "12345678", "most common"},
		{"the username", "rosalind", "rosalind", "built from your username"},
		{"the username and digits", "rosalind", "Rosalind1990", "built from your username"},
		{"the username reversed", "rosalind", "dnilasor", "built from your username"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := s.do(t, req{method: "POST", path: "/signup", form: url.Values{"username": {tc.user}, "password": {tc.pw}}})
			if res.status != http.StatusBadRequest {
				t.Fatalf("sign-up with %q: %d, want 400", tc.pw, res.status)
			}
			isHTML(t, "refused sign-up", res)
			if !strings.Contains(html.UnescapeString(res.body), tc.wantIn) {
				t.Errorf("sign-up page does not say %q: %.400s", tc.wantIn, res.body)
			}
			if sessionCookie(res) != nil {
				t.Error("refused sign-up set a session cookie")
			}
		})
	}

	t.Run("log-in keeps working for an existing account", func(t *testing.T) {
		h, err := auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1}, 1)
		if err != nil {
			t.Fatal(err)
		}
		hash, err := h.Hash(context.Background(), "password")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		b, _ := json.Marshal(auth.User{Username: "olduser", PasswordHash: hash, CreatedAt: now, UpdatedAt: now})
		if err := s.store.Create(context.Background(), "user:olduser", b, 0); err != nil {
			t.Fatal(err)
		}
		res := s.do(t, req{method: "POST", path: "/login", form: url.Values{"username": {"olduser"}, "password": {"password"}}})
		if res.status != http.StatusSeeOther || sessionCookie(res) == nil {
			t.Fatalf("log-in of an existing account with a now-refused password: %d, want 303 with a session", res.status)
		}
	})
}
