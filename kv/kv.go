// Package kv is soulbridge's store: Badger on the data dir (always) and,
// when REDIS_URL is set, a Redis mirror in front of it, both behind the one
// ctx-first contract that Store writes down.
//
// Every key is stored under a configurable prefix ("soulbridge:" by default),
// so several apps can share one Redis and a Badger dump is self-describing.
// Key layout (after the prefix):
//
//	user:<username>     account record (JSON)
//	avatar:<username>   avatar choice (JSON, with updated_at)
//	session:<sha256>    session record (JSON), keyed by the hex SHA-256 of the token
//	image:<sha256>      an uploaded avatar image (PNG), keyed by the hex SHA-256 of its bytes
//	imageref:<sha256>:<username>:<nonce>  one user's reference to an image (avatar/upload.go)
//	sessions-of:<username>:<public id>  the per-user session index: the record's id
//	meta:session-index  marker: the index holds every session older than it
//
// The package knows nothing about HTTP or about what the values mean.
// docs/architecture.md ("The store contract") explains why it is shaped so.
package kv

import (
	"context"
	"errors"
	"time"
)

// Error kinds returned by the store. Callers test them with errors.Is; the
// domain packages import kv for these errors only.
var (
	// ErrNotFound is returned by Get when the key does not exist, was
	// deleted, or its TTL has passed.
	ErrNotFound = errors.New("kv: not found")
	// ErrExists is returned by Create when the key is already present.
	ErrExists = errors.New("kv: already exists")
	// ErrUnavailable is returned when an operation needs the shared tier
	// (the Redis mirror) and it is down: a Create (which must be atomic
	// across instances), or any write on an instance that cannot queue it
	// durably. A Get whose key is missing locally while the shared tier is
	// down matches both ErrNotFound and ErrUnavailable: the key may exist on
	// another instance.
	ErrUnavailable = errors.New("kv: the shared store is unavailable")
	// ErrFull is returned by Set, Create and Delete (and every local write
	// of the mirror) when the data volume has too little free space to
	// write safely: Badger writes through mmap, and a full filesystem would
	// crash the process (SIGBUS) instead of failing the write. Nothing is
	// written then. Deletes need less room than other writes, so they go on
	// longer; every write is refused while the volume stays full (the store
	// is read-only then, and reads go on). Open returns it when the volume
	// is too full to open the store safely even after releasing the space
	// reserve. docs/architecture.md ("Full volume") explains the reserve.
	ErrFull = errors.New("kv: the data volume is full")
	// ErrChanged is returned by Replace when the key no longer holds the
	// value the caller read: another write landed in between.
	ErrChanged = errors.New("kv: changed since it was read")
	// ErrLocked is returned by Open when another process holds the data
	// dir's lock for longer than the lock timeout.
	ErrLocked = errors.New("kv: data dir is locked by another process")
)

// Store is the contract every store implementation keeps (Badger, and the
// Redis mirror that wraps it). The domain packages declare the subset they
// use; the shared test suite in kv/kvtest checks an implementation against
// every rule written here.
//
// Keys are UTF-8 strings without the store prefix (the store adds it); values
// are opaque bytes. A TTL > 0 makes a key expire that long after the write;
// a TTL <= 0 keeps it until it is deleted. An expired key is invisible to
// every method, exactly like a deleted one.
//
// Full volume: any write may return an error matching ErrFull instead of
// writing; Get, GetMany, Scan and Ping keep working.
//
// Durability: a nil error from Set, Create or Delete means the write is on
// the local disk (fsync) and so survives kill -9 and power loss; with the
// mirror, it is also visible to every instance or queued in the durable
// outbox to be replayed in order.
type Store interface {
	// Get returns the value stored under key, or an error matching
	// ErrNotFound. The returned slice is the caller's.
	Get(ctx context.Context, key string) ([]byte, error)
	// GetMany returns the values of keys in one round trip, in the order of
	// keys; a missing key gives a nil entry (never an error).
	GetMany(ctx context.Context, keys []string) ([][]byte, error)
	// Set stores val under key, replacing any value. A store that keeps
	// tombstones (the Redis mirror) keeps those of final keys (IsFinal:
	// session records and index entries, whose ids are never reused)
	// against every later write: Set of such a key after its Delete
	// returns an error matching ErrNotFound and writes nothing.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Create stores val under key only if the key is absent (never written,
	// deleted or expired); otherwise it returns ErrExists and changes
	// nothing. Concurrent Creates of one key succeed exactly once, across
	// every instance that shares the store.
	Create(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Renew replaces the value of key only if key holds a live value now:
	// it never creates a key and never writes over a deleted one (a
	// session's sliding renewal must not bring back a session that was
	// logged out). Otherwise it returns an error matching ErrNotFound and
	// changes nothing. With the mirror, "now" is as Redis sees it across
	// instances; while Redis is down, as the local copy sees it (a key
	// missing there gives an error matching ErrNotFound and
	// ErrUnavailable), and the renewal is queued to be replayed under the
	// same rule.
	Renew(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Replace stores val under key only if key's live value is, byte for
	// byte, old: the write of a read-modify-write that must not carry a
	// stale copy over a change made in between (an account's password
	// change and its "log out everywhere else"). Otherwise it returns
	// ErrChanged, or an error matching ErrNotFound when the key holds no
	// live value, and changes nothing. With the mirror the comparison is
	// made in Redis, so a write that reaches Redis late (held by a hung
	// connection after the caller gave up on it) finds the value moved on
	// and lands nowhere; and a Replace is never queued: while Redis is down,
	// or when the call fails, it returns ErrUnavailable (after a failed
	// call the write may still land later, but only over old).
	Replace(ctx context.Context, key string, old, val []byte, ttl time.Duration) error
	// Delete removes key; deleting a missing key is not an error. A store
	// may keep a tombstone (no value) so that no replica brings the key
	// back; it is invisible to Get, GetMany, Scan and Create.
	Delete(ctx context.Context, key string) error
	// Scan calls fn for the live keys in r, in ascending byte order of the
	// key, with the key (without the store prefix) and a copy of its value.
	// It stops at the first error fn returns and returns that error. A key
	// is never reported twice; keys written while a Scan runs may or may not
	// be seen.
	Scan(ctx context.Context, r Range, fn func(key string, val []byte) error) error
	// Ping checks that the store can serve a read.
	Ping(ctx context.Context) error
	// Close releases the store; it is safe to call more than once.
	Close() error
}

// Range selects keys for Scan: those that start with Prefix and sort
// strictly after After ("" = from the first), at most Limit of them (<= 0:
// no limit). Paging: pass the last key of one page as the next page's After.
//
// Reverse walks the keys in descending order instead: "after" then means
// after in that order, so After bounds the keys from above (strictly before
// After, "" = from the last) and the same paging works backwards. (Keys
// whose bytes after Prefix start with 0xff are not reached by a reverse walk
// from the last key; no key layout of this project has them.)
type Range struct {
	Prefix  string
	After   string
	Limit   int
	Reverse bool
}

// Compile-time check that Badger keeps the contract.
var _ Store = (*Badger)(nil)
