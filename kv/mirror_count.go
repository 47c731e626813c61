package kv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Shared attempt counters (docs/architecture.md, "Log-in throttling"). A
// counter is a sorted set in Redis whose members are attempts, each with
// its own end (the score, in Redis' clock, milliseconds):
//
//	p:<id>  a reservation: an attempt being checked, ends after the hold
//	f:<id>  a counted event (a failed log-in): ends after the window
//
// The count is every member not yet ended. So nothing can leak: a
// reservation that never gets its verdict (the instance killed while
// hashing, the link down when it gives it back, a reservation applied
// after the instance had given up on it) ends by itself after the hold, and
// every step is idempotent by the attempt's id, so a command sent twice (a
// client retry after a read timeout, a replay) changes nothing the second
// time: a resent give-back removes only its own reservation, never a
// counted failure, and a resent count counts once.

// reserveScript: KEYS[1] the counter; ARGV id, limit, window ms, hold ms.
// Returns 0 when the attempt is reserved (or already was), else how many
// milliseconds until the count drops below the limit.
var reserveScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], 'p:' .. ARGV[1]) or redis.call('ZSCORE', KEYS[1], 'f:' .. ARGV[1]) then
  return 0
end
local n = redis.call('ZCARD', KEYS[1])
local limit = tonumber(ARGV[2])
if n >= limit then
  local m = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
  return math.max(tonumber(m[2]) - now, 1)
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), 'p:' .. ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]))
return 0
`)

// keepScript: KEYS[1] the counter; ARGV id, window ms. The reservation
// becomes a counted event (added even if the reservation already ended: the
// verdict is a failure all the same), once.
var keepScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREM', KEYS[1], 'p:' .. ARGV[1])
redis.call('ZADD', KEYS[1], 'NX', now + tonumber(ARGV[2]), 'f:' .. ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]))
return 0
`)

// Reserve counts attempt id under key, unless the count (counted events of
// the last window, plus reservations still held) is at limit: then it
// counts nothing and returns how long until it drops below (at least a
// millisecond). A reservation ends by itself after hold unless Keep
// counts it first; reserving an id twice counts it once. It returns
// ErrUnavailable while Redis is down (callers count locally then).
func (m *Mirror) Reserve(ctx context.Context, key, id string, limit int, window, hold time.Duration) (time.Duration, error) {
	if !m.up() {
		return 0, ErrUnavailable
	}
	ms, err := reserveScript.Run(ctx, m.rdb, []string{m.rkey(key)}, id, limit, window.Milliseconds(), hold.Milliseconds()).Int64()
	if err != nil {
		m.trip(ctx, err)
		return 0, fmt.Errorf("kv: reserve %s: %w", key, ErrUnavailable)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Keep turns attempt id's reservation under key into an event counted for
// window (a failed log-in), and counts it even if the reservation already
// ended; keeping an id twice counts it once. ErrUnavailable while Redis is
// down.
func (m *Mirror) Keep(ctx context.Context, key, id string, window time.Duration) error {
	if !m.up() {
		return ErrUnavailable
	}
	if err := keepScript.Run(ctx, m.rdb, []string{m.rkey(key)}, id, window.Milliseconds()).Err(); err != nil && !errors.Is(err, redis.Nil) {
		m.trip(ctx, err)
		return fmt.Errorf("kv: keep %s: %w", key, ErrUnavailable)
	}
	return nil
}

// Release gives attempt id's reservation under key back (a success, or no
// verdict). It never removes a counted event, so releasing twice, or
// releasing an id that was kept, changes nothing. ErrUnavailable while
// Redis is down; the reservation then ends by itself after its hold.
func (m *Mirror) Release(ctx context.Context, key, id string) error {
	if !m.up() {
		return ErrUnavailable
	}
	if err := m.rdb.ZRem(ctx, m.rkey(key), "p:"+id).Err(); err != nil {
		m.trip(ctx, err)
		return fmt.Errorf("kv: release %s: %w", key, ErrUnavailable)
	}
	return nil
}
