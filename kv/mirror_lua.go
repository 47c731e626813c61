package kv

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Write modes of putScript.
const (
	modeSet    = "set"    // a live write: always applied, its version bumped past the stored one if needed
	modeDelete = "del"    // a live delete: a tombstone, keeping the stored record's expiry if it has one
	modeCreate = "create" // applied only if no live value exists (and Redis has its epoch)
	modeSync   = "sync"   // replay and push-back: applied only if newer than the stored one
	modeRenew  = "renew"  // Renew, live or replayed: applied only over a live value, never creating one
	// modeReplace is Replace (never queued): applied only over a live
	// value equal to the one the caller read.
	modeReplace = "replace"
	// modeRemove exists only in a build with the plant_notombstone plant:
	// a delete that removes the key instead of leaving a tombstone.
	modeRemove = "remove"
)

// putSource is putScript's Lua. Versions are fixed-width strings compared
// as strings; only the 16-digit microsecond part is ever read as a number,
// which a Lua double holds exactly.
//
// KEYS: record, index, expiry index, epoch.
// ARGV: stored record, mode, index member (key without prefix), channel,
// instance id, now (Unix ms), the expiry (Unix ms) of a tombstone replacing
// a record that had none (see foreverTombstoneTTL), "1" when the key's
// tombstones are final (IsFinal), "1" when a live write is published with
// its record (sharedEverywhere), and for a replace the value it expects.
// Returns {1, stored} when written; {0} when refused, or {0, current}
// when refused because the key holds a final tombstone or (renew, replace)
// no live value; {2} when a replace finds another value; {-1} when a
// create, a renewal or a replace finds no epoch (Redis lost its data and
// has not been refilled yet).
//
// The lines marked "-- plant:" are where the planted bugs act (plant_*.go;
// putScriptSource edits them in a build with a plant's tag).
const putSource = `
local cur = redis.call('GET', KEYS[1])
local rec, mode, member = ARGV[1], ARGV[2], ARGV[3]
local final = ARGV[8] == '1'
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
local live = string.sub(rec, 31, 31) == 'v'
if mode == 'create' then
  if redis.call('EXISTS', KEYS[4]) == 0 then return {-1} end
  if curLive then return {0} end
end
if mode == 'renew' then -- plant: renew
  if not cur then
    if redis.call('EXISTS', KEYS[4]) == 0 then return {-1} end
    return {0}
  end
  if not curLive then return {0, cur} end
end -- plant: renew end
if mode == 'replace' then
  if not cur then
    if redis.call('EXISTS', KEYS[4]) == 0 then return {-1} end
    return {0}
  end
  if not curLive then return {0, cur} end
  local curVal = cur
  if curVer ~= '' then curVal = string.sub(cur, 45) end
  if curVal ~= ARGV[10] then return {2} end
end
if final and cur and not curLive and live then return {0, cur} end -- plant: final
local ends = final and curLive and not live
local ver = string.sub(rec, 3, 30)
if curVer >= ver then
  if mode == 'sync' and not ends then return {0} end -- plant: version
  ver = string.format('%016d', tonumber(string.sub(curVer, 1, 16)) + 1) .. ARGV[5]
  rec = '~1' .. ver .. string.sub(rec, 31)
end
if mode == 'del' and curExp then
  if tonumber(curExp) == 0 then curExp = string.format('%013d', tonumber(ARGV[7])) end
  rec = string.sub(rec, 1, 31) .. curExp .. string.sub(rec, 45)
elseif ends and curExp and tonumber(curExp) > tonumber(string.sub(rec, 32, 44)) then
  rec = string.sub(rec, 1, 31) .. curExp .. string.sub(rec, 45)
end
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
if live and ARGV[9] ~= '1' then
  redis.call('PUBLISH', ARGV[4], member)
else
  redis.call('PUBLISH', ARGV[4], member .. '\n' .. rec)
end
return {1, rec}
`

// putScript is the one way records enter Redis. It compares versions in
// Redis itself (so a replay racing a newer write from another instance can
// never overwrite it), keeps final tombstones final (IsFinal), keeps the
// ordered index and the expiry index, and publishes the change: the key
// for a live write, the key and the record for a delete and for a live
// write of a key shared everywhere.
var putScript = redis.NewScript(putScriptSource())

// putScriptSource is putSource as this build runs it: unchanged, unless a
// plant's build tag is set (plant_*.go).
func putScriptSource() string {
	src := putSource
	if plantRenewRevive {
		// A renewal needs no live value and may overwrite a tombstone.
		i, j := strings.Index(src, "if mode == 'renew' then -- plant: renew"), strings.Index(src, "end -- plant: renew end")
		src = src[:i] + src[j+len("end -- plant: renew end"):]
		src = strings.Replace(src, "if final and cur and not curLive and live then", "if final and cur and not curLive and live and mode ~= 'renew' then", 1)
	}
	if plantNoVersion {
		// A replay or push-back lands whatever the stored version.
		src = strings.Replace(src, "if mode == 'sync' and not ends then return {0} end -- plant: version", "", 1)
	}
	if plantNoTombstone {
		// A delete removes the key: no tombstone in Redis.
		src = `
if ARGV[2] == 'remove' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('ZREM', KEYS[3], ARGV[3])
  redis.call('PUBLISH', ARGV[4], ARGV[3])
  return {1, ''}
end` + src
	}
	return src
}

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
	putChanged = 2
)

type putResult struct {
	status int64
	stored []byte
}

func (m *Mirror) putArgs(key string, stored []byte, mode string, expect []byte) ([]string, []any) {
	now := m.now()
	return []string{m.rkey(key), m.indexKey(), m.expiryKey(), m.epochKey()},
		[]any{stored, mode, key, m.channel(), m.local.clock.id, now.UnixMilli(), now.Add(foreverTombstoneTTL).UnixMilli(),
			flag(IsFinal(key)), flag(sharedEverywhere(key)), string(expect)}
}

// put runs putScript for one record.
func (m *Mirror) put(ctx context.Context, key string, stored []byte, mode string) (putResult, error) {
	return m.putExpect(ctx, key, stored, mode, nil)
}

// putExpect is put with the value a replace expects (nil for every other
// mode).
func (m *Mirror) putExpect(ctx context.Context, key string, stored []byte, mode string, expect []byte) (putResult, error) {
	keys, args := m.putArgs(key, stored, mode, expect)
	v, err := putScript.Run(ctx, m.rdb, keys, args...).Slice()
	if err != nil {
		return putResult{}, err
	}
	return parsePut(v)
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// parsePut reads putScript's answer; stored is the record written, or the
// one that refused the write (a final tombstone, or what a renewal found).
func parsePut(v []any) (putResult, error) {
	if len(v) == 0 {
		return putResult{}, fmt.Errorf("kv: redis put: empty answer")
	}
	status, _ := v[0].(int64)
	res := putResult{status: status}
	if len(v) > 1 {
		if s, _ := v[1].(string); s != "" {
			res.stored = []byte(s)
		}
	}
	return res, nil
}

// putMany runs putScript for many records in one pipeline: in sync mode,
// or in modes[i] when modes is not nil (the outbox replay). A record
// refused because Redis holds a tombstone (a final one, or one a renewal
// met) leaves that tombstone in the local copy too, so the instance that
// replayed or pushed back a live copy stops serving it.
func (m *Mirror) putMany(ctx context.Context, keys []string, stored [][]byte, modes []string) error {
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
		mode := modeSync
		if modes != nil {
			mode = modes[i]
		}
		rk, args := m.putArgs(k, stored[i], mode, nil)
		cmds[i] = putScript.EvalSha(ctx, pipe, rk, args...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	var tombs []localOp
	for i, c := range cmds {
		v, err := c.Slice()
		if err != nil {
			return err
		}
		res, err := parsePut(v)
		if err != nil {
			return err
		}
		if res.status != putRefused || res.stored == nil {
			continue
		}
		if rec := decodeRecord(res.stored); rec.deleted && rec.ttl(m.now()) >= 0 {
			tombs = append(tombs, localOp{key: keys[i], stored: res.stored, ttl: rec.ttl(m.now()), ifNewer: true})
		}
	}
	if len(tombs) > 0 {
		if _, err := m.local.apply(ctx, tombs); err != nil {
			return err
		}
	}
	return nil
}
