// Package auth owns accounts: username and password rules, password hashing
// (argon2id), credential checks and log-in throttling. It knows nothing
// about HTTP.
package auth

import (
	"context"
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
}

// Store is what accounts need from the key-value store.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	// Create stores val under key only if key is absent, else returns
	// kv.ErrExists.
	Create(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Set and Delete serve password changes and account deletion.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
	Scan(ctx context.Context, r kv.Range, fn func(key string, val []byte) error) error
}

const userPrefix = "user:"

func decodeUser(b []byte) (User, error) {
	var u User
	if err := json.Unmarshal(b, &u); err != nil {
		return User{}, fmt.Errorf("auth: decode user: %w", err)
	}
	return u, nil
}
