package kv

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Incr counts one event under key in a window shared by every instance:
// INCR, with the key expiring window after its first count. It returns the
// count, or ErrUnavailable while Redis is down (callers count locally then).
func (m *Mirror) Incr(ctx context.Context, key string, window time.Duration) (int64, error) {
	if !m.up() {
		return 0, ErrUnavailable
	}
	pipe := m.rdb.TxPipeline()
	incr := pipe.Incr(ctx, m.rkey(key))
	pipe.ExpireNX(ctx, m.rkey(key), window)
	if _, err := pipe.Exec(ctx); err != nil {
		m.trip(ctx, err)
		return 0, ErrUnavailable
	}
	return incr.Val(), nil
}

// Count returns the count under key (0 when none) and how long its window
// still runs, or ErrUnavailable while Redis is down.
func (m *Mirror) Count(ctx context.Context, key string) (int64, time.Duration, error) {
	if !m.up() {
		return 0, 0, ErrUnavailable
	}
	pipe := m.rdb.Pipeline()
	get := pipe.Get(ctx, m.rkey(key))
	ttl := pipe.PTTL(ctx, m.rkey(key))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		m.trip(ctx, err)
		return 0, 0, ErrUnavailable
	}
	s, err := get.Result()
	if errors.Is(err, redis.Nil) {
		return 0, 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("kv: count %s: %w", key, err)
	}
	return n, max(ttl.Val(), 0), nil
}

// decrScript takes one count back from a key that still exists; a key whose
// window ended is left alone (a plain DECR would recreate it, at -1 and
// without an expiry).
var decrScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('DECR', KEYS[1])
end
return 0
`)

// Decr takes one count back from key (a reservation given back), or
// returns ErrUnavailable while Redis is down.
func (m *Mirror) Decr(ctx context.Context, key string) error {
	if !m.up() {
		return ErrUnavailable
	}
	if err := decrScript.Run(ctx, m.rdb, []string{m.rkey(key)}).Err(); err != nil && !errors.Is(err, redis.Nil) {
		m.trip(ctx, err)
		return ErrUnavailable
	}
	return nil
}
