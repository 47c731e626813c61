package auth_test

import (
	"context"
	"errors"
	"testing"

	"soulbridge/auth"
	"soulbridge/kv"
)

// TestResetLink: a reset token sets a new password once (a new
// generation), refuses a second use, an expired token, another account's
// name and a locked account; it goes with the account.
func TestResetLink(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	clk := newClock()
	s := newService(t, store, clk)
	before, err := s.SignUp(ctx, "alice", recoverPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignUp(ctx, "bob", recoverPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NewResetToken(ctx, "nobody"); !errors.Is(err, auth.ErrNoAccount) {
		t.Fatalf("NewResetToken(nobody) = %v, want ErrNoAccount", err)
	}
	tok, err := s.NewResetToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResetPassword(ctx, "bob", tok, recoverNew); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("alice's token for bob = %v, want ErrBadCredentials", err)
	}
	if _, err := s.ResetPassword(ctx, "alice", tok, "short"); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("a bad new password = %v, want a validation error", err)
	}
	u, err := s.ResetPassword(ctx, "alice", tok, recoverNew)
	if err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	if u.Generation == before.Generation {
		t.Fatal("the reset kept the generation: earlier sessions would stand")
	}
	if _, err := s.LogIn(ctx, "alice", recoverNew, "192.0.2.1"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	if _, err := s.ResetPassword(ctx, "alice", tok, "another fine passphrase"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("a used token = %v, want ErrBadCredentials", err)
	}

	old, _ := s.NewResetToken(ctx, "alice")
	clk.Advance(auth.ResetLifetime + 1)
	if _, err := s.ResetPassword(ctx, "alice", old, "another fine passphrase"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("an expired token = %v, want ErrBadCredentials", err)
	}

	locked, _ := s.NewResetToken(ctx, "bob")
	if _, err := s.Lock(ctx, "bob", "spam"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResetPassword(ctx, "bob", locked, recoverNew); !errors.Is(err, auth.ErrLocked) {
		t.Fatalf("a token for a locked account = %v, want ErrLocked", err)
	}

	s.NewResetToken(ctx, "alice")
	if err := s.Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	n := 0
	_ = store.Scan(ctx, kv.Range{Prefix: "reset:alice:"}, func(string, []byte) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d reset links left after the account's deletion", n)
	}
}
