package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"soulbridge/kv"
)

// An account's security events (what an operator did to it, and later
// what its member did) are kept per account under
// events:<name>:<time>-<nonce>, so that a "recent activity" page reads one
// account's events newest first with one reverse scan, and deleting the
// account removes them all with one prefix scan. <time> is the event's
// UnixNano, zero-padded to 20 digits (keys sort by time); the nonce keeps
// two events of one nanosecond apart.
const eventPrefix = "events:"

// EventRetention is how long an event is kept: "recent" activity.
const EventRetention = 90 * 24 * time.Hour

// Event is one security event of an account. It never holds a secret: no
// token, password, code, key or e-mail address.
type Event struct {
	At    time.Time `json:"at"`
	Event string    `json:"event"` // what happened, for people: "account locked", "Logged in", …
	// By is who acted: "operator", or "" for the member.
	By string `json:"by,omitempty"`
	// Kind names the event for programs (the Kind* constants); empty in
	// an operator's event (By "operator") recorded before kinds.
	Kind string `json:"kind,omitempty"`
	// Device ("Firefox on Linux") and IP are the acting browser's. For
	// KindLogInFailed, IP is the coarsened network (CoarseNetwork).
	Device string `json:"device,omitempty"`
	IP     string `json:"ip,omitempty"`
	// NewDevice: a log-in from a browser that had no valid device cookie
	// for the account before it.
	NewDevice bool `json:"new_device,omitempty"`
	// Session is the public id of the session the event is about (the one
	// a log-in made; the one a dismissed notice was about); BySession the
	// public id of the member's session that acted.
	Session   string `json:"session,omitempty"`
	BySession string `json:"by_session,omitempty"`
	// Count is how many failed log-ins a KindLogInFailed group holds.
	Count int `json:"count,omitempty"`
}

// Event kinds.
const (
	KindSignUp          = "sign-up"
	KindLogIn           = "log-in"
	KindLogInFailed     = "log-in-failed"
	KindLogOut          = "log-out"
	KindSessionEnded    = "session-ended"
	KindPasswordChanged = "password-changed"
	KindRecovered       = "recovery-code-used"
	KindResetByLink     = "password-reset-link"
	KindRecoveryCodes   = "recovery-codes-made"
	KindEmailChanged    = "email-changed"
	KindNoticeDismissed = "new-device-dismissed"
	KindOperator        = "operator"
	KindPasskeyAdded    = "passkey-added"
	KindPasskeyRemoved  = "passkey-removed"
	KindPasswordRemoved = "password-removed"
)

func eventsOf(name string) string { return eventPrefix + name + ":" }

// RecordEvent keeps e (At set to now when zero) among username's events
// for EventRetention. With the Redis mirror down, an instance with a
// persistent data dir queues it; one without answers kv.ErrUnavailable.
func (s *Service) RecordEvent(ctx context.Context, username string, e Event) error {
	name, err := NormalizeUsername(username)
	if err != nil {
		return err
	}
	if e.At.IsZero() {
		e.At = s.cfg.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("auth: encode event: %w", err)
	}
	var nonce [4]byte
	_, _ = rand.Read(nonce[:])
	key := fmt.Sprintf("%s%020d-%s", eventsOf(name), e.At.UnixNano(), hex.EncodeToString(nonce[:]))
	// The key is new (time and nonce): Set, which the Redis mirror queues
	// in its outbox while Redis is down, rather than Create, which it
	// refuses then.
	if err := s.store.Set(ctx, key, b, EventRetention); err != nil {
		return fmt.Errorf("auth: record event: %w", err)
	}
	if e.Kind == KindLogIn && e.NewDevice {
		// After the event: a marker always has its event to show.
		_, err := s.rewrite(ctx, name, "note a new-device log-in", func(u *User, _ time.Time) error {
			if e.At.After(u.NewSignInAt) {
				u.NewSignInAt, u.NewSignInBy = e.At, e.Session
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("auth: record event: %w", err)
		}
	}
	return nil
}

// Events returns up to limit of username's events, newest first; failed
// log-ins are not among them (FailedLogIns).
func (s *Service) Events(ctx context.Context, username string, limit int) ([]Event, error) {
	name, err := NormalizeUsername(username)
	if err != nil {
		return nil, err
	}
	// Event keys after the name start with their time, 20 digits: "0" until
	// the year 2286. Failure groups start with "failed:".
	return s.scanEvents(ctx, eventsOf(name)+"0", limit)
}

// scanEvents decodes up to limit events under prefix, last key first.
func (s *Service) scanEvents(ctx context.Context, prefix string, limit int) ([]Event, error) {
	var out []Event
	err := s.store.Scan(ctx, kv.Range{Prefix: prefix, Limit: limit, Reverse: true}, func(_ string, val []byte) error {
		var e Event
		if err := json.Unmarshal(val, &e); err != nil {
			return fmt.Errorf("auth: decode event: %w", err)
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("auth: events: %w", err)
	}
	return out, nil
}

// Failed log-ins are kept grouped, one key per account, network and hour:
// events:<name>:failed:<hour>-<net>, <hour> the hour's start in UnixNano
// (20 digits), <net> the first 8 hex digits of the network's SHA-256. So
// many failures make few keys, and they are read apart from the other
// events (Events, FailedLogIns): an attacker's failures cannot push real
// events out of what the member sees.
const failedSegment = "failed:"

// CoarseNetwork is the network an address belongs to as failed log-ins are
// grouped and shown: the /24 of an IPv4 address, the /48 of an IPv6 one
// ("203.0.113.0/24"); "unknown" for anything else. An attempt that failed
// may be someone else's typo: its full address is not kept.
func CoarseNetwork(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "unknown"
	}
	a = a.Unmap().WithZone("")
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return "unknown"
	}
	return p.String()
}

// RecordFailedLogIn counts one failed log-in of the account username from
// ip (CoarseNetwork) at at, in that network's group for the hour. A name
// with no account records nothing (kv.ErrNotFound is not returned: nil).
// Two instances counting at once may lose a count (the group is rewritten
// conditionally, three tries), never a group.
func (s *Service) RecordFailedLogIn(ctx context.Context, username, ip string, at time.Time) error {
	name, err := NormalizeUsername(username)
	if err != nil {
		return nil
	}
	if _, err := s.store.Get(ctx, userPrefix+name); err != nil {
		if errors.Is(err, kv.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("auth: record failed log-in: %w", err)
	}
	network := CoarseNetwork(ip)
	sum := sha256.Sum256([]byte(network))
	hour := at.UTC().Truncate(time.Hour)
	key := fmt.Sprintf("%s%s%020d-%s", eventsOf(name), failedSegment, hour.UnixNano(), hex.EncodeToString(sum[:4]))
	ttl := EventRetention - at.Sub(hour)
	for range 3 {
		e := Event{At: at.UTC(), Kind: KindLogInFailed, Event: "Failed log-in attempts", IP: network, Count: 1}
		old, err := s.store.Get(ctx, key)
		switch {
		case errors.Is(err, kv.ErrNotFound):
			b, _ := json.Marshal(e)
			err = s.store.Create(ctx, key, b, ttl)
		case err == nil:
			var prev Event
			if json.Unmarshal(old, &prev) == nil {
				e.Count = prev.Count + 1
				if prev.At.After(e.At) {
					e.At = prev.At
				}
			}
			b, _ := json.Marshal(e)
			err = s.store.Replace(ctx, key, old, b, ttl)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, kv.ErrExists) && !errors.Is(err, kv.ErrChanged) && !errors.Is(err, kv.ErrNotFound) {
			return fmt.Errorf("auth: record failed log-in: %w", err)
		}
	}
	return nil // lost to concurrent counts: the group holds theirs
}

// FailedLogIns returns up to limit of username's failed log-in groups,
// the latest hours first.
func (s *Service) FailedLogIns(ctx context.Context, username string, limit int) ([]Event, error) {
	name, err := NormalizeUsername(username)
	if err != nil {
		return nil, err
	}
	return s.scanEvents(ctx, eventsOf(name)+failedSegment, limit)
}

// deleteEvents removes every event of the account name (being deleted).
func (s *Service) deleteEvents(ctx context.Context, name string) error {
	return s.deletePrefix(ctx, eventsOf(name))
}

// deletePrefix removes every key that starts with prefix.
func (s *Service) deletePrefix(ctx context.Context, prefix string) error {
	var keys []string
	err := s.store.Scan(ctx, kv.Range{Prefix: prefix}, func(key string, _ []byte) error {
		keys = append(keys, key)
		return nil
	})
	if err != nil {
		return fmt.Errorf("auth: delete %s…: %w", prefix, err)
	}
	for _, k := range keys {
		if err := s.store.Delete(ctx, k); err != nil {
			return fmt.Errorf("auth: delete %s…: %w", prefix, err)
		}
	}
	return nil
}

// checkEventKey checks an events:<name>:<time>-<nonce> key and its value.
func checkEventKey(rest string, value []byte) (string, error) {
	name, id, ok := strings.Cut(rest, ":")
	if !ok {
		return "", errors.New("an event key names no account")
	}
	id = strings.TrimPrefix(id, failedSegment)
	at, nonce, ok := strings.Cut(id, "-")
	if !ok || len(at) != 20 || strings.Trim(at, "0123456789") != "" || len(nonce) != 8 {
		return "", errors.New("an event key has no time and nonce")
	}
	if value != nil {
		var e Event
		if err := json.Unmarshal(value, &e); err != nil || e.Event == "" {
			return "", errors.New("the event record does not decode")
		}
	}
	return name, nil
}
