package auth

import (
	"bytes"
	"sync"
	"time"
)

// standingCache remembers the Standing of account records decoded before,
// keyed by username, so that checking a session's account on every request
// costs a store read (served by the store's own coherent read cache) and a
// byte comparison, not a JSON decode. It is a memo of a pure function: an
// entry is used only when the bytes just read equal the bytes it was decoded
// from, so a password change or a deletion anywhere is seen exactly as
// without it. Bounded: past maxStandings entries an arbitrary one is dropped
// per insertion.
type standingCache struct {
	mu      sync.RWMutex
	entries map[string]standing
}

type standing struct {
	key        string // the account's store key, kept so a hit allocates none
	raw        []byte
	generation string
	since      time.Time
}

const maxStandings = 16_384

func newStandingCache() *standingCache {
	return &standingCache{entries: make(map[string]standing)}
}

// lookup returns username's entry, if any, to compare with what the store
// holds now.
func (c *standingCache) lookup(username string) (standing, bool) {
	c.mu.RLock()
	e, ok := c.entries[username]
	c.mu.RUnlock()
	return e, ok
}

// of returns the standing of raw, username's stored account record (stored
// under key); e is username's entry from lookup, if ok.
func (c *standingCache) of(username, key string, raw []byte, e standing, ok bool) (standing, error) {
	if ok && bytes.Equal(e.raw, raw) {
		return e, nil
	}
	u, err := decodeUser(raw)
	if err != nil {
		return standing{}, err
	}
	e = standing{key: key, raw: bytes.Clone(raw)}
	e.generation, e.since = u.Standing()
	c.mu.Lock()
	if _, ok := c.entries[username]; !ok && len(c.entries) >= maxStandings {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[username] = e
	c.mu.Unlock()
	return e, nil
}
