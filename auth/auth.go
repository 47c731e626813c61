// Package auth owns accounts: username and password rules, password hashing
// (argon2id), credential checks and log-in throttling. It knows nothing
// about HTTP.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"soulbridge/kv"
)

// Error kinds. Validation failures are *ValidationError values, which also
// match ErrInvalid with errors.Is.
var (
	// ErrInvalid is matched by every *ValidationError.
	ErrInvalid = errors.New("auth: invalid input")
	// ErrUsernameTaken is returned by SignUp when the name (in any case) exists.
	ErrUsernameTaken = errors.New("auth: username taken")
	// ErrBadCredentials is returned by LogIn for an unknown user and for a
	// wrong password alike.
	ErrBadCredentials = errors.New("auth: wrong username or password")
	// ErrLocked is returned by LogIn for a locked account's correct
	// password (only then: a wrong one is ErrBadCredentials, so the lock
	// tells nothing to someone who does not know the password).
	ErrLocked = errors.New("auth: the account is locked")
)

// ValidationError says which field is wrong and why, in words fit for the
// person who typed it.
type ValidationError struct {
	Field   string // "username" or "password"
	Message string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// ThrottledError is returned by LogIn while a client IP or an account has
// failed too often, by SignUpFrom while an address has signed up too often,
// and by both while too many checks are in flight; RetryAfter says when to
// try again.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("auth: too many attempts, retry after %s", e.RetryAfter.Round(time.Second))
}

// Username and password limits.
const (
	MinUsername = 3
	MaxUsername = 32
	MinPassword = 8
	MaxPassword = 128
)

// NormalizeUsername lower-cases name and checks the rules: 3–32 characters of
// a-z, 0-9, '_' and '-'. Surrounding spaces are ignored.
func NormalizeUsername(name string) (string, error) {
	name = strings.TrimSpace(name)
	if len(name) < MinUsername || len(name) > MaxUsername {
		return "", &ValidationError{"username", fmt.Sprintf("Username must be %d to %d characters long.", MinUsername, MaxUsername)}
	}
	// Check before lower-casing: Unicode case mapping turns some non-ASCII
	// letters into ASCII ones ("İ" → "i", Kelvin sign → "k").
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "", &ValidationError{"username", "Username may only contain letters a–z, digits, '_' and '-'."}
		}
	}
	return strings.ToLower(name), nil
}

// CheckPassword checks the password rules: valid UTF-8, 8–128 characters.
func CheckPassword(pw string) error {
	if !utf8.ValidString(pw) {
		return &ValidationError{"password", "Password contains invalid characters."}
	}
	n := utf8.RuneCountInString(pw)
	if n < MinPassword || n > MaxPassword {
		return &ValidationError{"password", fmt.Sprintf("Password must be %d to %d characters long.", MinPassword, MaxPassword)}
	}
	return nil
}

// User is an account record.
type User struct {
	Username     string    `json:"username"`
	PasswordHash string    `json:"password_hash"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// Generation is a random value, new at sign-up and at every password
	// change (docs/architecture.md, "Account generation"): sessions and
	// device cookies carry the generation they were made under and grant
	// nothing once it changed. Empty for an account written by a release
	// before it (see Standing).
	Generation string `json:"generation,omitempty"`
	// SessionsSince is when every session made before was last ended:
	// sign-up, a password change, "log out everywhere else" (EndSessions).
	// Zero for an account written by a release before it.
	SessionsSince time.Time `json:"sessions_since,omitzero"`
	// Recovery holds the account's recovery codes (recovery.go); nil when
	// none were made. A release before them keeps it (other) when it
	// rewrites the account.
	Recovery *RecoverySet `json:"recovery_codes,omitempty"`
	// LockedAt is when an operator locked the account (`soulbridge users
	// lock`), zero while it is not locked: a locked account's correct
	// password gets ErrLocked, not a session. LockReason is the operator's
	// reason, for the operator (`users show`), never shown to the member.
	LockedAt   time.Time `json:"locked_at,omitzero"`
	LockReason string    `json:"lock_reason,omitempty"`
	// UploadsOffAt is when an operator removed the member's uploaded avatar
	// and disabled their uploads (`soulbridge avatars remove`), zero while
	// uploads are allowed. Kept on the account, not the avatar record,
	// because only the account is rewritten conditionally (Replace): an
	// upload racing the removal cannot write the flag away.
	UploadsOffAt     time.Time `json:"uploads_off_at,omitzero"`
	UploadsOffReason string    `json:"uploads_off_reason,omitempty"`
	// OperatorNote says, in words for the member, what an operator last
	// changed on the account and when (OperatorAt); /account shows it.
	OperatorNote string    `json:"operator_note,omitempty"`
	OperatorAt   time.Time `json:"operator_at,omitzero"`
	// Email is the member's confirmed address (email.go), "" when none;
	// only a confirmed address is mailed a reset link. EmailPending is an
	// address waiting for its confirmation link. Personal data: they go
	// with the account record when it is deleted.
	Email        string        `json:"email,omitempty"`
	EmailPending *PendingEmail `json:"email_pending,omitempty"`
	// PasskeyHandle is the account's WebAuthn user handle (passkeys.go):
	// random, made at its first passkey, nil before. Passkeys are its
	// credentials. A release before them keeps both (other).
	PasskeyHandle []byte    `json:"passkey_handle,omitempty"`
	Passkeys      []Passkey `json:"passkeys,omitempty"`
	// LockedHash marks a passkey-only account: its PasswordHash was set to
	// this hash of a random secret nobody was given (lockedHash), and while
	// it still is, the account has no password. A release before passkeys,
	// which knows no account without a password, then refuses every
	// password as wrong (401) instead of failing on an empty hash (500);
	// and should such a release set a password (a recovery during a
	// rolling deploy), PasswordHash no longer matches and the password
	// counts. A release before it keeps the field (other).
	LockedHash string `json:"locked_hash,omitempty"`
	// NewSignInAt and NewSignInBy are the time and the session's public id
	// of the account's latest log-in from a device new to it (RecordEvent).
	// Every page view of the account's other sessions asks whether it has a
	// new-device notice to show; this field, in the account record that
	// request has read anyway (and the mirror serves from memory), answers
	// "none since you began" without reading the events. A release before
	// it keeps the fields (other).
	NewSignInAt time.Time `json:"new_sign_in_at,omitzero"`
	NewSignInBy string    `json:"new_sign_in_by,omitempty"`

	// other holds the fields of the stored record this release does not
	// know (written by a later release sharing the store in a rolling
	// deploy): a rewrite keeps them.
	other map[string]json.RawMessage
}

// userFields are the JSON fields User knows; any other is kept in other.
var userFields = []string{"username", "password_hash", "created_at", "updated_at", "generation", "sessions_since", "recovery_codes",
	"locked_at", "lock_reason", "uploads_off_at", "uploads_off_reason", "operator_note", "operator_at", "email", "email_pending",
	"passkey_handle", "passkeys"}

// Locked reports whether an operator locked the account.
func (u User) Locked() bool { return !u.LockedAt.IsZero() }

// UploadsAllowed reports whether the member may upload an avatar image.
func (u User) UploadsAllowed() bool { return u.UploadsOffAt.IsZero() }

// Store is what accounts need from the key-value store.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	// Create stores val under key only if key is absent, else returns
	// kv.ErrExists.
	Create(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Set stores val under key: an account's events (each under a key of
	// its own), which the Redis mirror queues while Redis is down.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Replace and Delete serve account changes (a password change, "log
	// out everywhere else") and account deletion.
	Replace(ctx context.Context, key string, old, val []byte, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
	Scan(ctx context.Context, r kv.Range, fn func(key string, val []byte) error) error
}

// KeyPrefix starts every account record's store key.
const KeyPrefix = userPrefix

const userPrefix = "user:"

func decodeUser(b []byte) (User, error) {
	var u User
	if err := json.Unmarshal(b, &u); err != nil {
		return User{}, fmt.Errorf("auth: decode user: %w", err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return User{}, fmt.Errorf("auth: decode user: %w", err)
	}
	for _, f := range userFields {
		delete(all, f)
	}
	if len(all) > 0 {
		u.other = all
	}
	return u, nil
}

// encodeUser is the stored form of u, with the fields of the record u was
// decoded from that this release does not know.
func encodeUser(u User) ([]byte, error) {
	b, err := json.Marshal(u)
	if err != nil || len(u.other) == 0 {
		return b, wrapEncode(err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, wrapEncode(err)
	}
	for k, v := range u.other {
		if _, known := all[k]; !known {
			all[k] = v
		}
	}
	b, err = json.Marshal(all)
	return b, wrapEncode(err)
}

func wrapEncode(err error) error {
	if err != nil {
		return fmt.Errorf("auth: encode user: %w", err)
	}
	return nil
}

// newGeneration returns a fresh account generation: 128 random bits.
func newGeneration() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("auth: generation: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Standing is what an account's sessions and device cookies are judged by
// (session.Manager checks it on every load).
//
// Generation is the account's generation. An account written by a release
// before generations has none; its generation is then derived from the time
// its record last changed ("t:" and UpdatedAt), which that release set only
// at sign-up and at a password change, so it too changes exactly when
// sessions must end, also when a previous-release instance changes the
// password during a rolling deploy (and drops the fields it does not know).
//
// Since is when every earlier session was last ended (SessionsSince): a
// session made before it grants nothing (unless it was the one that asked,
// and was kept). A device cookie that carries no generation (given by the
// previous release) counts only if it was given at or after Since.
// An account without that record (written by the previous release) counts
// its sign-up time: that release kept a session's creation time when it
// rotated the session at a password change, and had ended every other
// session itself, so an earlier time would log out the very person who
// changed it.
//
// A locked account stands by a generation no session or device cookie is
// ever made under ("locked:" and its own): nothing grants anything while
// it is locked, not even a session an instance of the previous release
// (which knows no lock) made for it during a rolling deploy. Unlock gives
// the account a new generation, so such a session stays ended after it.
func (u User) Standing() (generation string, since time.Time) {
	since = u.SessionsSince
	if since.IsZero() {
		since = u.CreatedAt
	}
	if u.Locked() {
		return "locked:" + u.generation(), since
	}
	return u.generation(), since
}

// generation is the account's generation (Standing, lock aside).
func (u User) generation() string {
	if u.Generation != "" {
		return u.Generation
	}
	return "t:" + u.UpdatedAt.UTC().Format(time.RFC3339Nano)
}
