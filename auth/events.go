package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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

// Event is one security event of an account.
type Event struct {
	At    time.Time `json:"at"`
	Event string    `json:"event"` // "account locked", …
	// By is who acted: "operator", or "" for the member.
	By string `json:"by,omitempty"`
}

func eventsOf(name string) string { return eventPrefix + name + ":" }

// RecordEvent keeps e (At set to now when zero) among username's events
// for EventRetention.
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
	if err := s.store.Create(ctx, key, b, EventRetention); err != nil {
		return fmt.Errorf("auth: record event: %w", err)
	}
	return nil
}

// Events returns up to limit of username's events, newest first.
func (s *Service) Events(ctx context.Context, username string, limit int) ([]Event, error) {
	name, err := NormalizeUsername(username)
	if err != nil {
		return nil, err
	}
	var out []Event
	err = s.store.Scan(ctx, kv.Range{Prefix: eventsOf(name), Limit: limit, Reverse: true}, func(_ string, val []byte) error {
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
