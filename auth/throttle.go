package auth

import (
	"sync"
	"time"
)

// Throttle counts failures per key (a client IP or an account) in fixed
// windows and blocks a key that reached its limit until its window ends. Its
// memory is bounded: at most maxKeys keys are tracked; when full, expired
// windows are dropped first, then the oldest.
type Throttle struct {
	limit   int
	window  time.Duration
	maxKeys int
	now     func() time.Time

	mu   sync.Mutex
	hits map[string]*window
}

type window struct {
	start time.Time
	count int
}

// NewThrottle allows limit failures per key per window, tracking at most
// maxKeys keys.
func NewThrottle(limit int, per time.Duration, maxKeys int, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{limit: limit, window: per, maxKeys: maxKeys, now: now, hits: make(map[string]*window)}
}

// Blocked reports how long key must still wait; 0 means it may try.
func (t *Throttle) Blocked(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.hits[key]
	if !ok || w.count < t.limit {
		return 0
	}
	left := w.start.Add(t.window).Sub(t.now())
	if left <= 0 {
		delete(t.hits, key)
		return 0
	}
	return left
}

// Fail records one failure for key.
func (t *Throttle) Fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.add(key)
}

// Reserve checks and counts one attempt for key in one step: if key is
// blocked it returns how long it must wait and counts nothing; otherwise it
// counts the attempt and returns 0. A reservation that turns out not to be a
// failure is given back with Release.
func (t *Throttle) Reserve(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if w, ok := t.hits[key]; ok && w.count >= t.limit {
		left := w.start.Add(t.window).Sub(t.now())
		if left > 0 {
			return left
		}
		delete(t.hits, key)
	}
	t.add(key)
	return 0
}

// Release gives back one reservation of key (a success, or an attempt that
// never reached the password check).
func (t *Throttle) Release(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if w, ok := t.hits[key]; ok && w.count > 0 {
		w.count--
	}
}

// add counts one for key; t.mu is held.
func (t *Throttle) add(key string) {
	now := t.now()
	w, ok := t.hits[key]
	if ok && now.Sub(w.start) >= t.window {
		ok = false
	}
	if !ok {
		if len(t.hits) >= t.maxKeys {
			t.evict(now)
		}
		w = &window{start: now}
		t.hits[key] = w
	}
	w.count++
}

// Len is the number of keys tracked.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.hits)
}

// evict drops expired windows, and if none had expired, the oldest one.
func (t *Throttle) evict(now time.Time) {
	var oldestKey string
	var oldest time.Time
	for k, w := range t.hits {
		if now.Sub(w.start) >= t.window {
			delete(t.hits, k)
			continue
		}
		if oldestKey == "" || w.start.Before(oldest) {
			oldestKey, oldest = k, w.start
		}
	}
	if len(t.hits) >= t.maxKeys && oldestKey != "" {
		delete(t.hits, oldestKey)
	}
}

// gate bounds the password hashes in flight per address and overall, so a
// flood cannot queue hashes without bound in front of everyone else.
type gate struct {
	perKey, total int

	mu    sync.Mutex
	n     int
	byKey map[string]int
}

func newGate(perKey, total int) *gate {
	return &gate{perKey: perKey, total: total, byKey: make(map[string]int)}
}

// enter takes a slot for key, or reports false when key or the whole
// instance is at its bound.
func (g *gate) enter(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n >= g.total || g.byKey[key] >= g.perKey {
		return false
	}
	g.n++
	g.byKey[key]++
	return true
}

// leave gives key's slot back.
func (g *gate) leave(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.byKey[key]--; g.byKey[key] <= 0 {
		delete(g.byKey, key)
	}
}
