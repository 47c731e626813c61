package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"soulbridge/kv"
	"soulbridge/metrics"
)

// The per-user index (docs/architecture.md, "Your sessions"): for every
// session, a key
//
//	sessions-of:<username>:<public id>  →  the record id (the key of session:<id>)
//
// living until the session's absolute end. Listing a user's sessions is one
// prefix scan of the index and one GetMany of the records; an entry whose
// record is gone (expired while idle, ended by a release before the index,
// or on another instance) is skipped and removed. Usernames hold no ':', so
// one user's prefix never matches another's.
const (
	// IndexPrefix starts every index key.
	IndexPrefix = "sessions-of:"
	// indexMarker says the index holds every session that existed when it
	// was built (see EnsureIndex): its presence makes the start-up check
	// one read.
	indexMarker = "meta:session-index"
	// MaxPerUser is the cap on one account's sessions: a log-in beyond it
	// ends the least recently seen ones.
	MaxPerUser = 50
)

// ErrUnknownSession is returned by EndByPublicID for an id that names no
// live session of the user (unknown, ended, or another user's).
var ErrUnknownSession = errors.New("session: no such session")

func indexPrefix(username string) string { return IndexPrefix + username + ":" }

func indexKey(username, id string) string { return indexPrefix(username) + PublicIDOf(id) }

// Info describes one of a user's sessions, as the account page shows it.
type Info struct {
	// PublicID is the session's public identifier (PublicIDOf).
	PublicID string
	// LogID is the short hash log lines carry (LogIDOf).
	LogID     string
	CreatedAt time.Time
	LastSeen  time.Time
	UserAgent string
	IP        string
	// Method and Passkey say how the session was made (Record.Method).
	Method, Passkey string

	id string // the record id
}

// index writes s's index entry, living until s's absolute end.
func (m *Manager) index(ctx context.Context, s *Session) error {
	e, ok := m.indexEntry(s)
	if !ok {
		return nil
	}
	if err := m.store.Set(ctx, e.Key, e.Val, e.TTL); err != nil {
		return fmt.Errorf("session: index: %w", err)
	}
	return nil
}

// indexEntry is s's index entry, living as long as s; false when s has
// already ended.
func (m *Manager) indexEntry(s *Session) (kv.Entry, bool) {
	ttl := s.ExpiresAt.Sub(m.cfg.Now())
	return kv.Entry{Key: indexKey(s.Username, s.ID), Val: []byte(s.ID), TTL: ttl}, ttl > 0
}

// List returns username's live sessions, most recently seen first: those
// whose record is there and still stands for the account (see Load). The
// index entries of records that are there and grant nothing are removed on
// the way; an entry whose record is not here is skipped and kept.
func (m *Manager) List(ctx context.Context, username string) ([]Info, error) {
	var keys, ids []string
	err := m.store.Scan(ctx, kv.Range{Prefix: indexPrefix(username)}, func(key string, val []byte) error {
		keys = append(keys, key)
		ids = append(ids, string(val))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("session: list: %w", err)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	recKeys := make([]string, len(ids))
	for i, id := range ids {
		recKeys[i] = KeyPrefix + id
	}
	vals, err := m.store.GetMany(ctx, recKeys)
	if err != nil {
		return nil, fmt.Errorf("session: list: %w", err)
	}
	now := m.cfg.Now()
	out := make([]Info, 0, len(vals))
	st, err := m.standing(ctx, username)
	gone := errors.Is(err, ErrNoSession) // a deleted account has no sessions
	if err != nil && !gone {
		return nil, fmt.Errorf("session: list: %w", err)
	}
	for i, b := range vals {
		if b == nil {
			// No record here: being written (Start writes the entry
			// first), ended or idled out, or, while the shared store is
			// down, on another instance. Not listed, and not removed: the
			// entry is what lets an end reach a session whose record this
			// instance has not seen, and deletes of entries are final. An
			// end removes it (endWhere takes every entry), or it expires
			// with the session's absolute end.
			continue
		}
		rec, err := decodeRecord(b)
		live := err == nil && rec.Username == username && now.Before(rec.expiry(m.cfg.IdleTimeout)) &&
			keys[i] == indexKey(username, ids[i]) && !gone && (!st.known || rec.heldBy(st.generation, st.since))
		if !live {
			// The record is there and grants nothing: the entry is stale.
			// Best effort: a stale entry costs nothing but this skip.
			if err := m.store.Delete(ctx, keys[i]); err != nil && !errors.Is(err, kv.ErrUnavailable) && !errors.Is(err, kv.ErrFull) {
				m.cfg.Logger.Warn("removing a stale session index entry failed", "err", err)
			}
			continue
		}
		out = append(out, Info{
			PublicID: PublicIDOf(ids[i]), LogID: LogIDOf(ids[i]),
			CreatedAt: rec.CreatedAt, LastSeen: rec.LastSeen, UserAgent: rec.UserAgent, IP: rec.IP,
			Method: rec.Method, Passkey: rec.Passkey,
			id: ids[i],
		})
	}
	slices.SortStableFunc(out, func(a, b Info) int {
		if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
			return c
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
	return out, nil
}

// EndByPublicID ends username's session whose public id is publicID. It
// returns ErrUnknownSession when no live session of username has that id
// (another user's id included: the index is per user).
//
// While the shared store (the Redis mirror) is down it works from the local
// copy, which holds every index entry this instance listed, heard of or
// wrote: such a session is ended by its record id even when its record is
// not here (the tombstone is final and ends the record everywhere once
// replayed). An id whose entry is not here cannot be told from another
// user's until the shared store is back: that returns an error matching
// kv.ErrUnavailable (503 with Retry-After), and nothing is ended.
func (m *Manager) EndByPublicID(ctx context.Context, username, publicID string) (Info, error) {
	b, err := m.store.Get(ctx, indexPrefix(username)+publicID)
	if errors.Is(err, kv.ErrNotFound) && !errors.Is(err, kv.ErrUnavailable) {
		return Info{}, ErrUnknownSession
	}
	if err != nil {
		return Info{}, fmt.Errorf("session: end: %w", err)
	}
	id := string(b)
	if PublicIDOf(id) != publicID {
		return Info{}, ErrUnknownSession
	}
	raw, err := m.store.Get(ctx, KeyPrefix+id)
	if errors.Is(err, kv.ErrNotFound) && errors.Is(err, kv.ErrUnavailable) {
		// The record is not here and the shared store is down; the entry
		// says it is username's: end it by id.
		if err := m.endID(ctx, username, id); err != nil {
			return Info{}, err
		}
		return Info{PublicID: publicID, LogID: LogIDOf(id), id: id}, nil
	}
	if err != nil && !errors.Is(err, kv.ErrNotFound) {
		return Info{}, fmt.Errorf("session: end: %w", err)
	}
	var rec Record
	live := err == nil
	if live {
		rec, err = decodeRecord(raw)
		live = err == nil && rec.Username == username
	}
	if !live {
		// A stale entry: the session ended already.
		if err := m.store.Delete(ctx, indexPrefix(username)+publicID); err != nil {
			return Info{}, fmt.Errorf("session: end: %w", err)
		}
		return Info{}, ErrUnknownSession
	}
	if err := m.endID(ctx, username, id); err != nil {
		return Info{}, err
	}
	return Info{PublicID: publicID, LogID: LogIDOf(id), CreatedAt: rec.CreatedAt, LastSeen: rec.LastSeen,
		UserAgent: rec.UserAgent, IP: rec.IP, id: id}, nil
}

// EndOthers ends every session of username but the one whose record id is
// keepID (the current one) and returns how many it ended.
func (m *Manager) EndOthers(ctx context.Context, username, keepID string) (int, error) {
	return m.endWhere(ctx, username, func(id string) bool { return id != keepID })
}

// EndAll ends every session of username and removes its whole index (for
// account deletion); it returns how many live sessions it ended.
func (m *Manager) EndAll(ctx context.Context, username string) (int, error) {
	return m.endWhere(ctx, username, func(string) bool { return true })
}

// EndMadeWith ends every listed session of username made with the passkey
// whose credential ID (base64url) is passkey, and returns how many.
func (m *Manager) EndMadeWith(ctx context.Context, username, passkey string) (int, error) {
	list, err := m.List(ctx, username)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, in := range list {
		if in.Passkey != passkey {
			continue
		}
		if err := m.endID(ctx, username, in.id); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (m *Manager) endWhere(ctx context.Context, username string, end func(id string) bool) (int, error) {
	var ids []string
	err := m.store.Scan(ctx, kv.Range{Prefix: indexPrefix(username)}, func(_ string, val []byte) error {
		if id := string(val); end(id) {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("session: end sessions: %w", err)
	}
	n := 0
	for _, id := range ids {
		_, err := m.store.Get(ctx, KeyPrefix+id)
		if err == nil {
			n++
		}
		if err := m.endID(ctx, username, id); err != nil {
			return n, err
		}
	}
	return n, nil
}

// endID deletes record id (under its lock, so a racing renewal cannot write
// it back) and then its index entry.
func (m *Manager) endID(ctx context.Context, username, id string) error {
	if err := m.delete(ctx, id); err != nil {
		return fmt.Errorf("session: end: %w", err)
	}
	if err := m.store.Delete(ctx, indexKey(username, id)); err != nil {
		return fmt.Errorf("session: end: %w", err)
	}
	return nil
}

// enforceCap ends the least recently seen sessions of s's user beyond
// MaxPerUser, never s itself.
func (m *Manager) enforceCap(ctx context.Context, s *Session) error {
	list, err := m.List(ctx, s.Username)
	if err != nil || len(list) <= MaxPerUser {
		return err
	}
	// List is most recently seen first: the tail goes.
	ended := 0
	for i := len(list) - 1; i >= 0 && len(list)-ended > MaxPerUser; i-- {
		if list[i].id == s.ID {
			continue
		}
		if err := m.endID(ctx, s.Username, list[i].id); err != nil {
			return err
		}
		ended++
		m.cfg.Metrics.SessionsEnded(metrics.EndCap, 1)
		m.cfg.Logger.Info("session ended: over the per-account cap", "user", s.Username, "session", list[i].LogID, "cap", MaxPerUser)
	}
	return nil
}

// Rotate gives s a new token, as after a password change: a new record
// (same user, creation time, device and address) under the new token's
// hash, made under the account's new generation and kept from since (the
// change's time, when every other session ended), the old record and its
// index entry deleted, and the cookie re-set on w. s is updated in place
// (its ID and public id change).
func (m *Manager) Rotate(ctx context.Context, w http.ResponseWriter, r *http.Request, s *Session, generation string, since time.Time) error {
	token, err := newToken()
	if err != nil {
		return err
	}
	now := m.cfg.Now().UTC()
	next := &Session{Record: s.Record, ID: idOf(token), token: token}
	next.LastSeen, next.UpdatedAt, next.Generation, next.KeptAt = now, now, generation, since.UTC()
	if err := m.create(ctx, next); err != nil {
		return err
	}
	if err := m.endID(ctx, s.Username, s.ID); err != nil {
		return err
	}
	if err := m.writeCookie(w, r, next); err != nil {
		return err
	}
	*s = *next
	return nil
}

// EnsureIndex makes sure every session record has its index entry: sessions
// begun by a release before the index (on the volume, or in the shared
// Redis) must show on their owner's account page. Once done it writes a
// marker, so a start-up with the index built costs one read; building is
// idempotent, so a start interrupted half-way simply builds again. A store
// without sessions gets no marker (it stays empty, as a live restore
// requires); the next start scans nothing again. Sessions that already
// have their entry (begun by this release) are not written again, so the
// first start after sessions appear in a store without the marker costs two
// scans, not a write per session. A record that carries an account
// generation is left alone too: generations came after the index, so such
// a record was made with its entry, and one found without it here is a
// mirror's copy or a dead session, not one from before the index. It
// returns how many entries it wrote (0 when the marker was there). Run it at start-up, before the port is bound.
func (m *Manager) EnsureIndex(ctx context.Context) (int, error) {
	if _, err := m.store.Get(ctx, indexMarker); err == nil {
		return 0, nil
	} else if !errors.Is(err, kv.ErrNotFound) {
		return 0, fmt.Errorf("session: index marker: %w", err)
	}
	indexed := map[string]bool{} // record ids that have an entry
	err := m.store.Scan(ctx, kv.Range{Prefix: IndexPrefix}, func(_ string, val []byte) error {
		indexed[string(val)] = true
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("session: build index: %w", err)
	}
	now := m.cfg.Now()
	var todo []*Session
	found := false // the store holds sessions
	err = m.store.Scan(ctx, kv.Range{Prefix: KeyPrefix}, func(key string, val []byte) error {
		found = true
		if indexed[key[len(KeyPrefix):]] {
			return nil
		}
		rec, err := decodeRecord(val)
		if err != nil || rec.Username == "" || !now.Before(rec.expiry(m.cfg.IdleTimeout)) {
			return nil // unreadable records are "no session" anyway
		}
		if rec.Generation != "" {
			// Made by a release that writes the entry before the record
			// (generations came after the index): missing here, it is a
			// mirror's copy of a session made elsewhere (its entry is in
			// Redis, copied when the mirror comes up) or a session that
			// grants nothing whose stale entry List removed. Neither is
			// from before the index, nor to be indexed again.
			return nil
		}
		todo = append(todo, &Session{Record: rec, ID: key[len(KeyPrefix):]})
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("session: build index: %w", err)
	}
	n, err := m.indexAll(ctx, todo)
	if err != nil {
		return n, fmt.Errorf("session: build index: %w", err)
	}
	if !found {
		// No sessions, nothing to index: an empty store stays empty (a
		// live restore needs one), and scanning nothing costs as little
		// as reading the marker.
		return 0, nil
	}
	if err := m.store.Set(ctx, indexMarker, []byte(`{"version":1}`), 0); err != nil {
		return n, fmt.Errorf("session: index marker: %w", err)
	}
	return n, nil
}

// indexBulk is indexAll for a store that writes in bulk.
func (m *Manager) indexBulk(ctx context.Context, bulk bulkSetter, sessions []*Session) (int, error) {
	n := 0
	entries := make([]kv.Entry, 0, min(len(sessions), bulkChunk))
	flush := func() error {
		if err := bulk.SetMany(ctx, entries); err != nil {
			return fmt.Errorf("session: index: %w", err)
		}
		n += len(entries)
		entries = entries[:0]
		return nil
	}
	for _, s := range sessions {
		e, ok := m.indexEntry(s)
		if !ok {
			continue
		}
		entries = append(entries, e)
		if len(entries) == bulkChunk {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if len(entries) > 0 {
		if err := flush(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// indexWorkers is how many index entries EnsureIndex writes at once. Each
// write is synced to disk; concurrent ones share their syncs (Badger
// commits them together), so a volume with many sessions is indexed in
// seconds, not one sync after the other.
const indexWorkers = 64

// bulkSetter is a store that writes many keys with few syncs (kv.Badger's
// SetMany). The Redis mirror is not one: there every entry must reach
// Redis too, one write each.
type bulkSetter interface {
	SetMany(ctx context.Context, entries []kv.Entry) error
}

// bulkChunk is how many entries one SetMany call of indexAll writes.
const bulkChunk = 4096

// indexAll writes the index entries of sessions and returns how many it
// wrote; it stops at the first error. A store that writes in bulk gets
// them bulkChunk at a time (a few syncs per chunk: 100,000 sessions are
// indexed in about a second instead of tens of seconds); any other gets
// them indexWorkers at a time.
func (m *Manager) indexAll(ctx context.Context, sessions []*Session) (int, error) {
	if bulk, ok := m.store.(bulkSetter); ok {
		return m.indexBulk(ctx, bulk, sessions)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		n        int
		firstErr error
	)
	next := make(chan *Session)
	for range min(indexWorkers, len(sessions)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range next {
				err := m.index(ctx, s)
				if errors.Is(err, kv.ErrNotFound) && !errors.Is(err, kv.ErrUnavailable) {
					// The entry was deleted, and deletes of entries are
					// final (kv.IsFinal): its session was ended.
					continue
				}
				mu.Lock()
				if err == nil {
					n++
				} else if firstErr == nil {
					firstErr = err
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, s := range sessions {
		select {
		case next <- s:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil && n < len(sessions) {
		firstErr = ctx.Err() // cancelled before every entry was written
	}
	return n, firstErr
}
