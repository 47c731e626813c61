package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"soulbridge/kv"
)

// Reset links (`soulbridge users reset-link NAME`): a single-use token that
// lets whoever holds it set a new password for one account within
// ResetLifetime. Only the token's SHA-256 is stored, under
// reset:<name>:<hash>, so a backup or a look at the store yields no usable
// link, the link works on any instance sharing the store, and deleting the
// account removes its links with one prefix scan. Using it is a
// conditional write of the record (Store.Replace): of two uses, on one
// instance or two, one wins.
const (
	resetPrefix = "reset:"
	// ResetLifetime is how long a reset link works.
	ResetLifetime = 30 * time.Minute
)

// resetRecord is the stored form of a reset link.
type resetRecord struct {
	CreatedAt time.Time `json:"created_at"`
	Used      bool      `json:"used,omitempty"`
}

func resetsOf(name string) string { return resetPrefix + name + ":" }

func resetKey(name, token string) string {
	sum := sha256.Sum256([]byte(token))
	return resetsOf(name) + hex.EncodeToString(sum[:])
}

// NewResetToken makes a reset link's token for username's account (256
// random bits, URL-safe). ErrNoAccount when there is none.
func (s *Service) NewResetToken(ctx context.Context, username string) (string, error) {
	u, err := s.Get(ctx, username)
	if err != nil {
		return "", err
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	token := base64.RawURLEncoding.EncodeToString(b[:])
	rec, _ := json.Marshal(resetRecord{CreatedAt: s.cfg.Now().UTC()})
	if err := s.store.Create(ctx, resetKey(u.Username, token), rec, ResetLifetime); err != nil {
		return "", fmt.Errorf("auth: reset link: %w", err)
	}
	return token, nil
}

// ResetPassword sets username's password to newPassword with a reset
// link's token, and uses the token up; like a password change it gives the
// account a new generation. A new password that fails CheckNewPassword is
// a *ValidationError and leaves the token unused; an unknown, used or
// expired token (or name) is ErrBadCredentials; a locked account ErrLocked.
func (s *Service) ResetPassword(ctx context.Context, username, token, newPassword string) (User, error) {
	name, err := NormalizeUsername(username)
	if err != nil || token == "" {
		return User{}, ErrBadCredentials
	}
	if err := CheckNewPassword(name, newPassword); err != nil {
		return User{}, err
	}
	key := resetKey(name, token)
	b, err := s.store.Get(kv.Fresh(ctx), key)
	if errors.Is(err, kv.ErrNotFound) && !errors.Is(err, kv.ErrUnavailable) {
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: reset password: %w", err)
	}
	var rec resetRecord
	if json.Unmarshal(b, &rec) != nil || rec.Used || s.cfg.Now().Sub(rec.CreatedAt) > ResetLifetime {
		return User{}, ErrBadCredentials
	}
	if u, err := s.Get(ctx, name); err == nil && u.Locked() {
		return User{}, ErrLocked
	}
	rec.Used = true
	used, _ := json.Marshal(rec)
	if err := s.store.Replace(ctx, key, b, used, ResetLifetime); errors.Is(err, kv.ErrChanged) {
		return User{}, ErrBadCredentials // used by a request that landed first
	} else if err != nil {
		return User{}, fmt.Errorf("auth: reset password: %w", err)
	}
	u, err := s.setPassword(ctx, name, newPassword, "reset password", func(u *User) error {
		if u.Locked() {
			return ErrLocked
		}
		return nil
	})
	if errors.Is(err, ErrNoAccount) {
		return User{}, ErrBadCredentials
	}
	return u, err
}

// deleteResets removes every reset link of the account name (being
// deleted).
func (s *Service) deleteResets(ctx context.Context, name string) error {
	return s.deletePrefix(ctx, resetsOf(name))
}

// checkResetKey checks a reset:<name>:<sha256> key and its value.
func checkResetKey(rest string, value []byte) (string, error) {
	name, hash, ok := strings.Cut(rest, ":")
	if !ok || len(hash) != 2*sha256.Size || strings.Trim(hash, "0123456789abcdef") != "" {
		return "", errors.New("a reset link key has no account or hash")
	}
	if value != nil {
		var rec resetRecord
		if err := json.Unmarshal(value, &rec); err != nil || rec.CreatedAt.IsZero() {
			return "", errors.New("the reset link record does not decode")
		}
	}
	return name, nil
}
