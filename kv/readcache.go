package kv

import (
	"sync"
	"time"
)

// readCache keeps recently read records of the local store in memory, so a
// hot key (a session, an avatar: read on every request) costs a map lookup
// instead of a Badger read transaction and a copy out of its tables.
//
// It is coherent by construction: every write of the store (Set, Create,
// Delete, the mirror's local writes, a restore) drops the keys it wrote
// after committing them, and a read only fills an entry if no write was
// committed since it began (gen), so an entry never outlives the value it
// copies. A key that expires by TTL expires here at the very second Badger
// hides it (Badger's rule: ExpiresAt <= now in Unix seconds). Misses (a key
// absent or deleted) are cached too: a user who never chose an avatar is
// read on every request as well.
//
// Bounded: at most cacheMaxEntries records and cacheMaxBytes of values;
// past either, an arbitrary entry is dropped per insertion.
type readCache struct {
	mu      sync.RWMutex
	entries map[string]cacheEntry
	bytes   int
	gen     uint64 // bumped by every invalidation
}

type cacheEntry struct {
	raw       []byte // the stored record; nil: no such key
	expiresAt uint64 // Badger's expiry, Unix seconds; 0 = never
}

const (
	cacheMaxEntries = 16_384
	cacheMaxBytes   = 8 << 20
)

func newReadCache() *readCache {
	return &readCache{entries: make(map[string]cacheEntry)}
}

// get returns key's cached record (raw nil: known absent) if there is one
// that has not expired. The caller must not modify raw.
func (c *readCache) get(key string) (raw []byte, ok bool) {
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || e.expiresAt != 0 && e.expiresAt <= uint64(time.Now().Unix()) {
		return nil, false
	}
	return e.raw, true
}

// generation is read before the store read whose result put will keep.
func (c *readCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put keeps raw (nil: absent) for key, as read after generation returned
// gen, unless a write was committed in between (the read may predate it).
func (c *readCache) put(key string, raw []byte, expiresAt uint64, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if old, ok := c.entries[key]; ok {
		c.bytes -= len(key) + len(old.raw)
		delete(c.entries, key)
	}
	size := len(key) + len(raw)
	if size > cacheMaxBytes/64 {
		return // not worth the room
	}
	for k, e := range c.entries { // map order is random: an arbitrary victim
		if len(c.entries) < cacheMaxEntries && c.bytes+size <= cacheMaxBytes {
			break
		}
		c.bytes -= len(k) + len(e.raw)
		delete(c.entries, k)
	}
	c.entries[key] = cacheEntry{raw: raw, expiresAt: expiresAt}
	c.bytes += size
}

// drop forgets keys after a write to them was committed.
func (c *readCache) drop(keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, k := range keys {
		if e, ok := c.entries[k]; ok {
			c.bytes -= len(k) + len(e.raw)
			delete(c.entries, k)
		}
	}
}

// dropAll forgets everything (a restore replaced the store's contents).
func (c *readCache) dropAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
	c.bytes = 0
}

// len is the number of cached entries (tests).
func (c *readCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
