package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"soulbridge/auth"
)

// TestEmailConfirm: an address is used only once confirmed by its own
// link, once; an expired link, another account's name or a replaced link
// are refused; only the hash is stored; a change reports the old address.
func TestEmailConfirm(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	clk := newClock()
	s := newService(t, store, clk)
	for _, n := range []string{"alice", "bob"} {
		if _, err := s.SignUp(ctx, n, recoverPassword); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.StartEmailChange(ctx, "alice", "Alice <a@example.org>"); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("a display name = %v, want a validation error", err)
	}
	tok, err := s.StartEmailChange(ctx, "alice", "a@Example.ORG")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := store.Get(ctx, "user:alice")
	if strings.Contains(string(raw), tok) {
		t.Fatal("the account record holds the token itself")
	}
	if u, _ := s.Get(ctx, "alice"); u.Email != "" {
		t.Fatalf("unconfirmed address in use: %q", u.Email)
	}
	if to, _, _ := s.MailResetToken(ctx, "alice"); to != "" {
		t.Fatal("a reset link would go to an unconfirmed address")
	}
	if _, _, err := s.ConfirmEmail(ctx, "bob", tok); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("alice's token for bob = %v", err)
	}
	u, old, err := s.ConfirmEmail(ctx, "alice", tok)
	if err != nil || u.Email != "a@example.org" || old != "" {
		t.Fatalf("ConfirmEmail = %q %q %v", u.Email, old, err)
	}
	if _, _, err := s.ConfirmEmail(ctx, "alice", tok); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("second use = %v", err)
	}
	// A change: the first link is replaced, an expired one refused, the
	// confirmed one reports the old address.
	tok1, _ := s.StartEmailChange(ctx, "alice", "new@example.org")
	tok2, _ := s.StartEmailChange(ctx, "alice", "new@example.org")
	if _, _, err := s.ConfirmEmail(ctx, "alice", tok1); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("replaced link = %v", err)
	}
	clk.Advance(auth.EmailConfirmLifetime + 1)
	if _, _, err := s.ConfirmEmail(ctx, "alice", tok2); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("expired link = %v", err)
	}
	tok3, _ := s.StartEmailChange(ctx, "alice", "new@example.org")
	u, old, err = s.ConfirmEmail(ctx, "alice", tok3)
	if err != nil || u.Email != "new@example.org" || old != "a@example.org" {
		t.Fatalf("change = %q %q %v", u.Email, old, err)
	}
	// The reset link goes to the confirmed address and works once.
	to, rtok, err := s.MailResetToken(ctx, "alice")
	if err != nil || to != "new@example.org" || rtok == "" {
		t.Fatalf("MailResetToken = %q %v", to, err)
	}
	if _, err := s.ResetPassword(ctx, "alice", rtok, recoverNew); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"bob", "nobody", "NOT A NAME!"} {
		if to, tok, err := s.MailResetToken(ctx, n); to != "" || tok != "" || err != nil {
			t.Fatalf("MailResetToken(%s) = %q %q %v", n, to, tok, err)
		}
	}
}

// TestMailResetThrottle: per account and per client address, whether or
// not the account exists.
func TestMailResetThrottle(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openStore(t), newClock())
	var throttled *auth.ThrottledError
	for i := range auth.MailAccountLimit {
		if err := s.ReserveMailReset(ctx, "192.0.2.1", "nobody"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if err := s.ReserveMailReset(ctx, "192.0.2.2", "nobody"); !errors.As(err, &throttled) {
		t.Fatalf("over the account limit from another address = %v", err)
	}
	for i := range auth.MailIPLimit - auth.MailAccountLimit {
		if err := s.ReserveMailReset(ctx, "192.0.2.1", "other"+string(rune('a'+i))); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if err := s.ReserveMailReset(ctx, "192.0.2.1", "fresh"); !errors.As(err, &throttled) {
		t.Fatalf("over the address limit = %v", err)
	}
}
