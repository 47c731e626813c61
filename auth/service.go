package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Throttle limits from DESIGN.md: 10 failures per IP or 50 per account in
// 15 minutes.
const (
	IPLimit      = 10
	AccountLimit = 50
	Window       = 15 * time.Minute
	maxTracked   = 100_000
)

// Config configures a Service.
type Config struct {
	Hasher     *Hasher
	IsNotFound func(error) bool
	IsExists   func(error) bool
	Now        func() time.Time
}

// Service signs people up and logs them in.
type Service struct {
	store     Store
	cfg       Config
	byIP      *Throttle
	byAccount *Throttle
}

// NewService returns a Service over store.
func NewService(store Store, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{
		store:     store,
		cfg:       cfg,
		byIP:      NewThrottle(IPLimit, Window, maxTracked, cfg.Now),
		byAccount: NewThrottle(AccountLimit, Window, maxTracked, cfg.Now),
	}
}

// SignUp creates an account. It returns a *ValidationError for a bad
// username or password and ErrUsernameTaken when the name exists in any case.
func (s *Service) SignUp(ctx context.Context, username, password string) (User, error) {
	name, err := NormalizeUsername(username)
	if err != nil {
		return User{}, err
	}
	if err := CheckPassword(password); err != nil {
		return User{}, err
	}
	hash, err := s.cfg.Hasher.Hash(ctx, password)
	if err != nil {
		return User{}, err
	}
	now := s.cfg.Now().UTC()
	u := User{Username: name, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	b, err := json.Marshal(u)
	if err != nil {
		return User{}, fmt.Errorf("auth: encode user: %w", err)
	}
	if err := s.store.Create(ctx, userPrefix+name, b, 0); err != nil {
		if s.cfg.IsExists(err) {
			return User{}, ErrUsernameTaken
		}
		return User{}, fmt.Errorf("auth: sign up: %w", err)
	}
	return u, nil
}

// LogIn checks username and password for a client at ip. It returns
// *ThrottledError while the IP or the account has failed too often,
// ErrBadCredentials for an unknown user or a wrong password (same error,
// same cost), and the account on success.
func (s *Service) LogIn(ctx context.Context, username, password, ip string) (User, error) {
	name, nameErr := NormalizeUsername(username)
	if wait := max(s.byIP.Blocked(ip), s.blockedAccount(name, nameErr)); wait > 0 {
		return User{}, &ThrottledError{RetryAfter: wait}
	}
	u, err := s.check(ctx, name, nameErr, password)
	if err == ErrBadCredentials {
		s.byIP.Fail(ip)
		if nameErr == nil {
			s.byAccount.Fail(name)
		}
	}
	return u, err
}

func (s *Service) blockedAccount(name string, nameErr error) time.Duration {
	if nameErr != nil {
		return 0
	}
	return s.byAccount.Blocked(name)
}

func (s *Service) check(ctx context.Context, name string, nameErr error, password string) (User, error) {
	if nameErr != nil || CheckPassword(password) != nil {
		s.cfg.Hasher.burn(ctx, password)
		return User{}, ErrBadCredentials
	}
	b, err := s.store.Get(ctx, userPrefix+name)
	if s.cfg.IsNotFound(err) {
		s.cfg.Hasher.burn(ctx, password)
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: log in: %w", err)
	}
	u, err := decodeUser(b)
	if err != nil {
		return User{}, err
	}
	ok, err := s.cfg.Hasher.Verify(ctx, password, u.PasswordHash)
	if err != nil {
		return User{}, fmt.Errorf("auth: log in: %w", err)
	}
	if !ok {
		return User{}, ErrBadCredentials
	}
	return u, nil
}

// Usernames returns up to limit account names in alphabetical order.
func (s *Service) Usernames(ctx context.Context, limit int) ([]string, error) {
	var names []string
	errEnough := fmt.Errorf("enough")
	err := s.store.Scan(ctx, userPrefix, func(key string, _ []byte) error {
		if len(names) >= limit {
			return errEnough
		}
		names = append(names, key[len(userPrefix):])
		return nil
	})
	if err != nil && err != errEnough {
		return nil, fmt.Errorf("auth: list users: %w", err)
	}
	sort.Strings(names)
	return names, nil
}
