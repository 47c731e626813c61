package kv

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Get returns key's value: from Redis while it serves (falling back to the
// local copy when Redis has no trace of the key, as after Redis lost its
// data), else from the local copy. While Redis is down a key missing here
// matches ErrNotFound and ErrUnavailable, except a final key (IsFinal)
// whose tombstone is here: plain ErrNotFound. Such a miss before the
// mirror's first sync since start, with a ctx from AwaitFirstSync, waits
// for it (at most FirstSyncWait) and asks Redis: a log-in of an account
// this instance has not seen, right after a deploy, is then answered, not
// refused.
func (m *Mirror) Get(ctx context.Context, key string) ([]byte, error) {
	val, err := m.get(ctx, key)
	if errors.Is(err, errNotFoundHere) && m.awaitFirstSync(ctx) {
		// Not here, and the mirror came up within the first-sync wait
		// after start: Redis has the answer.
		return m.get(ctx, key)
	}
	return val, err
}

// get is Get without the first-sync wait.
func (m *Mirror) get(ctx context.Context, key string) ([]byte, error) {
	if !m.up() {
		// Down because another call (a heartbeat, say) just met a new
		// primary: wait for this instance's push-back, as a read that
		// met it itself does (failover.go).
		if rctx, ok := m.awaitResync(ctx); ok {
			return m.get(rctx, key)
		}
	}
	if m.up() {
		cacheable := m.cache.covers(key)
		var tok cacheToken
		if cacheable {
			if raw, ok := m.cache.get(key); ok && !isFresh(ctx) {
				if raw == nil { // Redis had no trace of it
					return m.missing(ctx, key)
				}
				return valueOf(raw)
			}
			tok = m.cache.token(key)
		}
		raw, err := m.rdb.Get(ctx, m.rkey(key)).Bytes()
		switch {
		case cacheable && err == nil:
			if raw == nil {
				raw = []byte{} // nil in the cache means "no trace in Redis"
			}
			m.cache.put(key, raw, tok)
		case cacheable && errors.Is(err, redis.Nil):
			m.cache.put(key, nil, tok)
		}
		switch {
		case err == nil:
			rec := decodeRecord(raw)
			m.keepCopy(key, raw, rec)
			if rec.deleted {
				return nil, ErrNotFound
			}
			return rec.val, nil
		case errors.Is(err, redis.Nil):
			return m.missing(ctx, key)
		case ctx.Err() != nil:
			return nil, ctx.Err()
		default:
			if rctx, ok := m.awaitResync(ctx); ok {
				return m.get(rctx, key)
			}
			m.trip(ctx, err)
		}
	}
	return m.getHere(ctx, key)
}

// getHere reads key from the local copy alone, when the key may exist
// elsewhere: a miss matches ErrNotFound and ErrUnavailable
// (errNotFoundHere), except for a final key whose tombstone is here.
func (m *Mirror) getHere(ctx context.Context, key string) ([]byte, error) {
	val, err := m.local.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		// A final tombstone here is the key's last word (IsFinal): it is
		// not found, whatever other instances hold.
		if IsFinal(key) {
			if rec, found, err := m.local.getRecord(ctx, key); err == nil && found && rec.deleted {
				return nil, ErrNotFound
			}
		}
		return nil, errNotFoundHere
	}
	return val, err
}

// valueOf returns a cached record's value, or ErrNotFound for a tombstone or
// an expired record.
func valueOf(raw []byte) ([]byte, error) {
	rec := decodeRecord(raw)
	if rec.deleted || rec.ttl(time.Now()) < 0 {
		return nil, ErrNotFound
	}
	return append([]byte(nil), rec.val...), nil
}

// errNotFoundHere is a local miss while Redis is down: the key may exist on
// another instance. It matches ErrNotFound and ErrUnavailable.
var errNotFoundHere = notFoundHere{}

type notFoundHere struct{}

func (notFoundHere) Error() string { return "kv: not found here (the shared store is unavailable)" }
func (notFoundHere) Is(target error) bool {
	return target == ErrNotFound || target == ErrUnavailable
}

// GetMany returns the values of keys: one MGET while Redis serves (keys it
// has no trace of are read from the local copy), else the local copy.
func (m *Mirror) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	if len(keys) == 0 {
		return [][]byte{}, nil
	}
	if m.up() {
		rkeys := make([]string, len(keys))
		for i, k := range keys {
			rkeys[i] = m.rkey(k)
		}
		res, err := m.rdb.MGet(ctx, rkeys...).Result()
		if err == nil {
			return m.fillMisses(ctx, keys, res)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		m.trip(ctx, err)
	}
	return m.local.GetMany(ctx, keys)
}

// fillMisses decodes an MGET answer, reading keys Redis has no trace of
// from the local copy.
func (m *Mirror) fillMisses(ctx context.Context, keys []string, res []any) ([][]byte, error) {
	vals := make([][]byte, len(keys))
	var missing []int
	for i, v := range res {
		s, ok := v.(string)
		if !ok {
			missing = append(missing, i)
			continue
		}
		raw := []byte(s)
		rec := decodeRecord(raw)
		m.keepCopy(keys[i], raw, rec)
		if !rec.deleted {
			vals[i] = rec.val
		}
	}
	if len(missing) == 0 {
		return vals, nil
	}
	mk := make([]string, len(missing))
	for j, i := range missing {
		mk[j] = keys[i]
	}
	local, err := m.local.GetMany(ctx, mk)
	if err != nil {
		return nil, err
	}
	for j, i := range missing {
		vals[i] = local[j]
	}
	return vals, nil
}

// keepCopy queues raw (read from Redis) for the local copy unless the local
// copy is known to hold that version already. It never waits: Redis holds
// the record, the local copy is for outages.
func (m *Mirror) keepCopy(key string, raw []byte, rec record) {
	if rec.version == "" || m.knownLocal(key, rec.version) {
		return
	}
	ttl := rec.ttl(m.now())
	if ttl < 0 {
		return
	}
	select {
	case m.copies <- localOp{key: key, stored: raw, ttl: ttl, ifNewer: true}:
	default: // the copier is behind; a later read copies it
	}
}

func (m *Mirror) knownLocal(key, version string) bool {
	m.seenMu.Lock()
	defer m.seenMu.Unlock()
	return m.seen[key] == version
}

func (m *Mirror) markLocal(key, version string) {
	m.seenMu.Lock()
	defer m.seenMu.Unlock()
	if len(m.seen) >= maxSeen {
		clear(m.seen)
	}
	m.seen[key] = version
}

// copyLoop writes queued copies to the local store, many per fsync.
func (m *Mirror) copyLoop() {
	batch := make([]localOp, 0, 64)
	for {
		select {
		case <-m.stop:
			return
		case op := <-m.copies:
			batch = append(batch[:0], op)
		drain:
			for len(batch) < cap(batch) {
				select {
				case op := <-m.copies:
					batch = append(batch, op)
				default:
					break drain
				}
			}
			if _, err := m.local.apply(context.Background(), batch); err != nil {
				if !errors.Is(err, ErrFull) { // a full volume is logged once by the guard
					m.log.Warn("copying records from redis to the local store failed", "err", err)
				}
				continue
			}
			for _, op := range batch {
				m.markLocal(op.key, decodeRecord(op.stored).version)
			}
		}
	}
}

// copyScanned keeps a local copy of the records of final keys a Scan read
// from Redis (the per-user session index a session list is read from), at
// once, before the caller sees them, so that whatever a list showed can be
// ended here while Redis is down (issue 16 row 7). Other scanned records
// are not copied (a scan of every member would copy every account). A
// failed copy is logged and otherwise ignored: the read itself succeeded.
func (m *Mirror) copyScanned(ctx context.Context, keys []string, vals []any) {
	var now []localOp
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		if !IsFinal(keys[i]) {
			continue
		}
		raw := []byte(s)
		rec := decodeRecord(raw)
		ttl := rec.ttl(m.now())
		if rec.version == "" || ttl < 0 || m.knownLocal(keys[i], rec.version) {
			continue
		}
		now = append(now, localOp{key: keys[i], stored: raw, ttl: ttl, ifNewer: true})
	}
	if len(now) == 0 {
		return
	}
	if _, err := m.local.apply(ctx, now); err != nil {
		if !errors.Is(err, ErrFull) && ctx.Err() == nil {
			m.log.Warn("copying scanned records from redis to the local store failed", "err", err)
		}
		return
	}
	for _, op := range now {
		m.markLocal(op.key, decodeRecord(op.stored).version)
	}
}

// Scan lists keys from Redis' ordered index while Redis serves, else from
// the local copy.
func (m *Mirror) Scan(ctx context.Context, r Range, fn func(key string, val []byte) error) error {
	if m.up() {
		done, err := m.scanRedis(ctx, r, fn)
		if done || err == nil {
			return err
		}
		// Redis failed before fn saw anything: the local copy answers.
		m.trip(ctx, err)
	}
	return m.local.Scan(ctx, r, fn)
}

// scanRedis pages through the index with ZRANGEBYLEX and reads values with
// MGET. done reports that fn was called, so a failure must not restart the
// scan elsewhere.
func (m *Mirror) scanRedis(ctx context.Context, r Range, fn func(key string, val []byte) error) (done bool, err error) {
	lo := "[" + r.Prefix
	hi := "[" + r.Prefix + "\xff"
	if r.After != "" && !r.Reverse && r.After >= r.Prefix {
		lo = "(" + r.After
	}
	if r.After != "" && r.Reverse && r.After <= r.Prefix+"\xff" {
		hi = "(" + r.After
	}
	n := 0
	for {
		count := int64(syncBatch)
		if r.Limit > 0 {
			count = int64(min(syncBatch, r.Limit-n+8))
		}
		by := &redis.ZRangeBy{Min: lo, Max: hi, Count: count}
		var members []string
		if r.Reverse {
			members, err = m.rdb.ZRevRangeByLex(ctx, m.indexKey(), by).Result()
		} else {
			members, err = m.rdb.ZRangeByLex(ctx, m.indexKey(), by).Result()
		}
		if err != nil {
			return done, err
		}
		if len(members) == 0 {
			return true, nil
		}
		rkeys := make([]string, len(members))
		for i, k := range members {
			rkeys[i] = m.rkey(k)
		}
		vals, err := m.rdb.MGet(ctx, rkeys...).Result()
		if err != nil {
			return done, err
		}
		m.copyScanned(ctx, members, vals)
		for i, v := range vals {
			s, ok := v.(string)
			if !ok {
				continue // expired since; the sweep drops it from the index
			}
			rec := decodeRecord([]byte(s))
			if rec.deleted {
				continue
			}
			if r.Limit > 0 && n >= r.Limit {
				return true, nil
			}
			n++
			done = true
			if err := fn(members[i], rec.val); err != nil {
				return true, err
			}
		}
		if int64(len(members)) < count {
			return true, nil
		}
		if r.Reverse {
			hi = "(" + members[len(members)-1]
		} else {
			lo = "(" + members[len(members)-1]
		}
	}
}
