package kv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Set stores val under key in Redis and the local copy; while Redis is down
// it goes to the local copy and the outbox.
func (m *Mirror) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	now := m.now()
	stored := encodeRecord(m.local.clock.next(now), false, expiryOf(now, ttl), val)
	return m.write(ctx, key, stored, modeSet)
}

// Renew replaces key's value only where it is live (see Store.Renew): in
// Redis while it serves (the script refuses a tombstone, a missing key and,
// for a final key, any later revival), else in the local copy, queued with
// the renew mode so that its replay is held to the same rule.
func (m *Mirror) Renew(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	now := m.now()
	stored := encodeRecord(m.local.clock.next(now), false, expiryOf(now, ttl), val)
	return m.write(ctx, key, stored, modeRenew)
}

// Replace stores val under key only where its live value is old (see
// Store.Replace), compared in Redis. It is never queued: a change queued on
// one instance, replayed later over whatever Redis then holds, could not
// keep that promise (it would land over a change made meanwhile, or be
// dropped after it was acknowledged). So while Redis is down, and when the
// call fails, it returns ErrUnavailable. A call that failed on a link that
// hung may still reach Redis later: it then lands only if the value is
// still old, so the key holds one of the two, never a mix.
func (m *Mirror) Replace(ctx context.Context, key string, old, val []byte, ttl time.Duration) error {
	m.online.RLock()
	defer m.online.RUnlock()
	if !m.up() {
		return ErrUnavailable
	}
	if err := m.local.space.allow(false); err != nil {
		return err
	}
	now := m.now()
	stored := encodeRecord(m.local.clock.next(now), false, expiryOf(now, ttl), val)
	res, err := m.putExpect(ctx, key, stored, modeReplace, old)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		m.trip(ctx, err)
		return fmt.Errorf("%w: the change may still reach it", ErrUnavailable)
	}
	return m.settle(ctx, key, modeReplace, res)
}

// Delete leaves a tombstone under key in Redis and the local copy (so no
// replay or push-back brings the key back), expiring when the record would
// have or, for a record without expiry, after foreverTombstoneTTL.
func (m *Mirror) Delete(ctx context.Context, key string) error {
	now := m.now()
	// A key this instance never had (an expired session's log-out, a key
	// written elsewhere) gets a bounded tombstone, unless Redis knows the
	// record's own expiry (the script keeps that one).
	expires := now.Add(unknownTombstoneTTL).UnixMilli()
	if rec, found, err := m.local.getRecord(ctx, key); err != nil {
		return err
	} else if found && rec.expires > 0 {
		expires = rec.expires
	} else if found {
		expires = now.Add(foreverTombstoneTTL).UnixMilli()
	}
	stored := encodeRecord(m.local.clock.next(now), true, expires, nil)
	if plantNoTombstone {
		return m.write(ctx, key, stored, modeRemove)
	}
	return m.write(ctx, key, stored, modeDelete)
}

// unknownTombstoneTTL bounds the tombstone of a key whose expiry nobody
// knows, so deletes of keys that were never there do not pile up.
const unknownTombstoneTTL = 7 * 24 * time.Hour

// foreverTombstoneTTL bounds the tombstone of a record that had no expiry
// (an account, an avatar): long enough that no outbox replay or push-back
// of a stale copy can bring the record back (both happen within minutes of
// an outage, not months), and bounded so that a deleted account's name does
// not stay in a key forever.
const foreverTombstoneTTL = 30 * 24 * time.Hour

// Create stores val under key only if no instance has it. It needs Redis
// (the one place that can say "nobody has it" for every instance): while
// Redis is down it returns ErrUnavailable.
func (m *Mirror) Create(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if !m.up() && !m.awaitFirstSync(ctx) {
		return ErrUnavailable
	}
	m.online.RLock()
	defer m.online.RUnlock()
	if !m.up() || m.inDoubt() {
		return ErrUnavailable
	}
	if err := m.local.space.allow(false); err != nil {
		return err
	}
	// The local copy may know a key that Redis lost (pushed back soon).
	if rec, found, err := m.local.getRecord(ctx, key); err != nil {
		return err
	} else if found && !rec.deleted {
		return ErrExists
	}
	now := m.now()
	stored := encodeRecord(m.local.clock.next(now), false, expiryOf(now, ttl), val)
	res, err := m.put(ctx, key, stored, modeCreate)
	switch {
	case err != nil:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		m.trip(ctx, err)
		return ErrUnavailable
	case res.status == putNoEpoch:
		// Redis lost its data and the probe has not refilled it yet: a
		// name may exist on another instance.
		m.wake()
		return ErrUnavailable
	case res.status == putRefused:
		return ErrExists
	}
	m.cache.invalidate(key)
	return m.saveLocal(ctx, key, res.stored)
}

// write applies one change online, or queues it while Redis is down. A
// write the script refuses (a live write meeting a final tombstone, a
// renewal finding no live value) returns ErrNotFound, and the tombstone
// that refused it is kept locally.
func (m *Mirror) write(ctx context.Context, key string, stored []byte, mode string) error {
	// Refuse before Redis takes a change the local copy could not keep.
	if err := m.local.space.allow(mode == modeDelete || mode == modeRemove); err != nil {
		return err
	}
	for range 2 {
		if done, err := m.writeOnline(ctx, key, stored, mode); done {
			return err
		}
		if rctx, ok := m.awaitResync(ctx); ok {
			ctx = rctx // a new primary, pushed back to: write online
			continue
		}
		queued, err := m.enqueue(ctx, key, stored, mode)
		if queued || err != nil {
			return err
		}
		// Redis came back while we waited for the outbox: write online.
	}
	return ErrUnavailable
}

// settle keeps in the local copy what an online put of key in mode left
// in Redis, and says how the write ended: the record written; ErrNotFound
// for a write the script refused over a tombstone (kept here too, so this
// instance stops serving the key) or, for a renewal or a replace, over no
// value; ErrChanged for a replace that found another value; ErrUnavailable
// while Redis has lost its data and is not refilled yet (no epoch, or no
// value where the local copy holds the key live: whether it is live
// cannot be told now; a renewal is then skipped, errNotFoundHere).
func (m *Mirror) settle(ctx context.Context, key, mode string, res putResult) error {
	m.cache.invalidate(key)
	switch {
	case mode == modeRemove:
		_, err := m.local.apply(ctx, []localOp{{key: key, remove: true}})
		return err
	case res.status == putWritten:
		return m.saveLocal(ctx, key, res.stored)
	case res.status == putNoEpoch:
		m.wake()
		return ErrUnavailable
	case res.status == putChanged:
		return ErrChanged
	}
	if res.stored != nil && decodeRecord(res.stored).deleted {
		if err := m.saveLocal(ctx, key, res.stored); err != nil {
			return err
		}
		return ErrNotFound
	}
	if mode == modeRenew || mode == modeReplace {
		if rec, found, err := m.local.getRecord(ctx, key); err == nil && found && !rec.deleted {
			if mode == modeReplace {
				return fmt.Errorf("%w: redis lost the key and is not refilled yet", ErrUnavailable)
			}
			return errNotFoundHere
		}
	}
	return ErrNotFound
}

// writeOnline applies a change to Redis and the local copy while the mirror
// is up, and reports whether it did (done); not done, the caller queues it.
// A push-back waits for it (drainOnline).
func (m *Mirror) writeOnline(ctx context.Context, key string, stored []byte, mode string) (done bool, err error) {
	m.online.RLock()
	defer m.online.RUnlock()
	if !m.up() {
		return false, nil
	}
	res, err := m.put(ctx, key, stored, mode)
	if err == nil {
		return true, m.settle(ctx, key, mode, res)
	}
	if ctx.Err() != nil {
		return true, ctx.Err()
	}
	m.trip(ctx, err)
	return false, nil
}

// saveLocal writes a record Redis accepted to the local copy.
func (m *Mirror) saveLocal(ctx context.Context, key string, stored []byte) error {
	rec := decodeRecord(stored)
	ttl := rec.ttl(m.now())
	if ttl < 0 {
		return nil
	}
	if _, err := m.local.apply(ctx, []localOp{{key: key, stored: stored, ttl: ttl, ifNewer: true}}); err != nil {
		return err
	}
	m.markLocal(key, rec.version)
	return nil
}

// enqueue writes the change to the local copy and the outbox in one synced
// transaction. It reports false (nothing written) when the mirror is up
// again, so the caller writes online instead. A change the local copy
// refuses (a live write over a final tombstone, a renewal of a record that
// is not live here) queues nothing and returns an error matching
// ErrNotFound (and ErrUnavailable for a renewal of a key missing here).
func (m *Mirror) enqueue(ctx context.Context, key string, stored []byte, mode string) (bool, error) {
	if !m.persistent {
		return false, ErrUnavailable
	}
	m.outboxMu.Lock()
	defer m.outboxMu.Unlock()
	if m.up() {
		return false, nil
	}
	rec := decodeRecord(stored)
	ttl := rec.ttl(m.now())
	if ttl < 0 {
		return true, nil
	}
	// A local record may carry a newer version (a copy from an instance
	// with a faster clock): go past it, so this later write wins.
	if cur, found, err := m.local.getRecord(ctx, key); err != nil {
		return false, err
	} else if found && cur.version >= rec.version {
		stored = bumpPast(stored, cur.version, m.local.clock.id)
	}
	seq := m.seq + 1
	ops := []localOp{
		{key: key, stored: stored, ttl: ttl, strict: true, renew: mode == modeRenew},
		{key: outboxKeyOf(seq, mode), stored: outboxEntry(key, stored)},
	}
	if mode == modeRemove {
		ops[0] = localOp{key: key, remove: true}
	}
	if _, err := m.local.apply(ctx, ops); err != nil {
		if errors.Is(err, errNotFoundHere) {
			return false, errNotFoundHere
		}
		if errors.Is(err, ErrNotFound) {
			return false, ErrNotFound
		}
		return false, err
	}
	m.seq = seq
	m.outboxLen.Add(1)
	m.markLocal(key, decodeRecord(stored).version)
	return true, nil
}

// bumpPast returns stored with a version just after other's.
func bumpPast(stored []byte, other, id string) []byte {
	var us int64
	fmt.Sscanf(other[:tsDigits], "%d", &us)
	out := append([]byte(nil), stored...)
	copy(out[len(recMagic):], fmt.Sprintf("%0*d%s", tsDigits, us+1, id))
	return out
}

// The outbox: one local key per queued change,
//
//	mirror:outbox:<sequence, 20 digits>[:<mode>]  →  <key>\n<stored record>
//
// in sequence order. The mode suffix is absent for a change that replays
// in sync mode (sets and deletes: applied if newer), which is every entry
// the previous release queued, so its outbox replays unchanged after an
// upgrade; a renewal carries ":renew" (applied only over a live value).
// Keeping the mode out of the value keeps the entries of this release
// readable by the previous one (a rollback replays a renewal in sync mode,
// as that release always did). Keys never hold a newline.
func outboxKey(seq uint64) string { return fmt.Sprintf("%s%020d", outboxPrefix, seq) }

// outboxKeyOf is the outbox key of a change written in mode.
func outboxKeyOf(seq uint64, mode string) string {
	switch mode {
	case modeRenew, modeRemove:
		return outboxKey(seq) + ":" + mode
	}
	return outboxKey(seq)
}

// outboxMode is the replay mode of the outbox entry under key k.
func outboxMode(k string) string {
	if i := len(outboxPrefix) + 20; len(k) > i+1 && k[i] == ':' {
		switch mode := k[i+1:]; mode {
		case modeRenew, modeRemove:
			return mode
		}
	}
	return modeSync
}

// outboxEntry is "<key>\n<stored record>" (see outboxKey).
func outboxEntry(key string, stored []byte) []byte {
	return append(append([]byte(key), '\n'), stored...)
}

func parseOutboxEntry(b []byte) (key string, stored []byte, ok bool) {
	i := strings.IndexByte(string(b), '\n')
	if i <= 0 {
		return "", nil, false
	}
	return string(b[:i]), b[i+1:], true
}

// loadOutbox finds the outbox's length and last sequence number at start.
func (m *Mirror) loadOutbox() error {
	var n int64
	var last string
	err := m.local.scanRaw(context.Background(), outboxPrefix, "", func(key string, _ []byte, _ uint64) error {
		n++
		last = key
		return nil
	})
	if err != nil {
		return fmt.Errorf("kv: read the outbox: %w", err)
	}
	if last != "" {
		fmt.Sscanf(last[len(outboxPrefix):], "%d", &m.seq)
	}
	m.outboxLen.Store(n)
	return nil
}
