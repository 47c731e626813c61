package session

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"sync"
	"time"
)

// decodedCache remembers the decoded form of recently loaded session
// records, keyed by record id, so a request whose record is byte for byte
// the one decoded before skips the JSON decode. It is only a memo of a
// pure function: the store is still read on every request (it answers
// from its own read cache, which every write and delete drops), and an
// entry is used only when the bytes just read equal the bytes it was
// decoded from, so a renewal, a log-out or a revocation anywhere is seen
// exactly as without it. Bounded: past maxDecoded entries an arbitrary one
// is dropped per insertion.
type decodedCache struct {
	mu      sync.RWMutex
	entries map[string]decoded
}

type decoded struct {
	raw []byte
	rec Record
}

const maxDecoded = 16_384

func newDecodedCache() *decodedCache {
	return &decodedCache{entries: make(map[string]decoded)}
}

// record returns the decoded form of raw, the stored record of id.
func (c *decodedCache) record(id string, raw []byte) (Record, error) {
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if ok && bytes.Equal(e.raw, raw) {
		return e.rec, nil
	}
	rec, err := decodeRecord(raw)
	if err != nil {
		return Record{}, err
	}
	c.mu.Lock()
	if _, ok := c.entries[id]; !ok && len(c.entries) >= maxDecoded {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[id] = decoded{raw: raw, rec: rec}
	c.mu.Unlock()
	return rec, nil
}

// forget drops id's entry (its record was deleted): not needed for
// correctness, it just gives the room back.
func (c *decodedCache) forget(id string) {
	c.mu.Lock()
	delete(c.entries, id)
	c.mu.Unlock()
}

// tokenCache remembers cookie values that decoded, with their token, record
// id and whether a previous key signed them, so a cookie presented again
// skips the base64 decode, the HMAC check and the SHA-256 of its token. A
// value is only ever remembered after securecookie accepted it (a forged
// or tampered value is never in the memo), the keys do not change while the
// process runs, and an entry is used only until the very second
// securecookie would call the value expired (its timestamp plus the max
// age), by the same clock. Bounded like decodedCache.
type tokenCache struct {
	mu      sync.RWMutex
	entries map[string]decodedToken
}

type decodedToken struct {
	token      []byte
	key        string // KeyPrefix + the record id: the id is key[len(KeyPrefix):]
	old        bool
	validUntil int64 // Unix seconds: the last second securecookie accepts it
}

const maxTokens = 16_384

func newTokenCache() *tokenCache {
	return &tokenCache{entries: make(map[string]decodedToken)}
}

// get returns value's remembered decoding while securecookie would still
// accept it.
func (c *tokenCache) get(value string) (decodedToken, bool) {
	c.mu.RLock()
	e, ok := c.entries[value]
	c.mu.RUnlock()
	if !ok || time.Now().UTC().Unix() > e.validUntil {
		return decodedToken{}, false
	}
	return e, true
}

// put remembers value, which securecookie just accepted with maxAge, as
// token, id and old.
func (c *tokenCache) put(value string, d decodedToken, maxAge time.Duration) {
	// securecookie's format: base64url("date|value|mac"), date in Unix
	// seconds; it refuses the value once date < now - maxAge.
	b, err := base64.URLEncoding.DecodeString(value)
	if err != nil {
		return
	}
	date, _, ok := bytes.Cut(b, []byte("|"))
	ts, err := strconv.ParseInt(string(date), 10, 64)
	if !ok || err != nil {
		return
	}
	d.validUntil = ts + int64(maxAge/time.Second)
	c.mu.Lock()
	if _, ok := c.entries[value]; !ok && len(c.entries) >= maxTokens {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[value] = d
	c.mu.Unlock()
}
