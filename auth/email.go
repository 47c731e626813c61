package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/mail"
	"strings"
	"time"
)

// E-mail addresses (optional, when the operator configures mail): a member
// adds or changes an address on /account; it is used only once confirmed
// through a single-use link mailed to it. The pending address and its
// token's SHA-256 (never the token) live in the account record, so any
// instance sharing the store can confirm, confirming is a conditional
// rewrite (of two uses one wins), and deleting the account deletes both.
const (
	// EmailConfirmLifetime is how long a confirmation link works.
	EmailConfirmLifetime = 30 * time.Minute
	// MailIPLimit and MailAccountLimit bound "e-mail me a link" per client
	// address and per account name within MailWindow.
	MailIPLimit      = 5
	MailAccountLimit = 3
	MailWindow       = time.Hour
	maxEmailLen      = 254
)

// PendingEmail is an address waiting for confirmation.
type PendingEmail struct {
	Address   string    `json:"address"`
	TokenHash string    `json:"token_sha256"`
	CreatedAt time.Time `json:"created_at"`
}

// NormalizeEmail checks a typed address: one bare address (no display
// name), at most 254 characters; the domain is lower-cased.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || len(s) > maxEmailLen || strings.ContainsAny(s, "\r\n") {
		return "", &ValidationError{Field: "email", Message: "Enter one e-mail address, such as name@example.org."}
	}
	local, domain, ok := strings.Cut(a.Address, "@")
	if !ok || local == "" || !strings.Contains(domain, ".") {
		return "", &ValidationError{Field: "email", Message: "Enter one e-mail address, such as name@example.org."}
	}
	return local + "@" + strings.ToLower(domain), nil
}

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// StartEmailChange records address as username's pending address and
// returns the confirmation link's token (256 random bits, URL-safe); the
// caller has checked the member's password. A new request replaces an
// earlier pending one (its link stops working).
func (s *Service) StartEmailChange(ctx context.Context, username, address string) (string, error) {
	addr, err := NormalizeEmail(address)
	if err != nil {
		return "", err
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	token := base64.RawURLEncoding.EncodeToString(b[:])
	_, err = s.rewrite(ctx, username, "e-mail change", func(u *User, now time.Time) error {
		u.EmailPending = &PendingEmail{Address: addr, TokenHash: tokenHash(token), CreatedAt: now}
		return nil
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// ConfirmEmail makes the pending address confirmed with its link's token
// and uses the token up. It returns the account and the address it
// replaced ("" when none). An unknown, used or expired token (or name) is
// ErrBadCredentials.
func (s *Service) ConfirmEmail(ctx context.Context, username, token string) (User, string, error) {
	name, err := NormalizeUsername(username)
	if err != nil || token == "" {
		return User{}, "", ErrBadCredentials
	}
	var old string
	u, err := s.rewrite(ctx, name, "e-mail confirm", func(u *User, now time.Time) error {
		p := u.EmailPending
		if p == nil || subtle.ConstantTimeCompare([]byte(p.TokenHash), []byte(tokenHash(token))) != 1 ||
			now.Sub(p.CreatedAt) > EmailConfirmLifetime {
			return ErrBadCredentials
		}
		old = u.Email
		u.Email, u.EmailPending = p.Address, nil
		return nil
	})
	if errors.Is(err, ErrNoAccount) {
		return User{}, "", ErrBadCredentials
	}
	if err != nil {
		return User{}, "", err
	}
	if old == u.Email {
		old = ""
	}
	return u, old, nil
}

// ReserveMailReset counts one "e-mail me a link" request for username from
// ip against the mail throttles (per address and per name, whether or not
// the name exists): *ThrottledError when either is at its limit.
func (s *Service) ReserveMailReset(ctx context.Context, ip, username string) error {
	name, nameErr := NormalizeUsername(username)
	cs := []counter{{s.mailByIP, MailIPLimit, MailWindow, "mail-ip:" + AddrKey(ip)}}
	if nameErr == nil {
		cs = append(cs, counter{s.mailByAccount, MailAccountLimit, MailWindow, "mail-user:" + name})
	}
	held, wait := s.reserve(ctx, cs)
	if wait > 0 {
		return &ThrottledError{RetryAfter: wait}
	}
	s.keep(ctx, held)
	return nil
}

// MailResetToken makes a reset link (NewResetToken) for username when the
// account exists, is not locked and has a confirmed address, and returns
// that address and the token; "", "", nil otherwise (nothing to send).
// Callers run it off the request path so that its time tells nothing.
func (s *Service) MailResetToken(ctx context.Context, username string) (to, token string, err error) {
	name, err := NormalizeUsername(username)
	if err != nil {
		return "", "", nil
	}
	u, err := s.Get(ctx, name)
	if errors.Is(err, ErrNoAccount) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	if u.Email == "" || u.Locked() {
		return "", "", nil
	}
	token, err = s.NewResetToken(ctx, name)
	if err != nil {
		return "", "", err
	}
	return u.Email, token, nil
}
