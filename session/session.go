// Package session keeps people logged in across deploys: an opaque random
// token in a signed cookie, the record server-side under the token's SHA-256,
// idle and absolute expiry, throttled sliding renewal and key rotation.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"soulbridge/kv"
)

// Store is what sessions need from the key-value store (kv.Store keeps it).
// A Get error matching kv.ErrNotFound means "no session".
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	// GetMany and Scan serve the per-user index (index.go).
	GetMany(ctx context.Context, keys []string) ([][]byte, error)
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Renew writes only over a live value (kv.Store.Renew): the sliding
	// renewal, which must never bring back an ended session.
	Renew(ctx context.Context, key string, val []byte, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
	Scan(ctx context.Context, r kv.Range, fn func(key string, val []byte) error) error
}

// ErrNoSession means the request carries no usable session: no cookie, a
// cookie that fails to decode, or one that names no live record.
var ErrNoSession = errors.New("session: no session")

// Record is what the server keeps about one session.
type Record struct {
	Username  string    `json:"username"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	// ExpiresAt is the absolute end: CreatedAt + the maximum lifetime.
	ExpiresAt time.Time `json:"expires_at"`
	UserAgent string    `json:"user_agent"`
	IP        string    `json:"ip"`
	// UpdatedAt versions the record (for the Redis mirror).
	UpdatedAt time.Time `json:"updated_at"`
	// Generation is the account generation the session was made under
	// (Accounts): once the account's changes, the session grants nothing.
	// Empty in a record made (or renewed) by a release before generations:
	// such a record is judged by its time alone (heldBy).
	Generation string `json:"generation,omitempty"`
	// KeptAt is when the session was kept while every other session of
	// its account was ended ("log out everywhere else", Keep; a password
	// change, Rotate): it counts as made then. Zero otherwise.
	KeptAt time.Time `json:"kept_at,omitzero"`
	// Method is how the session was made (How): "password", "passkey",
	// "recovery" and so on; empty in a record of a release before it.
	// Passkey is the credential ID (base64url) of the passkey that made
	// it, so that removing the passkey ends it.
	Method  string `json:"method,omitempty"`
	Passkey string `json:"passkey,omitempty"`
}

// How says how a session is being made (Manager.StartBy).
type How struct {
	// Method is "password", "passkey", "recovery", "sign-up"...
	Method string
	// Passkey is the passkey's credential ID (base64url) when Method is
	// "passkey".
	Passkey string
}

// heldBy reports whether r still acts for its account, whose generation is
// generation and whose sessions made before since were all ended: the
// generation r was made under, if it carries one, must be the account's,
// and r must have been made (or kept) at or after since.
func (r Record) heldBy(generation string, since time.Time) bool {
	if r.Generation != "" && r.Generation != generation {
		return false
	}
	made := r.CreatedAt
	if r.KeptAt.After(made) {
		made = r.KeptAt
	}
	return !made.Before(since)
}

// Session is a live session loaded for a request.
type Session struct {
	Record
	// ID is the hex SHA-256 of the token: the record's key, safe to log.
	ID    string
	token []byte
	// raw is the record as Load read it: the renewal writes only over these
	// very bytes (see Manager.touch).
	raw []byte
}

// maxUserAgent bounds the stored user agent.
const maxUserAgent = 256

const (
	tokenBytes = 32
	// KeyPrefix starts every session record's store key.
	KeyPrefix = "session:"
)

func newToken() ([]byte, error) {
	t := make([]byte, tokenBytes)
	if _, err := rand.Read(t); err != nil {
		return nil, fmt.Errorf("session: token: %w", err)
	}
	return t, nil
}

// idOf returns the record ID of a token: hex SHA-256, so a copy of the store
// holds no usable token.
func idOf(token []byte) string {
	sum := sha256.Sum256(token)
	return hex.EncodeToString(sum[:])
}

// expiry returns when r ends: the earlier of its absolute end and its idle end.
func (r Record) expiry(idle time.Duration) time.Time {
	end := r.LastSeen.Add(idle)
	if r.ExpiresAt.Before(end) {
		return r.ExpiresAt
	}
	return end
}

func encodeRecord(r Record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("session: encode: %w", err)
	}
	return b, nil
}

func decodeRecord(b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("session: decode record: %w", err)
	}
	return r, nil
}
