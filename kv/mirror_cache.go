package kv

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// mirrorCache holds records read from Redis under the prefixes an operator
// allowed (MirrorOptions.CachePrefixes: the records the request path reads),
// so that a hot key costs no round trip. docs/architecture.md ("The mirror's
// cache") states its bounds; in short:
//
//   - Coherent by invalidation: every change any instance makes is
//     published by Redis in the same script that makes it (the previous
//     release's script too: the message format is unchanged), and drops the
//     key here (invalidate). A (re)subscribe, a failed Redis call and the
//     mirror coming up drop everything (invalidateAll).
//   - Served only while the link is not in doubt (usable): the last
//     heartbeat this instance published on its own channel and heard back
//     on its Pub/Sub connection was sent less than beatWindow ago, and no
//     probe has been waiting longer than that. Redis delivers a
//     subscriber's messages in the order it ran the PUBLISHes, so once a
//     beat sent at s is heard, every change acknowledged before s has been
//     heard (and dropped) here: a cached answer is never staler than
//     beatWindow, whatever its age.
//   - The race of a read that misses, reads Redis, and stores its answer
//     after an invalidation for a newer write came in: put stores only if
//     neither the key's stripe version nor the epoch moved since the read
//     began (token).
//   - A backstop: an entry lives at most ttl (cacheFor), so even a change
//     that published nothing is honoured within it.
//   - Bounded in bytes: keys, values and a per-entry overhead together stay
//     under maxBytes (mirrorCacheBytes); past it, arbitrary entries are
//     dropped. An entry larger than maxBytes/64 is not kept.
//
// An entry with a nil raw records that Redis had no trace of the key (the
// read falls back to the local copy, as without the cache).
type mirrorCache struct {
	prefixes []string
	maxBytes int64
	ttl      time.Duration
	start    time.Time // the cache's clock: monotonic time since start
	seed     maphash.Seed

	mu      sync.RWMutex
	entries map[string]cachedRecord
	bytes   int64
	epoch   uint64               // bumped by invalidateAll
	stripes [cacheStripes]uint64 // bumped by invalidate of a key hashing there

	heard    atomic.Int64 // send time of the last heartbeat heard back; 0: none
	sent     atomic.Int64 // send time of the last heartbeat published
	probeOut atomic.Int64 // start of the probe in flight; 0: none

	hits, misses, bypassed atomic.Uint64
}

type cachedRecord struct {
	raw []byte // the stored record; nil: Redis has no trace of the key
	at  int64  // cache clock when read
}

// cacheToken is what a read saw before asking Redis (token), for put.
type cacheToken struct {
	epoch, stripe uint64
}

const (
	// cacheFor is the backstop: no entry is served past this age.
	cacheFor = 30 * time.Second
	// mirrorCacheBytes bounds the cache (README, "Memory": GOMEMLIMIT).
	mirrorCacheBytes = 16 << 20
	// cacheEntryOverhead is charged per entry on top of key and value: the
	// map slot, the string and slice headers, the allocation rounding.
	cacheEntryOverhead = 96
	cacheStripes       = 4096
	// beatEvery is how often an instance publishes a heartbeat on its own
	// channel; beatWindow how old the last one heard back may be (by its
	// send time) for the cache to serve.
	beatEvery  = 20 * time.Millisecond
	beatWindow = 75 * time.Millisecond
)

func newMirrorCache(prefixes []string) *mirrorCache {
	return &mirrorCache{
		prefixes: prefixes,
		maxBytes: mirrorCacheBytes,
		ttl:      cacheFor,
		start:    time.Now(),
		seed:     maphash.MakeSeed(),
		entries:  make(map[string]cachedRecord),
	}
}

// clock is the cache's time: nanoseconds since start, never 0.
func (c *mirrorCache) clock() int64 { return int64(time.Since(c.start)) + 1 }

// covers reports whether key may be cached.
func (c *mirrorCache) covers(key string) bool {
	for _, p := range c.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// usable reports whether the link is not in doubt (see mirrorCache): the
// last heartbeat heard back was sent within beatWindow and no probe has
// been unanswered longer than that.
func (c *mirrorCache) usable(now int64) bool {
	h := c.heard.Load()
	if h == 0 || now-h > int64(beatWindow) {
		return false
	}
	p := c.probeOut.Load()
	return p == 0 || now-p <= int64(beatWindow)
}

// get returns key's cached record (raw nil: Redis had no trace of it) if
// the link is not in doubt and the entry is younger than ttl. It counts a
// hit, a miss or a bypass (in doubt).
func (c *mirrorCache) get(key string) (raw []byte, ok bool) {
	now := c.clock()
	if !c.usable(now) {
		c.bypassed.Add(1)
		return nil, false
	}
	c.mu.RLock()
	e, found := c.entries[key]
	c.mu.RUnlock()
	if !found || now-e.at >= int64(c.ttl) {
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	return e.raw, true
}

func (c *mirrorCache) stripe(key string) int {
	return int(maphash.String(c.seed, key) % cacheStripes)
}

// token is read before the Redis read whose answer put will store.
func (c *mirrorCache) token(key string) cacheToken {
	i := c.stripe(key)
	c.mu.RLock()
	defer c.mu.RUnlock()
	return cacheToken{epoch: c.epoch, stripe: c.stripes[i]}
}

// put stores raw (nil: Redis had no trace of key), read from Redis after
// token returned tok, unless an invalidation of key (or of everything)
// came in between: the answer may predate the change it announced.
func (c *mirrorCache) put(key string, raw []byte, tok cacheToken) {
	size := int64(len(key)+len(raw)) + cacheEntryOverhead
	i := c.stripe(key)
	now := c.clock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != tok.epoch || c.stripes[i] != tok.stripe {
		return
	}
	c.dropLocked(key)
	if size > c.maxBytes/64 {
		return // not worth the room
	}
	for k := range c.entries { // map order is random: an arbitrary victim
		if c.bytes+size <= c.maxBytes {
			break
		}
		c.dropLocked(k)
	}
	c.entries[key] = cachedRecord{raw: raw, at: now}
	c.bytes += size
}

func (c *mirrorCache) dropLocked(key string) {
	if e, ok := c.entries[key]; ok {
		c.bytes -= int64(len(key)+len(e.raw)) + cacheEntryOverhead
		delete(c.entries, key)
	}
}

// invalidate drops key (any instance changed it), or everything for "".
func (c *mirrorCache) invalidate(key string) {
	if key == "" {
		c.invalidateAll()
		return
	}
	i := c.stripe(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stripes[i]++
	c.dropLocked(key)
}

// invalidateAll drops everything: messages may have been missed.
func (c *mirrorCache) invalidateAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	clear(c.entries)
	c.bytes = 0
}

// distrust puts the link in doubt until the next heartbeat heard back (a
// Pub/Sub reconnect: beats sent on the old connection never come).
func (c *mirrorCache) distrust() { c.heard.Store(0) }

// beatHeard records a heartbeat heard back, sent at sent (cache clock).
func (c *mirrorCache) beatHeard(sent int64) {
	for {
		h := c.heard.Load()
		if sent <= h || sent > c.clock() || c.heard.CompareAndSwap(h, sent) {
			return
		}
	}
}

// CacheStats counts the reads of cached prefixes while the mirror served
// from Redis: answered from memory (Hits), read from Redis because the
// entry was missing or too old (Misses), or because the link was in doubt
// (Bypassed); Bytes is the cache's size as bounded.
type CacheStats struct {
	Hits, Misses, Bypassed uint64
	Bytes                  int64
	Entries                int
}

// CacheStats returns the cache's counters since OpenMirror.
func (m *Mirror) CacheStats() CacheStats {
	c := m.cache
	c.mu.RLock()
	defer c.mu.RUnlock()
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Bypassed: c.bypassed.Load(), Bytes: c.bytes, Entries: len(c.entries)}
}

// CacheCounts is CacheStats for the metrics (metrics.MirrorCache).
func (m *Mirror) CacheCounts() (hits, misses, bypassed uint64, bytes int64) {
	st := m.CacheStats()
	return st.Hits, st.Misses, st.Bypassed, st.Bytes
}
