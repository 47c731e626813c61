package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/webauthn"

	"soulbridge/kv"
	"soulbridge/metrics"
)

// Passkeys (README "Passkeys"): an account's WebAuthn credentials are kept
// in its own record (User.Passkeys), so that deleting the account deletes
// them and every change goes through rewrite (kv.Store.Replace) like a
// password change; a release before them keeps the field when it rewrites
// the account (User.other). The account's user handle (User.PasskeyHandle,
// random, never the username) is indexed under passkey:<handle> so that a
// discoverable log-in, which names no account, finds its account.

// Passkey is one credential of an account: the library's whole Credential
// (public key, sign count, transports, attestation format, backup flags),
// the member's name for it, and when it was added and last used.
type Passkey struct {
	Credential webauthn.Credential `json:"credential"`
	Name       string              `json:"name"`
	AddedAt    time.Time           `json:"added_at"`
	LastUsedAt time.Time           `json:"last_used_at,omitzero"`
}

// ID is the passkey's credential ID in base64url (no padding): how pages
// and routes name it.
func (p Passkey) ID() string { return base64.RawURLEncoding.EncodeToString(p.Credential.ID) }

// Passkey limits.
const (
	// MaxPasskeys bounds an account's passkeys (and so its record).
	MaxPasskeys = 20
	// MaxPasskeyName bounds a passkey's name, in characters.
	MaxPasskeyName = 64
	// HandleBytes is the length of a user handle (WebAuthn allows 64).
	HandleBytes = 32
)

// Passkey errors.
var (
	// ErrLastLogin refuses to remove an account's last way to log in: its
	// only passkey when it has no password.
	ErrLastLogin = errors.New("auth: this is the account's last way to log in")
	// ErrNoPasskey is a credential the account does not hold.
	ErrNoPasskey = errors.New("auth: no such passkey")
	// ErrTooManyPasskeys is returned past MaxPasskeys.
	ErrTooManyPasskeys = errors.New("auth: too many passkeys")
	// ErrHandleChanged refuses a registration begun under another user
	// handle than the account now has (a deletion and a new sign-up of
	// the name, or a race with another first registration).
	ErrHandleChanged = errors.New("auth: the account changed while the passkey was being made")
)

// handlePrefix keys the user-handle index: passkey:<base64url handle> →
// the username.
const handlePrefix = "passkey:"

// NewHandle returns a fresh random user handle.
func NewHandle() ([]byte, error) {
	h := make([]byte, HandleBytes)
	if _, err := rand.Read(h); err != nil {
		return nil, fmt.Errorf("auth: user handle: %w", err)
	}
	return h, nil
}

func handleKey(handle []byte) string {
	return handlePrefix + base64.RawURLEncoding.EncodeToString(handle)
}

// CheckPasskeyName trims name and checks it: 1–64 characters of valid
// UTF-8 without control characters.
func CheckPasskeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", &ValidationError{"name", "The passkey's name contains characters it may not."}
	}
	if n := utf8.RuneCountInString(name); n == 0 || n > MaxPasskeyName {
		return "", &ValidationError{"name", fmt.Sprintf("A passkey's name is 1 to %d characters long.", MaxPasskeyName)}
	}
	return name, nil
}

// HasPassword reports whether the account can log in with a password.
func (u User) HasPassword() bool { return u.PasswordHash != "" && u.PasswordHash != u.LockedHash }

// lockedHash is the PasswordHash of an account without a password (see
// User.LockedHash): the hash of 32 random bytes, never shown to anyone.
func (s *Service) lockedHash(ctx context.Context) (string, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	return s.cfg.Hasher.Hash(ctx, base64.RawStdEncoding.EncodeToString(secret))
}

// PasskeyByID returns the account's passkey with credential ID id.
func (u User) PasskeyByID(id []byte) (Passkey, bool) {
	for _, p := range u.Passkeys {
		if bytes.Equal(p.Credential.ID, id) {
			return p, true
		}
	}
	return Passkey{}, false
}

// WebAuthnID, WebAuthnName, WebAuthnDisplayName and WebAuthnCredentials
// make a User the library's webauthn.User.
func (u User) WebAuthnID() []byte          { return u.PasskeyHandle }
func (u User) WebAuthnName() string        { return u.Username }
func (u User) WebAuthnDisplayName() string { return u.Username }
func (u User) WebAuthnCredentials() []webauthn.Credential {
	cs := make([]webauthn.Credential, len(u.Passkeys))
	for i, p := range u.Passkeys {
		cs[i] = p.Credential
	}
	return cs
}

// SignUpWithPasskey creates an account with no password and one passkey,
// made under user handle handle, for a client at ip (throttled like
// SignUpFrom). It returns a *ValidationError for a bad name,
// ErrUsernameTaken when the name exists.
func (s *Service) SignUpWithPasskey(ctx context.Context, username string, handle []byte, p Passkey, ip string) (u User, err error) {
	defer func() { s.cfg.Metrics.Signup(signupResult(err)) }()
	name, err := NormalizeUsername(username)
	if err != nil {
		return User{}, err
	}
	if len(handle) != HandleBytes {
		return User{}, &ValidationError{"handle", "Not a user handle."}
	}
	if _, err := s.store.Get(ctx, userPrefix+name); err == nil {
		return User{}, ErrUsernameTaken
	} else if !errors.Is(err, kv.ErrNotFound) || errors.Is(err, kv.ErrUnavailable) {
		return User{}, fmt.Errorf("auth: sign up: %w", err)
	}
	addr := AddrKey(ip)
	held, wait := s.reserve(ctx, []counter{{s.bySignup, SignupLimit, SignupWindow, "signup:" + addr}})
	if wait > 0 {
		return User{}, &ThrottledError{RetryAfter: wait}
	}
	defer func() { s.settle(ctx, held, err == nil) }()
	gen, err := newGeneration()
	if err != nil {
		return User{}, err
	}
	now := s.cfg.Now().UTC()
	p.AddedAt = now
	locked, err := s.lockedHash(ctx)
	if err != nil {
		return User{}, err
	}
	u = User{Username: name, PasswordHash: locked, LockedHash: locked, CreatedAt: now, UpdatedAt: now,
		Generation: gen, SessionsSince: now, PasskeyHandle: handle, Passkeys: []Passkey{p}}
	b, err := encodeUser(u)
	if err != nil {
		return User{}, err
	}
	// The index first: an account whose passkey cannot be found is worse
	// than an index entry naming an account that is not there (which
	// PasskeyUser treats as unknown).
	if err := s.store.Create(ctx, handleKey(handle), []byte(name), 0); err != nil {
		return User{}, fmt.Errorf("auth: sign up: %w", err)
	}
	if err := s.store.Create(ctx, userPrefix+name, b, 0); err != nil {
		_ = s.store.Delete(context.WithoutCancel(ctx), handleKey(handle))
		if errors.Is(err, kv.ErrExists) {
			return User{}, ErrUsernameTaken
		}
		return User{}, fmt.Errorf("auth: sign up: %w", err)
	}
	return u, nil
}

// AddPasskey adds p (made under user handle handle) to username's
// account. An account without a handle takes handle (indexed first); one
// with another handle refuses with ErrHandleChanged. ErrTooManyPasskeys
// past MaxPasskeys; a credential the account already holds is refused as a
// *ValidationError.
func (s *Service) AddPasskey(ctx context.Context, username string, handle []byte, p Passkey) (User, error) {
	indexed := false
	return s.rewrite(ctx, username, "add passkey", func(u *User, now time.Time) error {
		switch {
		case len(u.PasskeyHandle) == 0 && len(handle) == HandleBytes:
			if !indexed {
				if err := s.store.Create(ctx, handleKey(handle), []byte(u.Username), 0); err != nil {
					return err
				}
				indexed = true
			}
			u.PasskeyHandle = handle
		case !bytes.Equal(u.PasskeyHandle, handle):
			return ErrHandleChanged
		}
		if _, ok := u.PasskeyByID(p.Credential.ID); ok {
			return &ValidationError{"credential", "This passkey is already on your account."}
		}
		if len(u.Passkeys) >= MaxPasskeys {
			return ErrTooManyPasskeys
		}
		p.AddedAt = now
		u.Passkeys = append(u.Passkeys, p)
		return nil
	})
}

// RenamePasskey names username's passkey id name (CheckPasskeyName).
func (s *Service) RenamePasskey(ctx context.Context, username string, id []byte, name string) (User, error) {
	name, err := CheckPasskeyName(name)
	if err != nil {
		return User{}, err
	}
	return s.rewrite(ctx, username, "rename passkey", func(u *User, _ time.Time) error {
		i := slices.IndexFunc(u.Passkeys, func(p Passkey) bool { return bytes.Equal(p.Credential.ID, id) })
		if i < 0 {
			return ErrNoPasskey
		}
		u.Passkeys[i].Name = name
		return nil
	})
}

// RemovePasskey removes username's passkey id: ErrNoPasskey when the
// account has none such, ErrLastLogin when it is the account's only way
// to log in (no password, no other passkey). The caller ends the sessions
// the passkey made.
func (s *Service) RemovePasskey(ctx context.Context, username string, id []byte) (User, error) {
	return s.rewrite(ctx, username, "remove passkey", func(u *User, _ time.Time) error {
		i := slices.IndexFunc(u.Passkeys, func(p Passkey) bool { return bytes.Equal(p.Credential.ID, id) })
		if i < 0 {
			return ErrNoPasskey
		}
		if len(u.Passkeys) == 1 && !u.HasPassword() {
			return ErrLastLogin
		}
		u.Passkeys = slices.Delete(slices.Clone(u.Passkeys), i, i+1)
		return nil
	})
}

// RemovePassword turns username's account into a passkey-only one: it
// needs a passkey (ErrLastLogin without). Like a password change it gives
// the account a new generation, so every session ends; the caller
// continues its own (as after ChangePassword).
func (s *Service) RemovePassword(ctx context.Context, username string) (User, error) {
	locked, err := s.lockedHash(ctx)
	if err != nil {
		return User{}, err
	}
	return s.newGeneration(ctx, username, "remove password", func(u *User, _ string) error {
		if len(u.Passkeys) == 0 {
			return ErrLastLogin
		}
		u.PasswordHash, u.LockedHash = locked, locked
		return nil
	})
}

// PasskeyUser returns the account whose user handle is handle:
// ErrBadCredentials when no account has it (never had, or deleted, or its
// name signed up again under another handle). While the shared tier is
// down, a handle this instance has no copy of matches kv.ErrUnavailable.
func (s *Service) PasskeyUser(ctx context.Context, handle []byte) (User, error) {
	if len(handle) != HandleBytes {
		return User{}, ErrBadCredentials
	}
	name, err := s.store.Get(ctx, handleKey(handle))
	if errors.Is(err, kv.ErrNotFound) && !errors.Is(err, kv.ErrUnavailable) {
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: passkey user: %w", err)
	}
	u, err := s.Get(ctx, string(name))
	if errors.Is(err, ErrNoAccount) {
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, err
	}
	if !bytes.Equal(u.PasskeyHandle, handle) {
		return User{}, ErrBadCredentials
	}
	return u, nil
}

// PasskeyAttempt runs verify, the check of a passkey assertion for
// username's account, as one log-in attempt from ip: throttled and counted
// like a password (per address and per account), ErrBadCredentials from
// verify counted as a failure. A locked account's valid assertion gets
// ErrLocked.
func (s *Service) PasskeyAttempt(ctx context.Context, ip, username string, verify func() (User, error)) (User, error) {
	name, nameErr := NormalizeUsername(username)
	u, err := s.attempt(ctx, ip, name, nameErr, "", func() (User, error) {
		if nameErr != nil {
			return User{}, ErrBadCredentials
		}
		u, err := verify()
		if err != nil {
			return User{}, err
		}
		if u.Locked() {
			return User{}, ErrLocked
		}
		return u, nil
	})
	return u, s.counted(metrics.LoginPasskey, err)
}

// FailPasskey counts a passkey log-in that failed before it named an
// account (an unknown handle, a bad challenge) against ip.
func (s *Service) FailPasskey(ctx context.Context, ip string) {
	_, err := s.attempt(ctx, ip, "", errors.New("no account"), "", func() (User, error) { return User{}, errUnknownUser })
	_ = s.counted(metrics.LoginPasskey, err)
}

// UsedPasskey stores what a successful assertion changed of username's
// passkey (sign count, flags: c as the library returned it) and when it was
// used.
func (s *Service) UsedPasskey(ctx context.Context, username string, c webauthn.Credential) (User, error) {
	return s.rewrite(ctx, username, "passkey used", func(u *User, now time.Time) error {
		i := slices.IndexFunc(u.Passkeys, func(p Passkey) bool { return bytes.Equal(p.Credential.ID, c.ID) })
		if i < 0 {
			return ErrNoPasskey
		}
		u.Passkeys = slices.Clone(u.Passkeys)
		u.Passkeys[i].Credential.Authenticator.SignCount = c.Authenticator.SignCount
		u.Passkeys[i].Credential.Flags = c.Flags
		u.Passkeys[i].LastUsedAt = now
		return nil
	})
}

// deletePasskeyIndex removes the account's user-handle index entry.
func (s *Service) deletePasskeyIndex(ctx context.Context, handle []byte) error {
	if len(handle) == 0 {
		return nil
	}
	if err := s.store.Delete(ctx, handleKey(handle)); err != nil {
		return fmt.Errorf("auth: delete passkey index: %w", err)
	}
	return nil
}

func checkHandleKey(rest string, value []byte) (string, error) {
	h, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(h) != HandleBytes || base64.RawURLEncoding.EncodeToString(h) != rest {
		return "", errors.New("not a user handle")
	}
	if value == nil {
		return "", nil
	}
	if err := CheckStoredUsername(string(value)); err != nil {
		return "", err
	}
	return string(value), nil
}

// ErrChallengeUsed is a ceremony challenge that was already used.
var ErrChallengeUsed = errors.New("auth: the passkey challenge was already used")

// usedPrefix keys the used challenges: passkeyused:<nonce>, kept until the
// challenge expires (and a minute more, for clocks a little apart).
const usedPrefix = "passkeyused:"

// ClaimChallenge records the single use of the challenge whose nonce is
// nonce (passkey.Challenges) until expires: ErrChallengeUsed when it was
// used before, on any instance. It needs the shared store (kv.Store.Create
// decides atomically there): while it is down, an error matching
// kv.ErrUnavailable, and the ceremony must be refused.
func (s *Service) ClaimChallenge(ctx context.Context, nonce string, expires time.Time) error {
	ttl := expires.Sub(s.cfg.Now()) + time.Minute
	err := s.store.Create(ctx, usedPrefix+nonce, []byte{'1'}, ttl)
	if errors.Is(err, kv.ErrExists) {
		return ErrChallengeUsed
	}
	if err != nil {
		return fmt.Errorf("auth: passkey challenge: %w", err)
	}
	return nil
}

func checkUsedKey(rest string, _ []byte) (string, error) {
	if b, err := base64.RawURLEncoding.DecodeString(rest); err != nil || len(b) != 16 {
		return "", errors.New("not a challenge nonce")
	}
	return "", nil
}
