package passkey_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"soulbridge/internal/testpasskey"
	"soulbridge/passkey"
)

// user is a webauthn.User for the tests.
type user struct {
	handle []byte
	creds  []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.handle }
func (u *user) WebAuthnName() string                       { return "alice" }
func (u *user) WebAuthnDisplayName() string                { return "alice" }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

const origin = "http://localhost:8080"

// register makes a passkey for a new user through rp's own options.
func register(t *testing.T, rp *passkey.RP, ch *passkey.Challenges, a *testpasskey.Authenticator) *user {
	t.Helper()
	u := &user{handle: []byte("0123456789abcdef0123456789abcdef")}
	c, err := ch.Issue("register")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := rp.CreationOptions(u, c)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(opts)
	p, got, err := passkey.ParseCreation(a.Create(testpasskey.Challenge(t, b), u.handle, origin, "localhost"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ch.Check(got, "register"); err != nil {
		t.Fatal(err)
	}
	cred, err := rp.VerifyCreation(u, p, got)
	if err != nil {
		t.Fatalf("registration refused: %v", err)
	}
	u.creds = []webauthn.Credential{*cred}
	return u
}

// login runs one assertion from a for (origin, rpID) and returns the
// verified credential or the refusal.
func login(t *testing.T, rp *passkey.RP, ch *passkey.Challenges, u *user, a *testpasskey.Authenticator, origin, rpID string) (*webauthn.Credential, error) {
	t.Helper()
	c, err := ch.Issue("login")
	if err != nil {
		t.Fatal(err)
	}
	p, got, err := passkey.ParseAssertion(a.Assert(c, origin, rpID))
	if err != nil {
		return nil, err
	}
	if _, _, err := ch.Check(got, "login"); err != nil {
		return nil, err
	}
	return rp.VerifyAssertion(u, p, got)
}

func TestCeremonies(t *testing.T) {
	rp, err := passkey.NewRP(origin)
	if err != nil {
		t.Fatal(err)
	}
	ch := passkey.NewChallenges([]byte("0123456789abcdef0123456789abcdef"), nil)

	t.Run("counting authenticator", func(t *testing.T) {
		a := testpasskey.New(t)
		a.Counting = true
		u := register(t, rp, ch, a)
		c, err := login(t, rp, ch, u, a, origin, "localhost")
		if err != nil {
			t.Fatalf("log-in refused: %v", err)
		}
		if c.Authenticator.SignCount != 1 {
			t.Fatalf("sign count %d, want 1", c.Authenticator.SignCount)
		}
		u.creds[0] = *c
		// The counter goes backwards (a clone answering with an older count).
		a.SignCount = 0
		if _, err := login(t, rp, ch, u, a, origin, "localhost"); !errors.Is(err, passkey.ErrSignCount) {
			t.Fatalf("counter gone backwards: %v, want ErrSignCount", err)
		}
	})
	t.Run("synced passkey reports 0", func(t *testing.T) {
		a := testpasskey.New(t)
		a.BackupEligible, a.BackedUp = true, true
		u := register(t, rp, ch, a)
		for i := range 3 {
			c, err := login(t, rp, ch, u, a, origin, "localhost")
			if err != nil {
				t.Fatalf("log-in %d of a synced passkey (count 0) refused: %v", i, err)
			}
			u.creds[0] = *c
		}
	})
	t.Run("another origin", func(t *testing.T) {
		a := testpasskey.New(t)
		u := register(t, rp, ch, a)
		if _, err := login(t, rp, ch, u, a, "http://localhost:9999", "localhost"); !errors.Is(err, passkey.ErrResponse) {
			t.Fatalf("assertion for another origin: %v, want ErrResponse", err)
		}
		if _, err := login(t, rp, ch, u, a, "https://evil.example", "localhost"); !errors.Is(err, passkey.ErrResponse) {
			t.Fatalf("assertion for another site: %v, want ErrResponse", err)
		}
	})
	t.Run("another RP ID", func(t *testing.T) {
		a := testpasskey.New(t)
		u := register(t, rp, ch, a)
		if _, err := login(t, rp, ch, u, a, origin, "evil.example"); !errors.Is(err, passkey.ErrResponse) {
			t.Fatalf("assertion for another RP ID: %v, want ErrResponse", err)
		}
	})
	t.Run("changed backup eligibility", func(t *testing.T) {
		a := testpasskey.New(t)
		u := register(t, rp, ch, a)
		a.BackupEligible = true
		if _, err := login(t, rp, ch, u, a, origin, "localhost"); !errors.Is(err, passkey.ErrResponse) {
			t.Fatalf("BE flag changed: %v, want ErrResponse", err)
		}
	})
}

func TestChallenges(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	key := []byte("0123456789abcdef0123456789abcdef")
	ch := passkey.NewChallenges(key, func() time.Time { return now })
	c, err := ch.Issue("login")
	if err != nil {
		t.Fatal(err)
	}
	n1, _, err := ch.Check(c, "login")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ch.Check(c, "signup\x00alice"); !errors.Is(err, passkey.ErrChallenge) {
		t.Fatalf("other purpose: %v", err)
	}
	if _, _, err := passkey.NewChallenges([]byte("another key, 32 bytes long......"), nil).Check(c, "login"); !errors.Is(err, passkey.ErrChallenge) {
		t.Fatalf("other key: %v", err)
	}
	bad := append([]byte{}, c...)
	bad[0] ^= 1
	if _, _, err := ch.Check(bad, "login"); !errors.Is(err, passkey.ErrChallenge) {
		t.Fatalf("altered nonce: %v", err)
	}
	c2, _ := ch.Issue("login")
	if n2, _, _ := ch.Check(c2, "login"); n2 == n1 {
		t.Fatal("two challenges share a nonce")
	}
	now = now.Add(passkey.Timeout)
	if _, _, err := ch.Check(c, "login"); !errors.Is(err, passkey.ErrChallenge) {
		t.Fatalf("expired: %v", err)
	}
}

func TestNewRP(t *testing.T) {
	for _, o := range []string{"http://127.0.0.1:8080", "http://example.org", "ftp://x", ""} {
		if _, err := passkey.NewRP(o); err == nil {
			t.Errorf("NewRP(%q) accepted", o)
		}
	}
	rp, err := passkey.NewRP("https://Community.Example.org/")
	if err != nil || rp.ID != "community.example.org" || rp.Origin != "https://community.example.org" {
		t.Fatalf("NewRP = %+v, %v", rp, err)
	}
}
