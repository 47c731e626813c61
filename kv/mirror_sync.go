package kv

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Write modes of putScript.
const (
	modeSet    = "set"    // a live write: always applied, its version bumped past the stored one if needed
	modeDelete = "del"    // a live delete: a tombstone, keeping the stored record's expiry
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
// instance id, now (Unix ms).
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
	return []string{m.rkey(key), m.indexKey(), m.expiryKey(), m.epochKey()},
		[]any{stored, mode, key, m.channel(), m.local.clock.id, m.now().UnixMilli()}
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

// probeLoop brings the mirror up when Redis answers and keeps checking it:
// every 250 ms while down, every second while up.
func (m *Mirror) probeLoop() {
	base, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		select {
		case <-m.stop:
			stop()
		case <-base.Done():
		}
	}()
	lastSweep := time.Time{}
	for {
		every := 250 * time.Millisecond
		if m.up() {
			every = time.Second
		}
		select {
		case <-m.stop:
			return
		case <-m.kick:
		case <-time.After(every):
		}
		ctx, cancel := context.WithTimeout(base, 30*time.Second)
		m.probe(ctx)
		if m.up() && time.Since(lastSweep) > 30*time.Second {
			lastSweep = time.Now()
			if err := sweepScript.Run(ctx, m.rdb, []string{m.expiryKey(), m.indexKey()}, m.now().UnixMilli(), m.prefix).Err(); err != nil {
				m.trip(ctx, err)
			}
		}
		cancel()
	}
}

// probe checks Redis and its epoch, and when needed pushes local records
// back and replays the outbox before letting the mirror serve from Redis.
func (m *Mirror) probe(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	err := m.rdb.Ping(pctx).Err()
	cancel()
	if err != nil {
		m.trip(ctx, err)
		return
	}
	changed, epoch, err := m.checkEpoch(ctx)
	if err != nil {
		m.trip(ctx, err)
		return
	}
	if !changed && m.up() {
		return
	}
	m.state.Store(stateSyncing)
	if changed {
		n, err := m.pushBack(ctx)
		if err != nil {
			m.trip(ctx, err)
			return
		}
		if _, err := m.local.apply(ctx, []localOp{{key: localEpochKey, stored: []byte(epoch)}}); err != nil {
			m.log.Error("saving the redis epoch locally failed", "err", err)
		}
		m.log.Info("redis mirror: pushed local records back to redis (it was empty or new)", "records", n)
	}
	n, err := m.replay(ctx)
	if err != nil {
		m.trip(ctx, err)
		return
	}
	if n > 0 {
		m.log.Info("redis mirror: replayed the outbox", "records", n)
	}
	m.cache.invalidate("")
	m.log.Info("redis mirror up")
}

// checkEpoch reads Redis' epoch, creating it if missing, and reports
// whether it differs from the one this instance last synced with (Redis
// restarted empty, or is another Redis).
func (m *Mirror) checkEpoch(ctx context.Context) (changed bool, epoch string, err error) {
	epoch, err = m.rdb.Get(ctx, m.epochKey()).Result()
	if err == redis.Nil {
		if err = m.rdb.SetNX(ctx, m.epochKey(), newEpoch(), 0).Err(); err != nil {
			return false, "", err
		}
		epoch, err = m.rdb.Get(ctx, m.epochKey()).Result()
	}
	if err != nil {
		return false, "", err
	}
	mine, err := m.local.Get(ctx, localEpochKey)
	if err != nil && err != ErrNotFound {
		return false, "", err
	}
	return string(mine) != epoch, epoch, nil
}

// pushBack writes every local record (tombstones too) to Redis, each only
// where Redis holds nothing newer. Records from before versioning go with
// the oldest version.
func (m *Mirror) pushBack(ctx context.Context) (int, error) {
	var keys []string
	var recs [][]byte
	total := 0
	flush := func() error {
		err := m.putMany(ctx, keys, recs)
		total += len(keys)
		keys, recs = keys[:0], recs[:0]
		return err
	}
	now := m.now()
	err := m.local.scanRaw(ctx, "", "", func(key string, raw []byte, expiresAt uint64) error {
		if strings.HasPrefix(key, localNS) {
			return nil
		}
		rec := decodeRecord(raw)
		if rec.version == "" {
			var exp int64
			if expiresAt > 0 {
				exp = int64(expiresAt) * 1000
			}
			raw = encodeRecord(strings.Repeat("0", versionLen), false, exp, raw)
		}
		if rec.ttl(now) < 0 {
			return nil
		}
		keys = append(keys, key)
		recs = append(recs, raw)
		if len(keys) >= syncBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return total, err
	}
	return total, flush()
}

// replay sends the outbox to Redis in order, a batch at a time, and turns
// the mirror up once it is empty. Writes made meanwhile join its tail.
func (m *Mirror) replay(ctx context.Context) (int, error) {
	total := 0
	for {
		var seqKeys, keys []string
		var recs [][]byte
		m.outboxMu.Lock()
		err := m.local.scanRaw(ctx, outboxPrefix, "", func(k string, raw []byte, _ uint64) error {
			key, stored, ok := parseOutboxEntry(raw)
			seqKeys = append(seqKeys, k)
			if ok {
				keys = append(keys, key)
				recs = append(recs, stored)
			}
			if len(seqKeys) >= syncBatch {
				return errStopScan
			}
			return nil
		})
		if err != nil && err != errStopScan {
			m.outboxMu.Unlock()
			return total, err
		}
		if len(seqKeys) == 0 {
			m.state.Store(stateUp)
			m.outboxMu.Unlock()
			return total, nil
		}
		m.outboxMu.Unlock()

		if err := m.putMany(ctx, keys, recs); err != nil {
			return total, err
		}
		done := make([]localOp, len(seqKeys))
		for i, k := range seqKeys {
			done[i] = localOp{key: k, remove: true}
		}
		if _, err := m.local.apply(ctx, done); err != nil {
			return total, err
		}
		m.outboxLen.Add(-int64(len(seqKeys)))
		total += len(keys)
	}
}

// listen follows other instances' changes on Pub/Sub: deletes become local
// tombstones (so a later push-back cannot resurrect them), and OnChange
// hears of every key. After a (re)subscribe, messages may have been
// missed: OnChange("") drops everything.
func (m *Mirror) listen() {
	ctx, cancel := context.WithCancel(context.Background())
	ps := m.rdb.Subscribe(ctx, m.channel())
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-m.stop:
		case <-stopped:
		}
		cancel()
		ps.Close() // unblocks a Receive waiting on the connection
	}()
	for {
		msg, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			select {
			case <-m.stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
			continue
		}
		switch msg := msg.(type) {
		case *redis.Subscription:
			if msg.Kind != "subscribe" {
				continue
			}
			m.cache.invalidate("")
			if m.onChange != nil {
				m.onChange("")
			}
		case *redis.Message:
			m.heard(msg.Payload)
		}
	}
}

// heard handles one change message: "<key>" for a write, "<key>\n<tombstone>"
// for a delete.
func (m *Mirror) heard(payload string) {
	key, tomb, isDelete := strings.Cut(payload, "\n")
	m.cache.invalidate(key)
	if m.onChange != nil {
		m.onChange(key)
	}
	if !isDelete {
		return
	}
	raw := []byte(tomb)
	m.keepCopy(key, raw, decodeRecord(raw))
}

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
