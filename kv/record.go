package kv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Stored form of a value, in Badger and in Redis alike: a fixed-width header
// that versions the record, then the caller's bytes.
//
//	"~1" | version (28) | kind (1) | expires (13) | value
//
// version is 16 decimal digits of Unix microseconds then a 12-character
// instance id: fixed width, so versions compare as strings, in Go and in
// Redis' Lua (whose numbers are doubles: 16 digits of microseconds stay
// exact). kind is 'v' for a value and 't' for a tombstone (a deleted key,
// no value). expires is Unix milliseconds, 13 digits, all zero when the key
// never expires. A value written by a release before this format (plain
// JSON, never starting with "~1") reads as a value of version "", older
// than every versioned one, so old volumes stay readable without migration.
const (
	recMagic    = "~1"
	tsDigits    = 16
	idLen       = 12
	versionLen  = tsDigits + idLen
	kindAt      = len(recMagic) + versionLen
	expiresAt   = kindAt + 1
	expDigits   = 13
	headerLen   = expiresAt + expDigits
	kindValue   = 'v'
	kindDeleted = 't'
)

// record is a decoded stored value.
type record struct {
	version string // "" for a value written before versioning
	deleted bool   // a tombstone
	expires int64  // Unix ms; 0 = never
	val     []byte
}

// encodeRecord returns the stored form of a record.
func encodeRecord(version string, deleted bool, expires int64, val []byte) []byte {
	b := make([]byte, 0, headerLen+len(val))
	b = append(b, recMagic...)
	b = append(b, version...)
	if deleted {
		b = append(b, kindDeleted)
	} else {
		b = append(b, kindValue)
	}
	b = fmt.Appendf(b, "%0*d", expDigits, expires)
	return append(b, val...)
}

// decodeRecord reads a stored value. Bytes without the header are a value
// from before versioning. val aliases b.
func decodeRecord(b []byte) record {
	exp, ok := recordHeader(b)
	if !ok {
		return record{val: b}
	}
	return record{
		version: string(b[len(recMagic):kindAt]),
		deleted: b[kindAt] == kindDeleted,
		expires: exp,
		val:     b[headerLen:],
	}
}

// recordValue is decodeRecord without the version and the expiry, which a
// plain Get does not need (the version would cost an allocation on every
// read).
func recordValue(b []byte) (val []byte, deleted bool) {
	if _, ok := recordHeader(b); !ok {
		return b, false
	}
	return b[headerLen:], b[kindAt] == kindDeleted
}

// recordHeader reports whether b starts with a record header, and its
// expiry (Unix ms; 0 = never).
func recordHeader(b []byte) (expires int64, ok bool) {
	if len(b) < headerLen || string(b[:len(recMagic)]) != recMagic {
		return 0, false
	}
	exp, err := strconv.ParseInt(string(b[expiresAt:headerLen]), 10, 64)
	return exp, err == nil
}

// ttl is how long the record still lives from now: > 0, or 0 for a record
// that never expires, or < 0 for one that has expired.
func (r record) ttl(now time.Time) time.Duration {
	if r.expires == 0 {
		return 0
	}
	left := time.UnixMilli(r.expires).Sub(now)
	if left == 0 {
		left = -1
	}
	return left
}

// expiryOf returns the absolute expiry (Unix ms) of a write with ttl made at
// now; 0 when ttl <= 0 (never expires).
func expiryOf(now time.Time, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return now.Add(ttl).UnixMilli()
}

// versionClock issues versions that only go up within a process, even if
// the wall clock steps back.
type versionClock struct {
	id string

	mu   sync.Mutex
	last int64
}

func newVersionClock() *versionClock {
	b := make([]byte, idLen/2)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return &versionClock{id: hex.EncodeToString(b)}
}

// next returns a version newer than every version this clock issued.
func (c *versionClock) next(now time.Time) string {
	c.mu.Lock()
	us := max(now.UnixMicro(), c.last+1)
	c.last = us
	c.mu.Unlock()
	return fmt.Sprintf("%0*d%s", tsDigits, us, c.id)
}
