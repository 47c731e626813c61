package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"soulbridge/kv"
	"soulbridge/metrics"
)

// Config configures a Manager.
type Config struct {
	// Keys signs cookies: Keys[0] is current, the rest are previous keys
	// whose cookies are still accepted and re-issued under Keys[0].
	Keys [][]byte
	// IdleTimeout ends a session unused this long (sliding).
	IdleTimeout time.Duration
	// MaxLifetime ends a session this long after log-in, whatever happens.
	MaxLifetime time.Duration
	// TouchInterval is the least time between two renewals of one session's
	// last-seen time (and so between two writes); 0 means 5 minutes (a
	// second in a test build with the fault_touch tag, touch_fault.go).
	TouchInterval time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// TrustProxyHeaders honours X-Forwarded-Proto (TRUST_PROXY_HEADERS):
	// only then does "https" there count as HTTPS (see IsHTTPS).
	TrustProxyHeaders bool
	Logger            *slog.Logger
	// Accounts, if set, is asked on every load whether the session's
	// account still stands as it did when the session was made (nil: every
	// session is taken at its record's word, for tests of this package).
	Accounts Accounts
	// Metrics, if set, counts sessions started and those the cap ends.
	Metrics *metrics.Metrics
}

// Accounts tells what a session's account stands by now (auth.Service
// keeps it): its generation, new at sign-up and at every password change,
// and since when its sessions count (every session made before was ended:
// sign-up, password change, "log out everywhere else"). An account that does not exist
// returns an error matching kv.ErrNotFound (and not kv.ErrUnavailable);
// any other error means it cannot be told now.
type Accounts interface {
	Standing(ctx context.Context, username string) (generation string, since time.Time, err error)
}

// ErrAccountChanged is Start's answer when the account changed (its
// password, or a deletion) while the session was being made: no session
// was started.
var ErrAccountChanged = errors.New("session: the account changed while logging in")

// Manager creates, loads, renews and ends sessions.
type Manager struct {
	store Store
	codec *codec
	cfg   Config
	// locks serialise, per record (striped by ID), the renewal's
	// read-compare-write against the deletes of this Manager, so a renewal
	// can never write back a record a log-out has just removed.
	locks [64]sync.Mutex
	// decoded skips the JSON decode of a record loaded again unchanged,
	// tokens the verification of a cookie presented again (cache.go).
	decoded *decodedCache
	tokens  *tokenCache
}

// lock locks the stripe of record id and returns its unlock.
func (m *Manager) lock(id string) func() {
	var h uint32
	for i := 0; i < len(id); i++ {
		h = h*31 + uint32(id[i])
	}
	mu := &m.locks[h%uint32(len(m.locks))]
	mu.Lock()
	return mu.Unlock
}

// New returns a Manager over store.
func New(store Store, cfg Config) (*Manager, error) {
	if cfg.IdleTimeout <= 0 || cfg.MaxLifetime <= 0 {
		return nil, errors.New("session: lifetimes must be positive")
	}
	if cfg.TouchInterval <= 0 {
		cfg.TouchInterval = defaultTouchInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := newCodec(cfg.Keys, cfg.MaxLifetime)
	if err != nil {
		return nil, err
	}
	return &Manager{store: store, codec: c, cfg: cfg, decoded: newDecodedCache(), tokens: newTokenCache()}, nil
}

// Start begins a new session for username, as after a log-in or sign-up: a
// fresh token (a token the client presented is never reused, and its session
// is ended), a record on disk, and the cookie on w.
//
// generation is the account generation the caller checked the credentials
// under (auth.User.Standing). The session carries it, and once it is
// stored, the account is read again: if its generation moved on meanwhile
// (a password change or a deletion racing this log-in), the session is
// removed again and Start returns ErrAccountChanged, so no log-in with an
// old password outlives the change that made it old.
func (m *Manager) Start(ctx context.Context, w http.ResponseWriter, r *http.Request, username, clientIP, generation string) (*Session, error) {
	return m.StartBy(ctx, w, r, username, clientIP, generation, How{})
}

// StartBy is Start for a session made as how says (kept in its record,
// listed by List, matched by EndMadeWith).
func (m *Manager) StartBy(ctx context.Context, w http.ResponseWriter, r *http.Request, username, clientIP, generation string, how How) (*Session, error) {
	if err := m.endPresented(ctx, r); err != nil {
		return nil, err
	}
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	now := m.cfg.Now().UTC()
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	s := &Session{
		Record: Record{
			Username:  username,
			CreatedAt: now,
			LastSeen:  now,
			ExpiresAt: now.Add(m.cfg.MaxLifetime),
			UserAgent: ua,
			IP:        clientIP,
			UpdatedAt: now,

			Generation: generation,
			Method:     how.Method,
			Passkey:    how.Passkey,
		},
		ID:    idOf(token),
		token: token,
	}
	if err := m.create(ctx, s); err != nil {
		return nil, err
	}
	if err := m.recheck(ctx, s); err != nil {
		return nil, err
	}
	if err := m.enforceCap(ctx, s); err != nil {
		return nil, err
	}
	if err := m.writeCookie(w, r, s); err != nil {
		return nil, err
	}
	m.cfg.Metrics.SessionStarted()
	return s, nil
}

// Load returns the live session named by r's cookie, and whether the cookie
// was signed with a previous key. Any cookie problem (missing, tampered,
// signed with an unknown key, naming no live record) returns ErrNoSession;
// other errors are store failures.
func (m *Manager) Load(ctx context.Context, r *http.Request) (s *Session, oldKey bool, err error) {
	value, ok := cookieValue(r, m.https(r))
	if !ok {
		return nil, false, ErrNoSession
	}
	t, ok := m.tokens.get(value)
	if !ok {
		token, old, err := m.codec.decode(value)
		if err != nil {
			return nil, false, ErrNoSession
		}
		t = decodedToken{token: token, key: KeyPrefix + idOf(token), old: old}
		m.tokens.put(value, t, m.cfg.MaxLifetime)
	}
	token, oldKey, id := t.token, t.old, t.key[len(KeyPrefix):]
	b, err := m.store.Get(ctx, t.key)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, false, ErrNoSession
	}
	if err != nil {
		return nil, false, fmt.Errorf("session: load: %w", err)
	}
	rec, err := m.decoded.record(id, b)
	if err != nil {
		m.cfg.Logger.Warn("unreadable session record treated as no session", "session", LogIDOf(id), "err", err)
		return nil, false, ErrNoSession
	}
	if !m.cfg.Now().Before(rec.expiry(m.cfg.IdleTimeout)) {
		return nil, false, ErrNoSession
	}
	if err := m.stands(ctx, rec); err != nil {
		return nil, false, err
	}
	return &Session{Record: rec, ID: id, token: token, raw: b}, oldKey, nil
}

// Check reports whether s still acts for its account (its generation is
// the account's; the account exists): nil if so, ErrNoSession if not. It
// reads the account afresh: a write made in the account's name checks it
// once the write is stored, and undoes the write if s no longer stands
// (avatar.Still).
func (m *Manager) Check(ctx context.Context, s *Session) error {
	return m.stands(kv.Fresh(ctx), s.Record)
}

// stands checks rec against its account's standing (Config.Accounts): nil
// when the account stands as when the session was made; ErrNoSession when
// the account is gone or its generation moved on. Nothing is written: the
// change that ended the session removes its records, or they expire. While
// the account cannot be read (the shared tier down and no copy here) the
// session is honoured, as its record is.
func (m *Manager) stands(ctx context.Context, rec Record) error {
	if rec.Username == "" {
		return nil
	}
	st, err := m.standing(ctx, rec.Username)
	if err != nil {
		return err
	}
	if st.known && !rec.heldBy(st.generation, st.since) {
		return ErrNoSession
	}
	return nil
}

// accountStanding is what an account's sessions are judged by; known is
// false when it cannot be told now (no Config.Accounts, or the account
// unreadable while the shared tier is down).
type accountStanding struct {
	generation string
	since      time.Time
	known      bool
}

// standing reads username's standing: ErrNoSession when the account does
// not exist, another error when the store failed otherwise.
func (m *Manager) standing(ctx context.Context, username string) (accountStanding, error) {
	if m.cfg.Accounts == nil {
		return accountStanding{}, nil
	}
	gen, since, err := m.cfg.Accounts.Standing(ctx, username)
	switch {
	case err == nil:
		return accountStanding{generation: gen, since: since, known: true}, nil
	case errors.Is(err, kv.ErrUnavailable):
		return accountStanding{}, nil
	case errors.Is(err, kv.ErrNotFound):
		return accountStanding{}, ErrNoSession
	default:
		return accountStanding{}, fmt.Errorf("session: account: %w", err)
	}
}

// create writes a new session: its index entry first, then its record, so
// that a session that answers is always listed (and so ended by "log out
// everywhere else", a password change and a deletion), a crash between the
// two included: List skips an entry without its record and keeps it.
func (m *Manager) create(ctx context.Context, s *Session) error {
	if err := m.index(ctx, s); err != nil {
		return err
	}
	return m.save(ctx, s)
}

// recheck reads s's account again, past every cache (kv.Fresh), after s
// was stored (Start): if it no longer stands as s was made under, s is
// ended and ErrAccountChanged returned. The store has no compare-and-set:
// write, re-check, undo.
func (m *Manager) recheck(ctx context.Context, s *Session) error {
	err := m.stands(kv.Fresh(ctx), s.Record)
	if !errors.Is(err, ErrNoSession) {
		return err
	}
	if err := m.endID(ctx, s.Username, s.ID); err != nil {
		return err
	}
	m.cfg.Logger.Info("log-in undone: the account changed meanwhile", "user", s.Username, "session", s.LogID())
	return ErrAccountChanged
}

// End deletes r's session server-side (if any) and expires the cookie.
func (m *Manager) End(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if err := m.endPresented(ctx, r); err != nil {
		return err
	}
	clearCookies(w, r, m.https(r))
	return nil
}

// endPresented deletes the records named by r's session cookies, if they
// decode. Unlike Load it also takes the bare name over HTTPS: ending a
// session grants nothing, and a log-out there should end a session begun
// before the site moved to HTTPS.
func (m *Manager) endPresented(ctx context.Context, r *http.Request) error {
	for _, name := range []string{SecureCookieName, CookieName} {
		c, err := r.Cookie(name)
		if err != nil || c.Value == "" {
			continue
		}
		value := c.Value
		token, _, err := m.codec.decode(value)
		if err != nil {
			continue
		}
		if err := m.endRecord(ctx, idOf(token)); err != nil {
			return fmt.Errorf("session: end: %w", err)
		}
	}
	return nil
}

// endRecord deletes record id and, when the record names its user, its
// index entry (see index.go).
func (m *Manager) endRecord(ctx context.Context, id string) error {
	b, err := m.store.Get(ctx, KeyPrefix+id)
	if err != nil && !errors.Is(err, kv.ErrNotFound) {
		return err
	}
	if err := m.delete(ctx, id); err != nil {
		return err
	}
	if b == nil {
		return nil
	}
	if rec, err := decodeRecord(b); err == nil && rec.Username != "" {
		return m.store.Delete(ctx, indexKey(rec.Username, id))
	}
	return nil
}

// errEnded is touch's answer for a session whose record is gone since Load
// read it: the request goes on without a session.
var errEnded = errors.New("session: ended while the request ran")

// delete removes record id, under its lock (see touch).
func (m *Manager) delete(ctx context.Context, id string) error {
	defer m.lock(id)()
	defer m.decoded.forget(id)
	return m.store.Delete(ctx, KeyPrefix+id)
}

// touch slides the idle lifetime, writing at most once per TouchInterval.
//
// The write is conditional: under the record's lock touch reads the record
// again and renews only if it still holds the very bytes Load read; a
// record changed meanwhile (another request renewed it first) is left
// alone. The write itself is the store's Renew, which lands only over a
// live record: never over a tombstone, never creating one. So a log-out or
// revocation racing this request, on this instance or any other (in Redis,
// or queued in an outbox during an outage and replayed later), is never
// undone: touch returns errEnded instead. A renewal that cannot tell (the
// record is missing here while the shared store is down) is skipped with
// an error the middleware logs.
func (m *Manager) touch(ctx context.Context, s *Session) error {
	now := m.cfg.Now().UTC()
	if now.Sub(s.LastSeen) < m.cfg.TouchInterval {
		return nil
	}
	defer m.lock(s.ID)()
	cur, err := m.store.Get(ctx, KeyPrefix+s.ID)
	if errors.Is(err, kv.ErrNotFound) && !errors.Is(err, kv.ErrUnavailable) {
		return errEnded
	}
	if err != nil {
		return fmt.Errorf("session: renew: %w", err)
	}
	if !bytes.Equal(cur, s.raw) {
		return nil
	}
	next := *s
	next.LastSeen = now
	next.UpdatedAt = now
	b, err := m.rewrite(ctx, s.ID, next.Record)
	if err != nil {
		return err
	}
	next.raw = b
	*s = next
	return nil
}

// rewrite stores rec over record id if it is still live (kv Renew: never
// over a deleted record, never creating one) and returns the bytes
// written; errEnded when the record is gone. The caller holds id's lock.
func (m *Manager) rewrite(ctx context.Context, id string, rec Record) ([]byte, error) {
	b, err := encodeRecord(rec)
	if err != nil {
		return nil, err
	}
	ttl := rec.expiry(m.cfg.IdleTimeout).Sub(m.cfg.Now())
	if ttl <= 0 {
		return nil, ErrNoSession
	}
	err = m.store.Renew(ctx, KeyPrefix+id, b, ttl)
	if errors.Is(err, kv.ErrNotFound) && !errors.Is(err, kv.ErrUnavailable) {
		return nil, errEnded
	}
	if err != nil {
		return nil, fmt.Errorf("session: renew: %w", err)
	}
	return b, nil
}

// Keep marks s as kept at at, before its account ends every session made
// before at (auth.Service.EndSessions: "log out everywhere else"): s then
// stands before the account changes and after, so no request of this
// browser is refused in between, while every other session is left
// behind. The cookie does not change. ErrNoSession if s was ended
// meanwhile.
func (m *Manager) Keep(ctx context.Context, s *Session, at time.Time) error {
	defer m.lock(s.ID)()
	next := *s
	next.KeptAt = at.UTC()
	next.UpdatedAt = m.cfg.Now().UTC()
	b, err := m.rewrite(ctx, s.ID, next.Record)
	if errors.Is(err, errEnded) {
		return ErrNoSession
	}
	if err != nil {
		return err
	}
	next.raw = b
	*s = next
	return nil
}

func (m *Manager) save(ctx context.Context, s *Session) error {
	b, err := encodeRecord(s.Record)
	if err != nil {
		return err
	}
	ttl := s.expiry(m.cfg.IdleTimeout).Sub(m.cfg.Now())
	if ttl <= 0 {
		return ErrNoSession
	}
	if err := m.store.Set(ctx, KeyPrefix+s.ID, b, ttl); err != nil {
		return fmt.Errorf("session: save: %w", err)
	}
	s.raw = b
	return nil
}

// writeCookie sets s's cookie, signed with the current key, living as long
// as the session's remaining absolute lifetime.
func (m *Manager) writeCookie(w http.ResponseWriter, r *http.Request, s *Session) error {
	value, err := m.codec.encode(s.token)
	if err != nil {
		return err
	}
	setCookie(w, m.https(r), value, s.ExpiresAt.Sub(m.cfg.Now()))
	return nil
}

// https reports whether r came over HTTPS, X-Forwarded-Proto counting only
// from a trusted edge.
func (m *Manager) https(r *http.Request) bool { return IsHTTPS(r, m.cfg.TrustProxyHeaders) }
