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
