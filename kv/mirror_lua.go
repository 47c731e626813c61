package kv

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Write modes of putScript.
const (
	modeSet    = "set"    // a live write: always applied, its version bumped past the stored one if needed
	modeDelete = "del"    // a live delete: a tombstone, keeping the stored record's expiry if it has one
	modeCreate = "create" // applied only if no live value exists (and Redis has its epoch)
	modeSync   = "sync"   // replay and push-back: applied only if newer than the stored one
)

// putScript is the one way records enter Redis. It compares versions in
// Redis itself (so a replay racing a newer write from another instance can
// never overwrite it), keeps the ordered index and the expiry index, and
// publishes the change. Versions are fixed-width strings compared as
// strings; only the 16-digit microsecond part is ever read as a number,
// which a Lua double holds exactly.
//
// KEYS: record, index, expiry index, epoch.
// ARGV: stored record, mode, index member (key without prefix), channel,
// instance id, now (Unix ms), the expiry (Unix ms) of a tombstone replacing
// a record that had none (see foreverTombstoneTTL).
// Returns {1, stored} when written, {0} when refused, {-1} when a create
// finds no epoch (Redis lost its data and has not been refilled yet).
var putScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
local rec, mode, member = ARGV[1], ARGV[2], ARGV[3]
local curVer, curLive, curExp = '', false, nil
if cur then
  if string.sub(cur, 1, 2) == '~1' and string.len(cur) >= 44 then
    curVer = string.sub(cur, 3, 30)
    curLive = string.sub(cur, 31, 31) == 'v'
    curExp = string.sub(cur, 32, 44)
  else
    curLive = true
  end
end
if mode == 'create' then
  if redis.call('EXISTS', KEYS[4]) == 0 then return {-1} end
  if curLive then return {0} end
end
local ver = string.sub(rec, 3, 30)
if curVer >= ver then
  if mode == 'sync' then return {0} end
  ver = string.format('%016d', tonumber(string.sub(curVer, 1, 16)) + 1) .. ARGV[5]
  rec = '~1' .. ver .. string.sub(rec, 31)
end
if mode == 'del' and curExp then
  if tonumber(curExp) == 0 then curExp = string.format('%013d', tonumber(ARGV[7])) end
  rec = string.sub(rec, 1, 31) .. curExp .. string.sub(rec, 45)
end
local live = string.sub(rec, 31, 31) == 'v'
local exp = tonumber(string.sub(rec, 32, 44))
local now = tonumber(ARGV[6])
if exp > 0 then
  if exp <= now then
    if mode == 'sync' then return {0} end
    exp = now + 1000
  end
  redis.call('SET', KEYS[1], rec, 'PX', exp - now)
else
  redis.call('SET', KEYS[1], rec)
end
if live then
  redis.call('ZADD', KEYS[2], 0, member)
  if exp > 0 then redis.call('ZADD', KEYS[3], exp, member) else redis.call('ZREM', KEYS[3], member) end
else
  redis.call('ZREM', KEYS[2], member)
  redis.call('ZREM', KEYS[3], member)
end
if live then
  redis.call('PUBLISH', ARGV[4], member)
else
  redis.call('PUBLISH', ARGV[4], member .. '\n' .. rec)
end
return {1, rec}
`)

// sweepScript drops from the ordered index the keys whose TTL has passed
// (Redis expires the records themselves), a bounded batch per call.
// KEYS: expiry index, index. ARGV: now (Unix ms), key prefix.
var sweepScript = redis.NewScript(`
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 500)
for _, m in ipairs(gone) do
  redis.call('ZREM', KEYS[1], m)
  if redis.call('EXISTS', ARGV[2] .. m) == 0 then redis.call('ZREM', KEYS[2], m) end
end
return #gone
`)

const (
	putWritten = 1
	putRefused = 0
	putNoEpoch = -1
)

type putResult struct {
	status int64
	stored []byte
}

func (m *Mirror) putArgs(key string, stored []byte, mode string) ([]string, []any) {
	now := m.now()
	return []string{m.rkey(key), m.indexKey(), m.expiryKey(), m.epochKey()},
		[]any{stored, mode, key, m.channel(), m.local.clock.id, now.UnixMilli(), now.Add(foreverTombstoneTTL).UnixMilli()}
}

// put runs putScript for one record.
func (m *Mirror) put(ctx context.Context, key string, stored []byte, mode string) (putResult, error) {
	keys, args := m.putArgs(key, stored, mode)
	v, err := putScript.Run(ctx, m.rdb, keys, args...).Slice()
	if err != nil {
		return putResult{}, err
	}
	return parsePut(v)
}

func parsePut(v []any) (putResult, error) {
	if len(v) == 0 {
		return putResult{}, fmt.Errorf("kv: redis put: empty answer")
	}
	status, _ := v[0].(int64)
	res := putResult{status: status}
	if status == putWritten && len(v) > 1 {
		s, _ := v[1].(string)
		res.stored = []byte(s)
	}
	return res, nil
}

// putMany runs putScript in sync mode for many records in one pipeline.
func (m *Mirror) putMany(ctx context.Context, keys []string, stored [][]byte) error {
	if len(keys) == 0 {
		return nil
	}
	// Load the script once, so the pipeline can use EVALSHA.
	if err := putScript.Load(ctx, m.rdb).Err(); err != nil {
		return err
	}
	pipe := m.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(keys))
	for i, k := range keys {
		rk, args := m.putArgs(k, stored[i], modeSync)
		cmds[i] = putScript.EvalSha(ctx, pipe, rk, args...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return err
		}
	}
	return nil
}
