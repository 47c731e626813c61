package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"soulbridge/kv"
)

// Throttle limits (docs/architecture.md, "Log-in throttling"): 10 failures
// per IP or 50 per account in 15 minutes.
const (
	IPLimit      = 10
	AccountLimit = 50
	Window       = 15 * time.Minute
	maxTracked   = 100_000
)

// Config configures a Service.
type Config struct {
	// Hasher hashes and verifies passwords; required.
	Hasher *Hasher
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Shared, if set, counts failed log-ins across instances; while it
	// errs (the shared tier is down) the per-instance counters decide.
	Shared SharedCounter
}

// SharedCounter counts events per key in windows shared by every instance
// (kv.Mirror keeps it). Both methods return an error while the shared tier
// is down.
type SharedCounter interface {
	// Incr counts one event under key; the key expires window after its
	// first count.
	Incr(ctx context.Context, key string, window time.Duration) (int64, error)
	// Count returns key's count and how long its window still runs.
	Count(ctx context.Context, key string) (n int64, left time.Duration, err error)
}

const throttlePrefix = "throttle:"

// Service signs people up and logs them in.
type Service struct {
	store     Store
	cfg       Config
	byIP      *Throttle
	byAccount *Throttle
}

// New returns a Service over store.
func New(store Store, cfg Config) (*Service, error) {
	if cfg.Hasher == nil {
		return nil, errors.New("auth: Config.Hasher is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{
		store:     store,
		cfg:       cfg,
		byIP:      NewThrottle(IPLimit, Window, maxTracked, cfg.Now),
		byAccount: NewThrottle(AccountLimit, Window, maxTracked, cfg.Now),
	}, nil
}

// SignUp creates an account. It returns a *ValidationError for a bad
// username or password and ErrUsernameTaken when the name exists in any case.
func (s *Service) SignUp(ctx context.Context, username, password string) (User, error) {
	name, err := NormalizeUsername(username)
	if err != nil {
		return User{}, err
	}
	if err := CheckNewPassword(name, password); err != nil {
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
		if errors.Is(err, kv.ErrExists) {
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
	wait := s.blocked(ctx, s.byIP, IPLimit, "ip:", ip)
	if nameErr == nil {
		wait = max(wait, s.blocked(ctx, s.byAccount, AccountLimit, "user:", name))
	}
	if wait > 0 {
		return User{}, &ThrottledError{RetryAfter: wait}
	}
	u, err := s.check(ctx, name, nameErr, password)
	if errors.Is(err, ErrBadCredentials) {
		s.fail(ctx, s.byIP, "ip:", ip)
		if nameErr == nil {
			s.fail(ctx, s.byAccount, "user:", name)
		}
	}
	return u, err
}

// blocked says how long key must wait: by the shared count while the
// shared tier answers, else by this instance's own.
func (s *Service) blocked(ctx context.Context, local *Throttle, limit int, kind, key string) time.Duration {
	if s.cfg.Shared != nil {
		n, left, err := s.cfg.Shared.Count(ctx, throttlePrefix+kind+key)
		if err == nil {
			if n < int64(limit) {
				return 0
			}
			return max(left, time.Second)
		}
	}
	return local.Blocked(key)
}

// fail counts a failure for key, locally always (it decides while the
// shared tier is down) and in the shared tier when there is one.
func (s *Service) fail(ctx context.Context, local *Throttle, kind, key string) {
	local.Fail(key)
	if s.cfg.Shared != nil {
		_, _ = s.cfg.Shared.Incr(ctx, throttlePrefix+kind+key, Window)
	}
}

func (s *Service) check(ctx context.Context, name string, nameErr error, password string) (User, error) {
	if nameErr != nil || CheckPassword(password) != nil {
		s.cfg.Hasher.burn(ctx, password)
		return User{}, ErrBadCredentials
	}
	b, err := s.store.Get(ctx, userPrefix+name)
	if errors.Is(err, kv.ErrUnavailable) {
		// Not here, and the shared store that may have it is down: say
		// so, not "wrong password" (sign-up already tells a name is taken).
		return User{}, fmt.Errorf("auth: log in: %w", err)
	}
	if errors.Is(err, kv.ErrNotFound) {
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

// Usernames returns up to limit account names in alphabetical order,
// starting after the name after ("" = from the first).
func (s *Service) Usernames(ctx context.Context, after string, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	var names []string
	r := kv.Range{Prefix: userPrefix, Limit: limit}
	if after != "" {
		r.After = userPrefix + after
	}
	err := s.store.Scan(ctx, r, func(key string, _ []byte) error {
		names = append(names, key[len(userPrefix):])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("auth: list users: %w", err)
	}
	return names, nil
}
