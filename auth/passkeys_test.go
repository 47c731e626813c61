package auth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/go-webauthn/webauthn/webauthn"

	"soulbridge/auth"
	"soulbridge/kv"
)

func testPasskey(id byte, name string) auth.Passkey {
	return auth.Passkey{Name: name, Credential: webauthn.Credential{
		ID: []byte{id, id, id}, PublicKey: []byte{0xa5, id}, AttestationFormat: "none",
		Flags:         webauthn.CredentialFlags{UserPresent: true, UserVerified: true, BackupEligible: true},
		Authenticator: webauthn.Authenticator{SignCount: 7},
	}}
}

// Passkeys are stored in the account record, whole, with their user-handle
// index; the last way to log in is kept; deleting the account removes
// them and the index.
func TestPasskeyStorage(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	s := newService(t, store, newClock())
	handle, err := auth.NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.SignUpWithPasskey(ctx, "Alice", handle, testPasskey(1, "Laptop"), "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if u.HasPassword() || u.Username != "alice" {
		t.Fatalf("passkey sign-up: %+v", u)
	}
	if _, err := s.SignUpWithPasskey(ctx, "alice", handle, testPasskey(9, "x"), "192.0.2.1"); !errors.Is(err, auth.ErrUsernameTaken) {
		t.Fatalf("second sign-up of the name: %v", err)
	}
	got, err := s.PasskeyUser(ctx, handle)
	if err != nil || got.Username != "alice" {
		t.Fatalf("PasskeyUser: %+v, %v", got, err)
	}
	p, ok := got.PasskeyByID([]byte{1, 1, 1})
	if !ok || p.Name != "Laptop" || p.AddedAt.IsZero() || !p.Credential.Flags.BackupEligible ||
		p.Credential.Authenticator.SignCount != 7 || p.Credential.AttestationFormat != "none" {
		t.Fatalf("stored passkey lost part of the credential: %+v", p)
	}
	// A password account is not logged in by an empty password.
	if _, err := s.LogIn(ctx, "alice", "", "192.0.2.1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("password log-in to a passkey-only account: %v", err)
	}

	if _, err := s.RemovePasskey(ctx, "alice", []byte{1, 1, 1}); !errors.Is(err, auth.ErrLastLogin) {
		t.Fatalf("removing the only passkey of an account without a password: %v", err)
	}
	if _, err := s.AddPasskey(ctx, "alice", []byte("another handle, 32 bytes long..."), testPasskey(2, "Phone")); !errors.Is(err, auth.ErrHandleChanged) {
		t.Fatalf("a passkey made under another handle: %v", err)
	}
	if _, err := s.AddPasskey(ctx, "alice", handle, testPasskey(1, "again")); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("the same credential twice: %v", err)
	}
	if _, err := s.AddPasskey(ctx, "alice", handle, testPasskey(2, "Phone")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RenamePasskey(ctx, "alice", []byte{2, 2, 2}, "  Work phone "); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RenamePasskey(ctx, "alice", []byte{2, 2, 2}, "bad\x00name"); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("a name with a control character: %v", err)
	}
	c := testPasskey(2, "").Credential
	c.Authenticator.SignCount = 8
	u, err = s.UsedPasskey(ctx, "alice", c)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := u.PasskeyByID([]byte{2, 2, 2}); p.Name != "Work phone" || p.LastUsedAt.IsZero() || p.Credential.Authenticator.SignCount != 8 {
		t.Fatalf("after rename and use: %+v", p)
	}
	if _, err := s.RemovePasskey(ctx, "alice", []byte{1, 1, 1}); err != nil {
		t.Fatalf("removing one of two: %v", err)
	}
	if _, err := s.RemovePasskey(ctx, "alice", []byte{1, 1, 1}); !errors.Is(err, auth.ErrNoPasskey) {
		t.Fatalf("removing it again: %v", err)
	}

	// Deleted: the record and the index go.
	if err := s.Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PasskeyUser(ctx, handle); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("handle of a deleted account: %v", err)
	}
	if _, err := store.Get(ctx, "passkey:"+base64.RawURLEncoding.EncodeToString(handle)); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("the handle index outlived the account: %v", err)
	}
}

// A password account takes a handle at its first passkey; removing the
// password needs a passkey.
func TestPasskeyOnPasswordAccount(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openStore(t), newClock())
	if _, err := s.SignUp(ctx, "bob", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemovePassword(ctx, "bob"); !errors.Is(err, auth.ErrLastLogin) {
		t.Fatalf("removing the password of an account without a passkey: %v", err)
	}
	handle, _ := auth.NewHandle()
	before, _ := s.Get(ctx, "bob")
	if _, err := s.AddPasskey(ctx, "bob", handle, testPasskey(3, "Key")); err != nil {
		t.Fatal(err)
	}
	if u, err := s.PasskeyUser(ctx, handle); err != nil || u.Username != "bob" {
		t.Fatalf("PasskeyUser after the first passkey: %v", err)
	}
	u, err := s.RemovePassword(ctx, "bob")
	if err != nil || u.HasPassword() {
		t.Fatalf("RemovePassword: %+v, %v", u, err)
	}
	if g, _ := u.Standing(); g == before.Generation {
		t.Fatal("removing the password kept the account's generation: other sessions would stay")
	}
}

// TestPasskeyOnlyAccountKeepsAPasswordHash: a passkey-only account (made
// so, or by removing its password) stores the hash of a secret nobody has,
// so that the release before passkeys refuses passwords there as wrong
// rather than failing on an empty hash (e2e
// TestPasskeysSurviveTheReleaseBeforeThemOnOneRedis). A password set later,
// here or by such a release, counts again.
func TestPasskeyOnlyAccountKeepsAPasswordHash(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openStore(t), newClock())
	handle, _ := auth.NewHandle()
	u, err := s.SignUpWithPasskey(ctx, "carol", handle, testPasskey(4, "Phone"), "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash == "" || u.HasPassword() {
		t.Fatalf("passkey sign-up: hash %q, HasPassword %v; want a hash, and no password", u.PasswordHash, u.HasPassword())
	}
	// A release that knows nothing of LockedHash sets a password.
	u.PasswordHash = "$argon2id$set-by-the-previous-release"
	if !u.HasPassword() {
		t.Error("a password hash other than the locked one does not count as a password")
	}
	if _, err := s.SignUp(ctx, "dave", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	h2, _ := auth.NewHandle()
	if _, err := s.AddPasskey(ctx, "dave", h2, testPasskey(5, "Key")); err != nil {
		t.Fatal(err)
	}
	d, err := s.RemovePassword(ctx, "dave")
	if err != nil || d.PasswordHash == "" || d.HasPassword() {
		t.Fatalf("RemovePassword: hash %q, HasPassword %v, %v", d.PasswordHash, d.HasPassword(), err)
	}
	if _, err := s.LogIn(ctx, "dave", "correct horse battery", "192.0.2.1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("the removed password still logs in: %v", err)
	}
	if d, err = s.ChangePassword(ctx, "dave", "staple violet quarry"); err != nil || !d.HasPassword() || d.LockedHash != "" {
		t.Fatalf("a password set again: HasPassword %v, LockedHash %q, %v", d.HasPassword(), d.LockedHash, err)
	}
}
