package kv

import (
	"strings"
	"sync"
	"time"
)

// memCache holds records read from Redis under the prefixes an operator
// allowed (MirrorOptions.CachePrefixes), so that a hot key costs no round
// trip. It is kept coherent by invalidation: every change any instance
// makes is published by Redis in the same script that makes it, and drops
// the key here; a (re)subscribe or a state change drops everything. An
// entry also lives at most cacheFor, so even a missed message is honoured
// within that bound.
type memCache struct {
	prefixes []string

	mu      sync.Mutex
	entries map[string]cachedRecord
	gen     uint64 // bumped by every invalidation
}

type cachedRecord struct {
	raw []byte
	at  time.Time
}

const (
	cacheFor     = time.Second
	cacheEntries = 10_000
)

func newMemCache(prefixes []string) *memCache {
	return &memCache{prefixes: prefixes, entries: make(map[string]cachedRecord)}
}

// covers reports whether key may be cached.
func (c *memCache) covers(key string) bool {
	for _, p := range c.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// get returns key's cached stored bytes if fresh.
func (c *memCache) get(key string, now time.Time) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || now.Sub(e.at) >= cacheFor {
		return nil, false
	}
	return e.raw, true
}

// generation is read before a Redis read whose answer put will store.
func (c *memCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put stores raw, read from Redis after generation returned gen, unless an
// invalidation came in between (the answer may predate it).
func (c *memCache) put(key string, raw []byte, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.entries) >= cacheEntries {
		for k := range c.entries { // drop an arbitrary entry
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = cachedRecord{raw: raw, at: now}
}

// invalidate drops key, or everything for "".
func (c *memCache) invalidate(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if key == "" {
		clear(c.entries)
		return
	}
	delete(c.entries, key)
}
