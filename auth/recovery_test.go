package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"soulbridge/auth"
)

const (
	recoverPassword = "correct horse battery"
	recoverNew      = "staple violet quarry"
)

func signUpWithCodes(t *testing.T, s *auth.Service, name string) []string {
	t.Helper()
	ctx := context.Background()
	if _, err := s.SignUp(ctx, name, recoverPassword); err != nil {
		t.Fatal(err)
	}
	codes, err := s.NewRecoveryCodes(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return codes
}

func TestRecoveryCodesAreTenDistinctStrongCodes(t *testing.T) {
	s := newService(t, openStore(t), newClock())
	codes := signUpWithCodes(t, s, "alice")
	if len(codes) != auth.RecoveryCodeCount || auth.RecoveryCodeCount != 10 {
		t.Fatalf("got %d codes, want 10", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		bare := strings.ReplaceAll(c, "-", "")
		// 24 base32 characters carry 120 bits (ASVS asks for 112).
		if len(bare) != 24 || strings.Trim(bare, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
			t.Fatalf("code %q is not 24 base32 characters", c)
		}
		if seen[c] {
			t.Fatalf("code %q given twice", c)
		}
		seen[c] = true
	}
	if n, err := s.RecoveryCodesLeft(context.Background(), "alice"); err != nil || n != 10 {
		t.Fatalf("codes left = %d, %v; want 10", n, err)
	}
}

func TestRecoverUsesACodeOnce(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openStore(t), newClock())
	codes := signUpWithCodes(t, s, "alice")
	// Typed in lower case, with spaces instead of dashes.
	typed := strings.ToLower(strings.ReplaceAll(codes[3], "-", " "))
	u, err := s.Recover(ctx, auth.Recovery{Username: "Alice", Code: typed, NewPassword: recoverNew, IP: "192.0.2.1"})
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if u.Recovery.Left() != 9 {
		t.Fatalf("codes left after one use = %d, want 9", u.Recovery.Left())
	}
	if _, err := s.LogIn(ctx, "alice", recoverNew, "192.0.2.2"); err != nil {
		t.Fatalf("the new password does not log in: %v", err)
	}
	if _, err := s.LogIn(ctx, "alice", recoverPassword, "192.0.2.3"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("the old password: %v, want ErrBadCredentials", err)
	}
	_, err = s.Recover(ctx, auth.Recovery{Username: "alice", Code: codes[3], NewPassword: "another fine phrase", IP: "192.0.2.4"})
	if !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("a used code: %v, want ErrBadCredentials", err)
	}
	if _, err := s.Recover(ctx, auth.Recovery{Username: "alice", Code: codes[4], NewPassword: "another fine phrase", IP: "192.0.2.5"}); err != nil {
		t.Fatalf("another code: %v", err)
	}
}

func TestRecoverChangesTheGeneration(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openStore(t), newClock())
	codes := signUpWithCodes(t, s, "alice")
	before, _, err := s.Standing(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.Recover(ctx, auth.Recovery{Username: "alice", Code: codes[0], NewPassword: recoverNew, IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	after, _, err := s.Standing(ctx, "alice")
	if err != nil || after == before || after != u.Generation {
		t.Fatalf("generation %q → %q (%v), want a new one equal to the returned %q", before, after, err, u.Generation)
	}
}

func TestNewRecoveryCodesReplaceTheOldSet(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openStore(t), newClock())
	old := signUpWithCodes(t, s, "alice")
	fresh, err := s.NewRecoveryCodes(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Recover(ctx, auth.Recovery{Username: "alice", Code: old[0], NewPassword: recoverNew, IP: "192.0.2.1"})
	if !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("a code of the replaced set: %v, want ErrBadCredentials", err)
	}
	if _, err := s.Recover(ctx, auth.Recovery{Username: "alice", Code: fresh[0], NewPassword: recoverNew, IP: "192.0.2.1"}); err != nil {
		t.Fatalf("a code of the new set: %v", err)
	}
}

func TestRecoverKeepsRecoveryCodesThroughAPasswordChange(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openStore(t), newClock())
	codes := signUpWithCodes(t, s, "alice")
	if _, err := s.ChangePassword(ctx, "alice", recoverNew); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RecoveryCodesLeft(ctx, "alice"); err != nil || n != 10 {
		t.Fatalf("codes left after a password change = %d, %v", n, err)
	}
	if _, err := s.Recover(ctx, auth.Recovery{Username: "alice", Code: codes[0], NewPassword: "another fine phrase", IP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
}

// A bad new password is refused as at sign-up, before any code is checked
// or counted.
func TestRecoverChecksTheNewPassword(t *testing.T) {
	s := newService(t, openStore(t), newClock())
	codes := signUpWithCodes(t, s, "alice")
	_, err := s.Recover(context.Background(), auth.Recovery{Username: "alice", Code: codes[0], NewPassword: "short", IP: "192.0.2.1"})
	var v *auth.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("a short new password: %v, want a *ValidationError", err)
	}
	if n, _ := s.RecoveryCodesLeft(context.Background(), "alice"); n != 10 {
		t.Fatalf("a refused recovery used a code: %d left", n)
	}
}

// An unknown name, a wrong code, a used code and an account without codes
// get the same error after the same work: one HMAC compared against ten
// hashes.
func TestRecoverDoesTheSameWorkWhateverFails(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openStore(t), newClock())
	codes := signUpWithCodes(t, s, "alice")
	if _, err := s.SignUp(ctx, "bob", recoverPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recover(ctx, auth.Recovery{Username: "alice", Code: codes[0], NewPassword: recoverNew, IP: "192.0.2.9"}); err != nil {
		t.Fatal(err)
	}
	var checks []int
	auth.ObserveCodeChecks(s, func(n int) { checks = append(checks, n) })
	cases := map[string]auth.Recovery{
		"unknown name":    {Username: "nobody", Code: codes[1]},
		"invalid name":    {Username: "no body!", Code: codes[1]},
		"wrong code":      {Username: "alice", Code: "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA"},
		"used code":       {Username: "alice", Code: codes[0]},
		"no codes at all": {Username: "bob", Code: codes[1]},
	}
	for what, a := range cases {
		checks = nil
		a.NewPassword, a.IP = "another fine phrase", "192.0.2.1"
		_, err := s.Recover(ctx, a)
		if !errors.Is(err, auth.ErrBadCredentials) {
			t.Errorf("%s: %v, want ErrBadCredentials", what, err)
		}
		if len(checks) != 1 || checks[0] != auth.RecoveryCodeCount {
			t.Errorf("%s: code checks %v, want one against %d hashes", what, checks, auth.RecoveryCodeCount)
		}
	}
}

// Two recoveries with one code at once: exactly one wins.
func TestRecoverOneCodeConcurrentlyExactlyOneWins(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openStore(t), newClock())
	codes := signUpWithCodes(t, s, "alice")
	for round := range 5 {
		code := codes[round]
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// One address each: at most two checks run at once per address.
				ip := fmt.Sprintf("192.0.2.%d", 10+i)
				_, errs[i] = s.Recover(ctx, auth.Recovery{Username: "alice", Code: code, NewPassword: recoverNew, IP: ip})
			}()
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, auth.ErrBadCredentials):
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d recoveries with one code succeeded, want exactly 1", round, wins)
		}
		if n, _ := s.RecoveryCodesLeft(ctx, "alice"); n != 9-round {
			t.Fatalf("round %d: %d codes left, want %d", round, n, 9-round)
		}
	}
}

// Wrong codes count against the log-in throttle, per address.
func TestRecoverIsThrottled(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openStore(t), newClock())
	codes := signUpWithCodes(t, s, "alice")
	for range auth.IPLimit {
		_, err := s.Recover(ctx, auth.Recovery{Username: "alice", Code: "AAAA", NewPassword: recoverNew, IP: "192.0.2.1"})
		if !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("wrong code: %v", err)
		}
	}
	_, err := s.Recover(ctx, auth.Recovery{Username: "alice", Code: codes[0], NewPassword: recoverNew, IP: "192.0.2.1"})
	var th *auth.ThrottledError
	if !errors.As(err, &th) || th.RetryAfter <= 0 {
		t.Fatalf("after %d wrong codes: %v, want *ThrottledError", auth.IPLimit, err)
	}
}

// "Log out everywhere else" rewrites the account and keeps its codes.
func TestRecoveryCodesSurviveEndSessions(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openStore(t), newClock())
	codes := signUpWithCodes(t, s, "alice")
	if _, err := s.EndSessions(ctx, "alice", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recover(ctx, auth.Recovery{Username: "alice", Code: codes[9], NewPassword: recoverNew, IP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
}

// Wrong codes count per account from unknown browsers (as failed log-ins
// do), and a known device is spared that lockout: its failures count
// against the device.
func TestRecoverAccountLockoutSparesKnownDevices(t *testing.T) {
	ctx := context.Background()
	s := newService(t, openStore(t), newClock())
	codes := signUpWithCodes(t, s, "alice")
	for i := range auth.AccountLimit {
		ip := fmt.Sprintf("198.51.100.%d", i)
		if _, err := s.Recover(ctx, auth.Recovery{Username: "alice", Code: "AAAA", NewPassword: recoverNew, IP: ip}); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	var th *auth.ThrottledError
	if _, err := s.LogIn(ctx, "alice", recoverPassword, "203.0.113.1"); !errors.As(err, &th) {
		t.Fatalf("log-in from an unknown browser after %d wrong codes: %v, want throttled", auth.AccountLimit, err)
	}
	if _, err := s.Recover(ctx, auth.Recovery{Username: "alice", Code: codes[0], NewPassword: recoverNew, IP: "203.0.113.2", Device: "known"}); err != nil {
		t.Fatalf("recovery from a known device during the account lockout: %v", err)
	}
}
