package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"soulbridge/auth"
	"soulbridge/kv"
)

func TestChangePassword(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	s := newService(t, store, newClock())
	if _, err := s.SignUp(ctx, "alice", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	// The new-password rules apply, and a refusal changes nothing.
	for _, pw := range []string{"short", "password", "alice-alice-1"} {
		if _, err := s.ChangePassword(ctx, "alice", pw); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("ChangePassword(%q) = %v, want a validation error", pw, err)
		}
	}
	if _, err := s.LogIn(ctx, "alice", "correct horse battery", "192.0.2.1"); err != nil {
		t.Fatalf("old password after refused changes: %v", err)
	}
	if _, err := s.ChangePassword(ctx, "Alice", "staple violet quarry"); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	if _, err := s.LogIn(ctx, "alice", "correct horse battery", "192.0.2.1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("old password after the change: %v, want ErrBadCredentials", err)
	}
	if _, err := s.LogIn(ctx, "alice", "staple violet quarry", "192.0.2.1"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if _, err := s.ChangePassword(ctx, "nobody", "staple violet quarry"); !errors.Is(err, auth.ErrNoAccount) {
		t.Fatalf("ChangePassword(nobody) = %v, want ErrNoAccount", err)
	}
}

func TestDeleteFreesTheName(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	s := newService(t, store, newClock())
	if _, err := s.SignUp(ctx, "alice", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LogIn(ctx, "alice", "correct horse battery", "192.0.2.1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("log-in after delete: %v", err)
	}
	_ = store.Scan(ctx, kv.Range{}, func(k string, v []byte) error {
		if strings.Contains(k, "alice") || strings.Contains(string(v), "alice") {
			t.Errorf("left after delete: %s", k)
		}
		return nil
	})
	if _, err := s.SignUp(ctx, "alice", "another good phrase"); err != nil {
		t.Fatalf("sign-up with the freed name: %v", err)
	}
	if err := s.Delete(ctx, "nobody"); err != nil {
		t.Fatalf("deleting a missing account: %v", err)
	}
}
