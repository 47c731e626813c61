package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"soulbridge/auth"
	"soulbridge/metrics"
)

// TestAttemptsCountedByResult: every credential attempt is counted by
// method and result, an unknown name apart from a wrong password, while
// the caller gets the very same ErrBadCredentials for both (the answer
// tells nothing more than before); sign-ups are counted by result.
func TestAttemptsCountedByResult(t *testing.T) {
	ctx := context.Background()
	m := metrics.New()
	s, err := auth.New(openStore(t), auth.Config{Hasher: newHasher(t), Now: newClock().Now, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	const pw = "correct horse battery"
	if _, err := s.SignUpFrom(ctx, "alice", pw, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignUpFrom(ctx, "Alice", pw, "192.0.2.1"); !errors.Is(err, auth.ErrUsernameTaken) {
		t.Fatalf("second sign-up: %v, want ErrUsernameTaken", err)
	}
	if _, err := s.SignUpFrom(ctx, "a", pw, "192.0.2.1"); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("short name: %v, want ErrInvalid", err)
	}
	for _, a := range []auth.Attempt{
		{Username: "alice", Password: "not the password", IP: "192.0.2.2"},
		{Username: "bob", Password: pw, IP: "192.0.2.3"},
		{Username: "no such name!", Password: pw, IP: "192.0.2.3"},
	} {
		if _, err := s.Authenticate(ctx, a); err != auth.ErrBadCredentials {
			t.Errorf("log-in as %q: %v, want exactly ErrBadCredentials", a.Username, err)
		}
	}
	if _, err := s.Authenticate(ctx, auth.Attempt{Username: "alice", Password: pw, IP: "192.0.2.2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recover(ctx, auth.Recovery{Username: "bob", Code: "aaaa-bbbb-cccc", NewPassword: "a new long password", IP: "192.0.2.4"}); err != auth.ErrBadCredentials {
		t.Errorf("recovery for an unknown name: %v, want exactly ErrBadCredentials", err)
	}
	if _, err := s.Recover(ctx, auth.Recovery{Username: "alice", Code: "aaaa-bbbb-cccc", NewPassword: "a new long password", IP: "192.0.2.4"}); err != auth.ErrBadCredentials {
		t.Errorf("recovery with a wrong code: %v, want exactly ErrBadCredentials", err)
	}
	if _, err := s.Lock(ctx, "alice", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, auth.Attempt{Username: "alice", Password: pw, IP: "192.0.2.2"}); !errors.Is(err, auth.ErrLocked) {
		t.Fatalf("locked: %v", err)
	}
	// The address's failures up to the limit, then throttled.
	for range auth.IPLimit {
		_, _ = s.Authenticate(ctx, auth.Attempt{Username: "carol", Password: pw, IP: "198.51.100.7"})
	}
	var throttled *auth.ThrottledError
	if _, err := s.Authenticate(ctx, auth.Attempt{Username: "carol", Password: pw, IP: "198.51.100.7"}); !errors.As(err, &throttled) {
		t.Fatalf("over the limit: %v, want throttled", err)
	}

	want := `
# HELP soulbridge_login_attempts_total Credential attempts (log-in by password or passkey, recovery by code), by method and result.
# TYPE soulbridge_login_attempts_total counter
soulbridge_login_attempts_total{method="passkey",result="locked"} 0
soulbridge_login_attempts_total{method="passkey",result="success"} 0
soulbridge_login_attempts_total{method="passkey",result="throttled"} 0
soulbridge_login_attempts_total{method="passkey",result="unavailable"} 0
soulbridge_login_attempts_total{method="passkey",result="unknown_user"} 0
soulbridge_login_attempts_total{method="passkey",result="wrong_password"} 0
soulbridge_login_attempts_total{method="password",result="locked"} 1
soulbridge_login_attempts_total{method="password",result="success"} 1
soulbridge_login_attempts_total{method="password",result="throttled"} 1
soulbridge_login_attempts_total{method="password",result="unavailable"} 0
soulbridge_login_attempts_total{method="password",result="unknown_user"} 12
soulbridge_login_attempts_total{method="password",result="wrong_password"} 1
soulbridge_login_attempts_total{method="recovery",result="locked"} 0
soulbridge_login_attempts_total{method="recovery",result="success"} 0
soulbridge_login_attempts_total{method="recovery",result="throttled"} 0
soulbridge_login_attempts_total{method="recovery",result="unavailable"} 0
soulbridge_login_attempts_total{method="recovery",result="unknown_user"} 1
soulbridge_login_attempts_total{method="recovery",result="wrong_password"} 1
# HELP soulbridge_signups_total Sign-up attempts, by result.
# TYPE soulbridge_signups_total counter
soulbridge_signups_total{result="invalid"} 1
soulbridge_signups_total{result="success"} 1
soulbridge_signups_total{result="taken"} 1
soulbridge_signups_total{result="throttled"} 0
soulbridge_signups_total{result="unavailable"} 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "soulbridge_login_attempts_total", "soulbridge_signups_total"); err != nil {
		t.Error(err)
	}
}
