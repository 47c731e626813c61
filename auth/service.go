package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"soulbridge/kv"
)

// Throttle limits (docs/architecture.md, "Log-in throttling"): 10 failures
// per address (IPv6: per /64) or 50 per account in 15 minutes; an attempt
// from a known device (Attempt.Device) counts against that device, 10 per
// 15 minutes, instead of the account, so nobody can lock the owner out. At most
// MaxInFlightPerAddr password checks run at once per address and, unless
// Config.MaxInFlight says otherwise, 4 per hashing slot overall; an attempt
// over either bound is answered "throttled" at once, retry after BusyRetry.
const (
	IPLimit            = 10
	AccountLimit       = 50
	DeviceLimit        = 10
	Window             = 15 * time.Minute
	MaxInFlightPerAddr = 2
	BusyRetry          = time.Second
	// SignupLimit accounts per address (IPv6: per /64) per SignupWindow.
	SignupLimit  = 20
	SignupWindow = time.Hour
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
	// MaxInFlight bounds the password checks in flight on this instance;
	// 0 means 4 per hashing slot of Hasher.
	MaxInFlight int
	// SharedHold is how long an attempt's reservation lasts in the shared
	// tier without a verdict (an instance killed while hashing, a give-back
	// lost with the link): it must outlast the longest hash; 0 means
	// DefaultSharedHold.
	SharedHold time.Duration
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
	// Decr takes one count back from key, if key still exists (a
	// reservation given back; an expired window stays expired).
	Decr(ctx context.Context, key string) error
}

const throttlePrefix = "throttle:"

// Service signs people up and logs them in.
type Service struct {
	store     Store
	cfg       Config
	byIP      *Throttle
	byAccount *Throttle
	byDevice  *Throttle
	bySignup  *Throttle
	inFlight  *gate
}

// New returns a Service over store.
func New(store Store, cfg Config) (*Service, error) {
	if cfg.Hasher == nil {
		return nil, errors.New("auth: Config.Hasher is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 4 * cap(cfg.Hasher.sem)
	}
	return &Service{
		store:     store,
		cfg:       cfg,
		byIP:      NewThrottle(IPLimit, Window, maxTracked, cfg.Now),
		byAccount: NewThrottle(AccountLimit, Window, maxTracked, cfg.Now),
		byDevice:  NewThrottle(DeviceLimit, Window, maxTracked, cfg.Now),
		bySignup:  NewThrottle(SignupLimit, SignupWindow, maxTracked, cfg.Now),
		inFlight:  newGate(MaxInFlightPerAddr, cfg.MaxInFlight),
	}, nil
}

// SignUp creates an account, unthrottled (for callers that are not a
// client on the network; the site uses SignUpFrom). It returns a
// *ValidationError for a bad username or password and ErrUsernameTaken when
// the name exists in any case.
func (s *Service) SignUp(ctx context.Context, username, password string) (User, error) {
	return s.signUp(ctx, username, password, "", false)
}

// SignUpFrom is SignUp for a client at ip, throttled per address
// (SignupLimit per SignupWindow; IPv6 per /64) and by the checks in flight:
// *ThrottledError when over. Invalid input and taken names are refused
// before any hash and are not counted.
func (s *Service) SignUpFrom(ctx context.Context, username, password, ip string) (User, error) {
	return s.signUp(ctx, username, password, ip, true)
}

func (s *Service) signUp(ctx context.Context, username, password, ip string, throttled bool) (u User, err error) {
	name, err := NormalizeUsername(username)
	if err != nil {
		return User{}, err
	}
	if err := CheckNewPassword(name, password); err != nil {
		return User{}, err
	}
	// The name first: a taken name costs a read, not a hash. Create below
	// still decides atomically between two sign-ups racing for a name.
	if _, err := s.store.Get(ctx, userPrefix+name); err == nil {
		return User{}, ErrUsernameTaken
	} else if errors.Is(err, kv.ErrUnavailable) || !errors.Is(err, kv.ErrNotFound) {
		// Unavailable: the shared store is down, and Create would refuse
		// anyway; say so before spending a hash.
		return User{}, fmt.Errorf("auth: sign up: %w", err)
	}
	if throttled {
		addr := AddrKey(ip)
		if !s.inFlight.enter(addr) {
			return User{}, &ThrottledError{RetryAfter: BusyRetry}
		}
		defer s.inFlight.leave(addr)
		held, wait := s.reserve(ctx, []counter{{s.bySignup, SignupLimit, SignupWindow, "signup:" + addr}})
		if wait > 0 {
			return User{}, &ThrottledError{RetryAfter: wait}
		}
		defer func() {
			if err != nil {
				s.release(ctx, held) // only accounts created count
			}
		}()
	}
	hash, err := s.cfg.Hasher.Hash(ctx, password)
	if err != nil {
		return User{}, err
	}
	now := s.cfg.Now().UTC()
	u = User{Username: name, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
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
// *ThrottledError while the address or the account has failed too often, or
// while too many checks are in flight (for the address or overall),
// ErrBadCredentials for an unknown user or a wrong password (same error,
// same cost), and the account on success.
//
// The attempt is reserved (checked and counted in one step) before the
// password is hashed, so concurrent attempts cannot all pass the check; a
// success, or an attempt that never reached a verdict, gives it back.
func (s *Service) LogIn(ctx context.Context, username, password, ip string) (User, error) {
	return s.Authenticate(ctx, Attempt{Username: username, Password: password, IP: ip})
}

// Attempt is one log-in attempt.
type Attempt struct {
	Username, Password string
	// IP is the client's address.
	IP string
	// Device is the nonce of a valid device cookie the client holds for
	// this account (it logged in to it before), or "". A known device is
	// exempt from the per-account lockout; its failures count against the
	// device instead (DeviceLimit).
	Device string
}

// Authenticate is LogIn with the attempt's device.
func (s *Service) Authenticate(ctx context.Context, a Attempt) (User, error) {
	name, nameErr := NormalizeUsername(a.Username)
	addr := AddrKey(a.IP)
	if !s.inFlight.enter(addr) {
		return User{}, &ThrottledError{RetryAfter: BusyRetry}
	}
	defer s.inFlight.leave(addr)
	counters := []counter{{s.byIP, IPLimit, Window, "ip:" + addr}}
	switch {
	case nameErr == nil && a.Device != "":
		counters = append(counters, counter{s.byDevice, DeviceLimit, Window, "device:" + a.Device})
	case nameErr == nil:
		counters = append(counters, counter{s.byAccount, AccountLimit, Window, "user:" + name})
	}
	held, wait := s.reserve(ctx, counters)
	if wait > 0 {
		return User{}, &ThrottledError{RetryAfter: wait}
	}
	u, err := s.check(ctx, name, nameErr, a.Password)
	if !errors.Is(err, ErrBadCredentials) {
		s.release(ctx, held)
	}
	return u, err
}

// AddrKey is the throttle key of a client address: an IPv4 address as is,
// an IPv6 address as its /64 (one subscriber's allocation, which gives its
// holder 2^64 addresses to rotate through).
func AddrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// counter is one throttle an attempt counts against: this instance's
// Throttle, the limit, and the key (shared under throttlePrefix+key).
type counter struct {
	local  *Throttle
	limit  int
	window time.Duration
	key    string
}

// reservation is a counted attempt, to give back on success.
type reservation struct {
	counter
	shared bool // counted in the shared tier too
}

// reserve counts the attempt against every counter, or against none and
// says how long to wait when one of them is at its limit.
func (s *Service) reserve(ctx context.Context, cs []counter) ([]reservation, time.Duration) {
	held := make([]reservation, 0, len(cs))
	for _, c := range cs {
		r, wait := s.reserveOne(ctx, c)
		if wait > 0 {
			s.release(ctx, held)
			return nil, wait
		}
		held = append(held, r)
	}
	return held, 0
}

// reserveOne checks and counts one attempt against c: by the shared count
// while the shared tier answers (INCR first, then give it back if it went
// over, so two instances cannot both take the last attempt), else by this
// instance's own. The local count is kept either way: it decides while the
// shared tier is down.
func (s *Service) reserveOne(ctx context.Context, c counter) (reservation, time.Duration) {
	if s.cfg.Shared != nil {
		key := throttlePrefix + c.key
		n, err := s.cfg.Shared.Incr(ctx, key, c.window)
		if err == nil {
			if n <= int64(c.limit) {
				c.local.Fail(c.key)
				return reservation{counter: c, shared: true}, 0
			}
			_ = s.cfg.Shared.Decr(ctx, key)
			_, left, err := s.cfg.Shared.Count(ctx, key)
			if err != nil || left <= 0 {
				left = c.window
			}
			return reservation{}, max(left, time.Second)
		}
	}
	if wait := c.local.Reserve(c.key); wait > 0 {
		return reservation{}, max(wait, time.Second)
	}
	return reservation{counter: c}, 0
}

// release gives reservations back.
func (s *Service) release(ctx context.Context, held []reservation) {
	for _, r := range held {
		r.local.Release(r.key)
		if r.shared {
			_ = s.cfg.Shared.Decr(ctx, throttlePrefix+r.key)
		}
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

// UsernamesBefore returns up to limit account names in alphabetical order:
// the last ones that sort strictly before before ("" = the last names of
// all). It reads backwards from before, so it costs limit names, wherever
// before is in the list.
func (s *Service) UsernamesBefore(ctx context.Context, before string, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	var names []string
	r := kv.Range{Prefix: userPrefix, Limit: limit, Reverse: true}
	if before != "" {
		r.After = userPrefix + before
	}
	err := s.store.Scan(ctx, r, func(key string, _ []byte) error {
		names = append(names, key[len(userPrefix):])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("auth: list users: %w", err)
	}
	slices.Reverse(names)
	return names, nil
}
