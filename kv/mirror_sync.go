package kv

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// probeLoop brings the mirror up when Redis answers and keeps checking it:
// every 250 ms while down, every second while up.
func (m *Mirror) probeLoop() {
	base, stop := context.WithCancel(probeContext(context.Background()))
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
	m.cache.probeOut.Store(m.cache.clock()) // in doubt if unanswered for long
	err := m.rdb.Ping(pctx).Err()
	m.cache.probeOut.Store(0)
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
	moved, primary, err := m.checkPrimary(ctx)
	if err != nil {
		m.trip(ctx, err)
		return
	}
	if !changed && !moved && m.up() {
		if m.indexMissed.Swap(false) {
			m.copyIndex(ctx)
		}
		return
	}
	m.state.Store(stateSyncing)
	if changed || moved {
		m.drainOnline()
		n, err := m.pushBack(ctx)
		if err != nil {
			m.trip(ctx, err)
			return
		}
		if moved {
			defer m.followPrimary()
		}
		if moved && !changed {
			// A failover kept the data but maybe not the last writes
			// (failoverDoubt); a Redis that came back empty keeps the
			// epoch's rules, as before.
			m.doubtUntil.Store(m.now().Add(failoverDoubt).UnixMilli())
		}
		m.log.Info("redis mirror: pushed local records back to redis", "records", n, "why", pushBackReason(changed, moved))
	}
	m.remember(ctx, changed, epoch, primary)
	defer m.resyncUntil.Store(0) // once up (or failed): nobody waits any more
	n, err := m.replay(ctx)
	m.metrics.Replayed(n)
	if err != nil {
		m.trip(ctx, err)
		return
	}
	if n > 0 {
		m.log.Info("redis mirror: replayed the outbox", "records", n)
	}
	m.cache.invalidate("")
	m.log.Info("redis mirror up")
	m.indexMissed.Store(false)
	m.copyIndex(ctx)
}

// copyIndex copies into the local copy every per-user session index entry
// Redis holds that the local copy lacks or holds older: with the entries
// heard since (published with their record, see sharedEverywhere), every
// instance can end any session begun anywhere before its link to Redis
// went down (issue 16 row 7). It runs each time the mirror comes up, after
// it serves, and after a Pub/Sub resubscribe (messages may have been
// missed) at the next probe.
func (m *Mirror) copyIndex(ctx context.Context) {
	_, err := m.scanRedis(ctx, Range{Prefix: finalIndexPrefix}, func(string, []byte) error { return nil })
	if err != nil {
		m.trip(ctx, err)
	}
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
		err := m.putMany(ctx, keys, recs, nil)
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
		var seqKeys, keys, modes []string
		var recs [][]byte
		m.outboxMu.Lock()
		err := m.local.scanRaw(ctx, outboxPrefix, "", func(k string, raw []byte, _ uint64) error {
			key, stored, ok := parseOutboxEntry(raw)
			seqKeys = append(seqKeys, k)
			if ok {
				keys = append(keys, key)
				recs = append(recs, stored)
				modes = append(modes, outboxMode(k))
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
			m.markUp()
			m.outboxMu.Unlock()
			return total, nil
		}
		m.outboxMu.Unlock()

		if err := m.putMany(ctx, keys, recs, modes); err != nil {
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
// missed: the cache and OnChange("") drop everything. The same connection
// hears this instance's heartbeats (mirror_beat.go); when they stop coming
// while they are sent, the connection is taken for hung and opened again.
func (m *Mirror) listen() {
	for {
		if !m.listenOnce() {
			return
		}
		select {
		case <-m.stop:
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// listenOnce follows one Pub/Sub connection until Close (false) or until
// it seems hung (true: open another).
func (m *Mirror) listenOnce() bool {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ps := m.rdb.Subscribe(ctx, m.channel(), m.beatChannel())
	defer ps.Close()
	for {
		select {
		case <-m.stop:
			return false
		case <-m.resubscribe:
			// A push-back to a new primary (failover.go): this
			// subscription may be on the demoted one, which hears
			// nothing the new primary publishes until the Sentinels
			// make it a replica, seconds later.
			m.cache.distrust()
			return true
		default:
		}
		if m.pubsubSuspect() {
			m.cache.distrust()
			m.log.Warn("redis mirror: heartbeats not heard back on pub/sub, reconnecting it")
			return true
		}
		msg, err := ps.ReceiveTimeout(ctx, 100*time.Millisecond)
		if err != nil {
			// A timeout is just a quiet channel; after any other error
			// go-redis reconnects and resubscribes on the next call.
			if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
				select {
				case <-m.stop:
					return false
				case <-time.After(250 * time.Millisecond):
				}
			}
			continue
		}
		switch msg := msg.(type) {
		case *redis.Subscription:
			if msg.Kind != "subscribe" {
				continue
			}
			m.subscribedAt.Store(m.cache.clock())
			m.cache.distrust()
			m.cache.invalidateAll()
			m.indexMissed.Store(true)
			m.wake()
			if m.onChange != nil {
				m.onChange("")
			}
		case *redis.Message:
			if msg.Channel == m.beatChannel() {
				m.heardBeat(msg.Payload)
				continue
			}
			m.heard(msg.Payload)
		}
	}
}

// heard handles one change message: "<key>" for a write, "<key>\n<record>"
// for a delete (the tombstone) and for a write of a key shared everywhere
// (sharedEverywhere: the per-user session index). A record that comes with
// the message is kept in the local copy, so an instance can end a session
// begun elsewhere while Redis is down, and no push-back resurrects a key
// deleted elsewhere.
func (m *Mirror) heard(payload string) {
	key, rec, withRecord := strings.Cut(payload, "\n")
	if !plantNoCacheInval {
		m.cache.invalidate(key)
	}
	if m.onChange != nil {
		m.onChange(key)
	}
	if !withRecord {
		return
	}
	raw := []byte(rec)
	m.keepCopy(key, raw, decodeRecord(raw))
}
