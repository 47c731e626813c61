package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"soulbridge/kv"
	"soulbridge/metrics"
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
	// Metrics, if set, counts credential attempts and sign-ups by result.
	Metrics *metrics.Metrics
}

// SharedCounter counts attempts per key across instances (kv.Mirror keeps
// it). Every method is idempotent by the attempt's id, so a call sent twice
// counts once, and returns an error while the shared tier is down.
type SharedCounter interface {
	// Reserve counts attempt id under key unless the count (events kept
	// in the last window plus reservations held) is at limit; then it
	// counts nothing and returns how long until the count drops below it.
	// A reservation ends by itself after hold unless kept.
	Reserve(ctx context.Context, key, id string, limit int, window, hold time.Duration) (wait time.Duration, err error)
	// Keep turns id's reservation into an event counted for window (a
	// failure), once, even if the reservation already ended.
	Keep(ctx context.Context, key, id string, window time.Duration) error
	// Release gives id's reservation back; it never removes a kept event.
	Release(ctx context.Context, key, id string) error
}

// DefaultSharedHold is how long a reservation lasts in the shared tier
// without a verdict: far longer than a hash (about 0.1 s, at most a few
// queued ahead of it), short enough that a reservation lost with a killed
// instance or a cut link is gone before anyone waits on it for long.
const DefaultSharedHold = 30 * time.Second

// throttlePrefix is the shared counters' key space. Not "throttle:", where
// the previous release keeps INCR counters (strings): during a rolling
// deploy both share one Redis, and one key of two types would fail both.
const throttlePrefix = "attempts:"

// Service signs people up and logs them in.
type Service struct {
	store     Store
	cfg       Config
	byIP      *Throttle
	byAccount *Throttle
	byDevice  *Throttle
	bySignup  *Throttle
	// mailByIP and mailByAccount throttle "e-mail me a link" (email.go).
	mailByIP      *Throttle
	mailByAccount *Throttle
	inFlight      *gate
	standings     *standingCache
	// dummyCodes is the recovery-code set checked for a name without one,
	// dummyRecord an account holding it, decoded for an unknown name
	// (Recover's equal work); codeCheck, if set, is told of each check.
	dummyCodes  *RecoverySet
	dummyRecord []byte
	codeCheck   func(comparisons int)
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
	if cfg.SharedHold <= 0 {
		cfg.SharedHold = DefaultSharedHold
	}
	dummyCodes, dummyRecord := newDummyCodes()
	return &Service{
		store:         store,
		cfg:           cfg,
		byIP:          NewThrottle(IPLimit, Window, maxTracked, cfg.Now),
		byAccount:     NewThrottle(AccountLimit, Window, maxTracked, cfg.Now),
		byDevice:      NewThrottle(DeviceLimit, Window, maxTracked, cfg.Now),
		bySignup:      NewThrottle(SignupLimit, SignupWindow, maxTracked, cfg.Now),
		mailByIP:      NewThrottle(MailIPLimit, MailWindow, maxTracked, cfg.Now),
		mailByAccount: NewThrottle(MailAccountLimit, MailWindow, maxTracked, cfg.Now),
		inFlight:      newGate(MaxInFlightPerAddr, cfg.MaxInFlight),
		standings:     newStandingCache(),
		dummyCodes:    dummyCodes,
		dummyRecord:   dummyRecord,
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
	defer func() { s.cfg.Metrics.Signup(signupResult(err)) }()
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
		defer func() { s.settle(ctx, held, err == nil) }() // only accounts created count
	}
	hash, err := s.cfg.Hasher.Hash(ctx, password)
	if err != nil {
		return User{}, err
	}
	gen, err := newGeneration()
	if err != nil {
		return User{}, err
	}
	now := s.cfg.Now().UTC()
	u = User{Username: name, PasswordHash: hash, CreatedAt: now, UpdatedAt: now, Generation: gen, SessionsSince: now}
	b, err := encodeUser(u)
	if err != nil {
		return User{}, err
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
	u, err := s.attempt(ctx, a.IP, name, nameErr, a.Device, func() (User, error) {
		return s.check(ctx, name, nameErr, a.Password)
	})
	return u, s.counted(metrics.LoginPassword, err)
}

// attempt runs check as one credential attempt (a log-in, a recovery)
// from ip: at most MaxInFlightPerAddr at once per address, refused while
// one of its counters (attemptCounters) is over its limit
// (*ThrottledError), and counted as a failure when check returns
// ErrBadCredentials.
func (s *Service) attempt(ctx context.Context, ip, name string, nameErr error, device string, check func() (User, error)) (User, error) {
	addr := AddrKey(ip)
	if !s.inFlight.enter(addr) {
		return User{}, &ThrottledError{RetryAfter: BusyRetry}
	}
	defer s.inFlight.leave(addr)
	held, wait := s.reserve(ctx, s.attemptCounters(addr, name, nameErr, device))
	if wait > 0 {
		return User{}, &ThrottledError{RetryAfter: wait}
	}
	u, err := check()
	s.settle(ctx, held, errors.Is(err, ErrBadCredentials))
	return u, err
}

// attemptCounters are the throttles a credential check (a log-in, a
// recovery) counts against: the address, and the device cookie when the
// client holds one for the account, else the account.
func (s *Service) attemptCounters(addr, name string, nameErr error, device string) []counter {
	counters := []counter{{s.byIP, IPLimit, Window, "ip:" + addr}}
	switch {
	case nameErr == nil && device != "":
		counters = append(counters, counter{s.byDevice, DeviceLimit, Window, "device:" + device})
	case nameErr == nil:
		counters = append(counters, counter{s.byAccount, AccountLimit, Window, "user:" + name})
	}
	return counters
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

// reservation is one attempt reserved against one counter. Its id names
// the attempt in the shared tier, so that every call about it is
// idempotent there.
type reservation struct {
	counter
	id string
}

// reserve counts the attempt against every counter, or against none and
// says how long to wait when one of them is at its limit.
func (s *Service) reserve(ctx context.Context, cs []counter) ([]reservation, time.Duration) {
	id := rand.Text()
	held := make([]reservation, 0, len(cs))
	for _, c := range cs {
		if wait := s.reserveOne(ctx, c, id); wait > 0 {
			s.release(ctx, held)
			return nil, wait
		}
		held = append(held, reservation{counter: c, id: id})
	}
	return held, 0
}

// reserveOne checks and counts attempt id against c: by the shared count
// while the shared tier answers (one atomic step there, so two instances
// cannot both take the last attempt), else by this instance's own. The
// local count is kept either way: it decides while the shared tier is down.
func (s *Service) reserveOne(ctx context.Context, c counter, id string) time.Duration {
	if s.cfg.Shared != nil {
		wait, err := s.cfg.Shared.Reserve(ctx, throttlePrefix+c.key, id, c.limit, c.window, s.cfg.SharedHold)
		if err == nil {
			if wait > 0 {
				return max(wait, time.Second)
			}
			c.local.Fail(c.key)
			return 0
		}
	}
	if wait := c.local.Reserve(c.key); wait > 0 {
		return max(wait, time.Second)
	}
	return 0
}

// settle ends the reservations with the attempt's verdict: kept as
// failures when counted, else given back.
func (s *Service) settle(ctx context.Context, held []reservation, counted bool) {
	if counted {
		s.keep(ctx, held)
	} else {
		s.release(ctx, held)
	}
}

// keep counts the reservations as failures. In the shared tier too
// whether or not the reservation was taken there (Redis may have been down
// then, or the reservation may have landed after the instance gave up on
// it): Keep counts an attempt once either way. The request's cancellation
// does not stop it: a client hanging up must not go uncounted.
func (s *Service) keep(ctx context.Context, held []reservation) {
	if s.cfg.Shared == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	for _, r := range held {
		_ = s.cfg.Shared.Keep(ctx, throttlePrefix+r.key, r.id, r.window)
	}
}

// release gives reservations back: locally, and in the shared tier
// whether or not the reservation was taken there (Release of an attempt
// the shared tier does not hold changes nothing). A give-back that cannot
// reach the shared tier is left to the reservation's hold.
func (s *Service) release(ctx context.Context, held []reservation) {
	if s.cfg.Shared != nil {
		ctx = context.WithoutCancel(ctx)
	}
	for _, r := range held {
		r.local.Release(r.key)
		if s.cfg.Shared != nil {
			_ = s.cfg.Shared.Release(ctx, throttlePrefix+r.key, r.id)
		}
	}
}

func (s *Service) check(ctx context.Context, name string, nameErr error, password string) (User, error) {
	if nameErr != nil {
		s.cfg.Hasher.burn(ctx, password)
		return User{}, errUnknownUser
	}
	if CheckPassword(password) != nil {
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
		return User{}, errUnknownUser
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: log in: %w", err)
	}
	u, err := decodeUser(b)
	if err != nil {
		return User{}, err
	}
	if !u.HasPassword() {
		// A passkey-only account: no password is right, at a hash's cost.
		s.cfg.Hasher.burn(ctx, password)
		return User{}, ErrBadCredentials
	}
	ok, err := s.cfg.Hasher.Verify(ctx, password, u.PasswordHash)
	if err != nil {
		return User{}, fmt.Errorf("auth: log in: %w", err)
	}
	if !ok {
		return User{}, ErrBadCredentials
	}
	if u.Locked() {
		return User{}, ErrLocked
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
