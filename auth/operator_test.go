package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"soulbridge/auth"
)

// TestLockUnlock: a lock refuses the correct password with ErrLocked (a
// wrong one still gets ErrBadCredentials), moves the generation on (every
// session made before ends) and keeps the name; unlock lets the password in
// again.
func TestLockUnlock(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openStore(t), newClock())
	const pw = "correct horse battery"
	before, err := s.SignUp(ctx, "alice", pw)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.Lock(ctx, "Alice", "spam")
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if !u.Locked() || u.LockReason != "spam" || u.OperatorNote == "" {
		t.Fatalf("locked account = %+v, want locked with its reason and a note", u)
	}
	if g, _ := u.Standing(); g == before.Generation {
		t.Fatal("Lock kept the generation: sessions made before would still count")
	}
	if _, err := s.LogIn(ctx, "alice", pw, "192.0.2.1"); !errors.Is(err, auth.ErrLocked) {
		t.Fatalf("log-in of a locked account = %v, want ErrLocked", err)
	}
	if _, err := s.LogIn(ctx, "alice", "wrong password!", "192.0.2.1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("wrong password on a locked account = %v, want ErrBadCredentials", err)
	}
	if _, err := s.SignUp(ctx, "alice", pw); !errors.Is(err, auth.ErrUsernameTaken) {
		t.Fatalf("sign-up under a locked name = %v, want ErrUsernameTaken", err)
	}
	if _, err := s.Unlock(ctx, "alice"); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if _, err := s.LogIn(ctx, "alice", pw, "192.0.2.1"); err != nil {
		t.Fatalf("log-in after unlock: %v", err)
	}
	if _, err := s.Lock(ctx, "nobody", "x"); !errors.Is(err, auth.ErrNoAccount) {
		t.Fatalf("Lock(nobody) = %v, want ErrNoAccount", err)
	}
}

// TestSetUploadsKeepsOtherChanges: turning uploads off and on is a
// rewrite that keeps a password change made before it.
func TestSetUploads(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openStore(t), newClock())
	if _, err := s.SignUp(ctx, "bob", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangePassword(ctx, "bob", "staple violet quarry"); err != nil {
		t.Fatal(err)
	}
	u, err := s.SetUploads(ctx, "bob", false, "offensive")
	if err != nil || u.UploadsAllowed() || u.UploadsOffReason != "offensive" {
		t.Fatalf("SetUploads(off) = %+v, %v", u, err)
	}
	if got, _ := s.Get(ctx, "bob"); got.UploadsAllowed() {
		t.Fatal("uploads still allowed in the stored account")
	}
	if _, err := s.LogIn(ctx, "bob", "staple violet quarry", "192.0.2.1"); err != nil {
		t.Fatalf("the password change was undone: %v", err)
	}
	if u, _ := s.SetUploads(ctx, "bob", true, ""); !u.UploadsAllowed() {
		t.Fatal("SetUploads(on) left uploads off")
	}
}

// TestEventsRemovedWithAccount: an account's events are read newest first,
// pass the store's key check, and go with the account.
func TestEventsRemovedWithAccount(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	clk := newClock()
	s := newService(t, store, clk)
	if _, err := s.SignUp(ctx, "alice", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{"account locked", "account unlocked"} {
		if err := s.RecordEvent(ctx, "alice", auth.Event{Event: ev, By: "operator"}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	evs, err := s.Events(ctx, "alice", 10)
	if err != nil || len(evs) != 2 || evs[0].Event != "account unlocked" || evs[1].By != "operator" {
		t.Fatalf("Events = %+v, %v; want unlocked then locked, by operator", evs, err)
	}
	if keys := checkedKeys(t, store, "events:alice:"); keys != 2 {
		t.Fatalf("event keys: %d; want 2", keys)
	}
	if err := s.Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if evs, err := s.Events(ctx, "alice", 10); err != nil || len(evs) != 0 {
		t.Fatalf("events after the account's deletion: %+v, %v; want none", evs, err)
	}
}

// TestLockedStandingGrantsNothing: while locked, the account stands by a
// generation no session carries (a previous-release instance, which knows
// no lock, may have made one under the stored generation); unlock moves to
// a new generation, so such a session stays ended.
func TestLockedStandingGrantsNothing(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openStore(t), newClock())
	if _, err := s.SignUp(ctx, "alice", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	locked, err := s.Lock(ctx, "alice", "spam")
	if err != nil {
		t.Fatal(err)
	}
	gen, _, err := s.Standing(ctx, "alice")
	if err != nil || gen == locked.Generation {
		t.Fatalf("a locked account stands by its stored generation %q (%v): a session made under it would count", gen, err)
	}
	unlocked, err := s.Unlock(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if gen, _, _ := s.Standing(ctx, "alice"); gen == locked.Generation || gen != unlocked.Generation {
		t.Fatalf("after unlock: standing %q, locked generation %q, unlocked %q; want the new one", gen, locked.Generation, unlocked.Generation)
	}
}

// TestRecoverLockedAccount: a right recovery code for a locked account is
// refused with ErrLocked and stays unused; after unlock it works.
func TestRecoverLockedAccount(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openStore(t), newClock())
	codes := signUpWithCodes(t, s, "alice")
	if _, err := s.Lock(ctx, "alice", "spam"); err != nil {
		t.Fatal(err)
	}
	a := auth.Recovery{Username: "alice", Code: codes[0], NewPassword: recoverNew, IP: "192.0.2.1"}
	if _, err := s.Recover(ctx, a); !errors.Is(err, auth.ErrLocked) {
		t.Fatalf("Recover on a locked account = %v, want ErrLocked", err)
	}
	if _, err := s.Unlock(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if u, err := s.Recover(ctx, a); err != nil || u.Recovery.Left() != auth.RecoveryCodeCount-1 {
		t.Fatalf("Recover after unlock = %v (codes left %d), want success with the code unused before", err, u.Recovery.Left())
	}
}
