package kv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Mirror is the store of an instance that shares its data through Redis:
// Redis is the shared tier every instance reads and writes, and the local
// Badger is this instance's durable copy, which serves while Redis is down.
// It keeps the Store contract; docs/architecture.md ("The Redis mirror")
// explains the design.
//
// States: down (start-up, or after a Redis failure: reads from Badger,
// writes to Badger and the durable outbox), syncing (Redis answers again:
// the outbox is replayed in order and, after Redis lost its data, local
// records are pushed back; reads and writes as when down), up (reads from
// Redis, writes to Redis then Badger). A background probe moves between
// them; a failed Redis call moves to down at once (the circuit breaker), so
// while Redis is down no request waits for it.
type Mirror struct {
	local      *Badger
	rdb        *redis.Client
	prefix     string
	persistent bool
	log        *slog.Logger
	onChange   func(key string)
	now        func() time.Time

	state     atomic.Int32
	outboxLen atomic.Int64
	// outboxMu orders outbox appends against the replay's final "empty,
	// now up" step, so a write made during a replay joins its tail.
	outboxMu sync.Mutex
	seq      uint64 // last outbox sequence number, under outboxMu

	cache  *memCache
	copies chan localOp
	seenMu sync.Mutex
	seen   map[string]string // key → version known to be in the local copy

	kick      chan struct{}
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

const (
	stateDown int32 = iota
	stateSyncing
	stateUp
)

// Local-only keys (never mirrored, never scanned by the domain packages).
const (
	localNS       = "mirror:"
	outboxPrefix  = "mirror:outbox:"
	localEpochKey = "mirror:epoch"
	maxSeen       = 1 << 16
	copyQueue     = 1024
	syncBatch     = 256
)

// MirrorOptions configures OpenMirror.
type MirrorOptions struct {
	// URL is the Redis URL: redis:// or rediss://, with user, password and
	// database number as go-redis' ParseURL reads them.
	URL string
	// Persistent says the data dir survives deploys: writes made while
	// Redis is down are queued durably in the outbox. Without it such
	// writes fail with ErrUnavailable.
	Persistent bool
	// CachePrefixes are the key prefixes whose records may be served from
	// memory for up to a second, coherent by Pub/Sub invalidation (a change
	// on another instance is seen within milliseconds, a missed message
	// within the second); other keys are read from Redis every time.
	CachePrefixes []string
	// OnChange, if set, is called with the key of every record any
	// instance changes, and with "" when messages may have been missed
	// (after a Pub/Sub reconnect): drop every in-memory copy then.
	OnChange func(key string)
	Logger   *slog.Logger
}

// OpenMirror returns a Mirror over local, which it owns from now on (Close
// closes it). It never waits for Redis: the mirror starts down and a
// background probe brings it up within a second of Redis answering.
func OpenMirror(local *Badger, opts MirrorOptions) (*Mirror, error) {
	ropts, err := redis.ParseURL(opts.URL)
	if err != nil {
		// ParseURL's message may quote the URL, password included.
		return nil, errors.New("kv: REDIS_URL is not a valid redis:// or rediss:// URL")
	}
	failFast(ropts)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Mirror{
		local:      local,
		rdb:        redis.NewClient(ropts),
		prefix:     local.prefix,
		persistent: opts.Persistent,
		log:        log,
		onChange:   opts.OnChange,
		now:        time.Now,
		cache:      newMemCache(opts.CachePrefixes),
		copies:     make(chan localOp, copyQueue),
		seen:       make(map[string]string),
		kick:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
	}
	if err := m.loadOutbox(); err != nil {
		m.rdb.Close()
		return nil, err
	}
	m.wg.Go(m.probeLoop)
	m.wg.Go(m.copyLoop)
	m.wg.Go(m.listen)
	return m, nil
}

// failFast replaces go-redis' patient defaults: a request must never wait
// long for a Redis that is down or hung.
func failFast(o *redis.Options) {
	o.Network = "tcp" // Railway's private network may be IPv6 only
	o.DialTimeout = 500 * time.Millisecond
	o.DialerRetries = 1
	o.ReadTimeout = 200 * time.Millisecond
	o.WriteTimeout = 200 * time.Millisecond
	o.ContextTimeoutEnabled = true
	o.MaxRetries = 1
	o.MinRetryBackoff = 5 * time.Millisecond
	o.MaxRetryBackoff = 20 * time.Millisecond
	o.PoolTimeout = 500 * time.Millisecond
	o.ConnMaxIdleTime = 30 * time.Second
	o.DisableIdentity = true
	// RESP2 and no maintenance notifications: no push messages to look
	// for after every reply (a cost on every read), nothing we use.
	o.Protocol = 2
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
}

// Redis names, all under the prefix.
func (m *Mirror) rkey(key string) string { return m.prefix + key }
func (m *Mirror) indexKey() string       { return m.prefix + "mirror:index" }
func (m *Mirror) expiryKey() string      { return m.prefix + "mirror:expiry" }
func (m *Mirror) epochKey() string       { return m.prefix + "mirror:epoch" }
func (m *Mirror) channel() string        { return m.prefix + "mirror:changes" }

// Status is "ok" while Redis serves, "down" otherwise (also while the
// outbox is being replayed).
func (m *Mirror) Status() string {
	if m.state.Load() == stateUp {
		return "ok"
	}
	return "down"
}

// OutboxLen is the number of writes waiting to be replayed to Redis.
func (m *Mirror) OutboxLen() int64 { return m.outboxLen.Load() }

func (m *Mirror) up() bool { return m.state.Load() == stateUp }

// trip opens the breaker after a failed Redis call (not for a cancelled
// request) and reports whether it did.
func (m *Mirror) trip(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	if m.state.Swap(stateDown) != stateDown {
		m.cache.invalidate("")
		m.log.Warn("redis mirror down: serving from the local copy, queueing writes", "err", redactErr(err))
	}
	m.wake()
	return true
}

func (m *Mirror) wake() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// redactErr keeps Redis errors loggable without the URL's password: go-redis
// errors name the address at most, but be sure.
func redactErr(err error) string {
	s := err.Error()
	if i := strings.Index(s, "@"); i >= 0 {
		return "redis error (details withheld: may contain credentials)"
	}
	return s
}

// Get returns key's value: from Redis while it serves (falling back to the
// local copy when Redis has no trace of the key, as after Redis lost its
// data), else from the local copy.
func (m *Mirror) Get(ctx context.Context, key string) ([]byte, error) {
	if m.up() {
		cacheable := m.cache.covers(key)
		var gen uint64
		if cacheable {
			if raw, ok := m.cache.get(key, m.now()); ok {
				return valueOf(raw)
			}
			gen = m.cache.generation()
		}
		raw, err := m.rdb.Get(ctx, m.rkey(key)).Bytes()
		if err == nil && cacheable {
			m.cache.put(key, raw, gen, m.now())
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
			return m.local.Get(ctx, key)
		case ctx.Err() != nil:
			return nil, ctx.Err()
		default:
			m.trip(ctx, err)
		}
	}
	val, err := m.local.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
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
				m.log.Warn("copying records from redis to the local store failed", "err", err)
				continue
			}
			for _, op := range batch {
				m.markLocal(op.key, decodeRecord(op.stored).version)
			}
		}
	}
}

// Set stores val under key in Redis and the local copy; while Redis is down
// it goes to the local copy and the outbox.
func (m *Mirror) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	now := m.now()
	stored := encodeRecord(m.local.clock.next(now), false, expiryOf(now, ttl), val)
	return m.write(ctx, key, stored, modeSet)
}

// Delete leaves a tombstone under key in Redis and the local copy (so no
// replay or push-back brings the key back), expiring when the record would
// have.
func (m *Mirror) Delete(ctx context.Context, key string) error {
	var expires int64
	if rec, found, err := m.local.getRecord(ctx, key); err != nil {
		return err
	} else if found {
		expires = rec.expires
	}
	stored := encodeRecord(m.local.clock.next(m.now()), true, expires, nil)
	return m.write(ctx, key, stored, modeDelete)
}

// Create stores val under key only if no instance has it. It needs Redis
// (the one place that can say "nobody has it" for every instance): while
// Redis is down it returns ErrUnavailable.
func (m *Mirror) Create(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if !m.up() {
		return ErrUnavailable
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

// write applies one change online, or queues it while Redis is down.
func (m *Mirror) write(ctx context.Context, key string, stored []byte, mode string) error {
	for range 2 {
		if m.up() {
			res, err := m.put(ctx, key, stored, mode)
			if err == nil {
				m.cache.invalidate(key)
				return m.saveLocal(ctx, key, res.stored)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			m.trip(ctx, err)
		}
		queued, err := m.enqueue(ctx, key, stored)
		if queued || err != nil {
			return err
		}
		// Redis came back while we waited for the outbox: write online.
	}
	return ErrUnavailable
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
// again, so the caller writes online instead.
func (m *Mirror) enqueue(ctx context.Context, key string, stored []byte) (bool, error) {
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
		{key: key, stored: stored, ttl: ttl},
		{key: outboxKey(seq), stored: outboxEntry(key, stored)},
	}
	if _, err := m.local.apply(ctx, ops); err != nil {
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

func outboxKey(seq uint64) string { return fmt.Sprintf("%s%020d", outboxPrefix, seq) }

// outboxEntry is "<key>\n<stored record>": keys never hold a newline.
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
	if r.After != "" && r.After >= r.Prefix {
		lo = "(" + r.After
	}
	hi := "[" + r.Prefix + "\xff"
	n := 0
	for {
		count := int64(syncBatch)
		if r.Limit > 0 {
			count = int64(min(syncBatch, r.Limit-n+8))
		}
		members, err := m.rdb.ZRangeByLex(ctx, m.indexKey(), &redis.ZRangeBy{Min: lo, Max: hi, Count: count}).Result()
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
		lo = "(" + members[len(members)-1]
	}
}

// Ping checks the local store: it alone must serve for the site to be up.
func (m *Mirror) Ping(ctx context.Context) error { return m.local.Ping(ctx) }

// Close stops the background work, closes the Redis client and the local
// store. It is safe to call more than once.
func (m *Mirror) Close() error {
	m.closeOnce.Do(func() {
		close(m.stop)
		m.wg.Wait()
		m.rdb.Close()
		m.closeErr = m.local.Close()
	})
	return m.closeErr
}

var _ Store = (*Mirror)(nil)

// newEpoch returns a random epoch value.
func newEpoch() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
