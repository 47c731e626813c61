package kv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"soulbridge/metrics"
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
	metrics    *metrics.Metrics

	state     atomic.Int32
	outboxLen atomic.Int64
	// outboxMu orders outbox appends against the replay's final "empty,
	// now up" step, so a write made during a replay joins its tail.
	outboxMu sync.Mutex
	seq      uint64 // last outbox sequence number, under outboxMu

	cache *mirrorCache // mirror_cache.go
	// beatID names this instance's heartbeat channel; subscribedAt is the
	// cache clock when Pub/Sub last (re)subscribed (mirror_beat.go).
	beatID       string
	subscribedAt atomic.Int64
	copies       chan localOp
	seenMu       sync.Mutex
	seen         map[string]string // key → version known to be in the local copy
	// indexMissed is set when Pub/Sub (re)subscribes: index entries
	// published meanwhile were missed, and the probe copies them again
	// (copyIndex).
	indexMissed atomic.Bool

	// firstUp is closed the first time the mirror comes up after
	// OpenMirror (markUp); until then an operation that needs Redis waits
	// for it a little (awaitFirstSync).
	firstUp     chan struct{}
	firstUpOnce sync.Once
	// downWarned is when (Unix ms) the mirror last logged that it is down:
	// a mirror down since start, or down for long, says so once a minute
	// (trip), not only when it goes down.
	downWarned atomic.Int64

	// Failover (failover.go): the identity of the primary last synced
	// with, the barrier a push-back waits at for online writes, and the
	// end (Unix ms) of the doubt after a push-back to a new primary.
	primaryID   atomic.Pointer[string]
	online      sync.RWMutex
	doubtUntil  atomic.Int64
	resyncUntil atomic.Int64 // Unix ms; 0 when no new primary is pending
	resubscribe chan struct{}

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
	// database number as go-redis' ParseURL reads them; or, with a
	// master_name parameter, Sentinels as go-redis' ParseFailoverURL reads
	// them (mirror_sentinel.go).
	URL string
	// Persistent says the data dir survives deploys: writes made while
	// Redis is down are queued durably in the outbox. Without it such
	// writes fail with ErrUnavailable.
	Persistent bool
	// CachePrefixes are the key prefixes whose records may be served from
	// memory (mirror_cache.go), coherent by Pub/Sub invalidation (a change
	// on another instance is seen within milliseconds) and only while the
	// link is not in doubt (a change is never missed for longer than
	// beatWindow); other keys are read from Redis every time.
	CachePrefixes []string
	// OnChange, if set, is called with the key of every record any
	// instance changes, and with "" when messages may have been missed
	// (after a Pub/Sub reconnect): drop every in-memory copy then.
	OnChange func(key string)
	Logger   *slog.Logger
	// Metrics, if set, counts breaker openings and replayed writes and
	// times every Redis call (kv/metrics.go).
	Metrics *metrics.Metrics
}

// OpenMirror returns a Mirror over local, which it owns from now on (Close
// closes it). It never waits for Redis: the mirror starts down and a
// background probe brings it up within a second of Redis answering.
func OpenMirror(local *Badger, opts MirrorOptions) (*Mirror, error) {
	target, err := parseRedisURL(opts.URL)
	if err != nil {
		return nil, err
	}
	quietRedis.Do(func() { redis.SetLogger(silentLogger{}) })
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Mirror{
		local:       local,
		prefix:      local.prefix,
		persistent:  opts.Persistent,
		log:         log,
		onChange:    opts.OnChange,
		now:         time.Now,
		metrics:     opts.Metrics,
		cache:       newMirrorCache(opts.CachePrefixes),
		beatID:      newEpoch()[:16],
		copies:      make(chan localOp, copyQueue),
		seen:        make(map[string]string),
		firstUp:     make(chan struct{}),
		kick:        make(chan struct{}, 1),
		resubscribe: make(chan struct{}, 1),
		stop:        make(chan struct{}),
	}
	m.rdb = target.client(0, m.onConnect)
	if opts.Metrics != nil {
		m.rdb.AddHook(redisTimer{opts.Metrics})
	}
	if err := m.loadOutbox(); err != nil {
		m.rdb.Close()
		return nil, err
	}
	if id, err := local.Get(context.Background(), localPrimaryKey); err == nil {
		s := string(id)
		m.primaryID.Store(&s)
	}
	m.wake() // the first probe at once, not after the first interval
	m.wg.Go(m.probeLoop)
	m.wg.Go(m.copyLoop)
	m.wg.Go(m.listen)
	m.wg.Go(m.beatLoop)
	return m, nil
}

// FirstSyncWait bounds how long an operation that needs Redis (a sign-up's
// Create, a read of a key this instance has no copy of), made with a
// context from AwaitFirstSync, waits for the mirror's first sync after
// start instead of failing with ErrUnavailable at once: start-up never
// waits for Redis, so the port is bound (and a platform's health check
// passes) before the first probe has brought the mirror up, and the first
// sign-up after a deploy would otherwise be refused. Once the mirror has
// been up, nothing waits: an outage is answered at once.
const FirstSyncWait = 2 * time.Second

type firstSyncKey struct{}

// AwaitFirstSync returns ctx marked so that the mirror's Create and Get,
// before the mirror's first sync since start, wait for it (at most
// FirstSyncWait) rather than answer ErrUnavailable. Only the requests a
// person is waiting on and that cannot be answered without Redis use it (a
// sign-up, a log-in): start-up's own reads and every other request do not
// wait.
func AwaitFirstSync(ctx context.Context) context.Context {
	return context.WithValue(ctx, firstSyncKey{}, true)
}

// markUp lets the mirror serve from Redis, and ends the first-sync wait.
func (m *Mirror) markUp() {
	m.state.Store(stateUp)
	m.firstUpOnce.Do(func() { close(m.firstUp) })
}

// awaitFirstSync waits, for a ctx from AwaitFirstSync and while the mirror
// has never been up since OpenMirror, until it is up, FirstSyncWait has passed or ctx ends; it
// reports whether the mirror is up. Once it has been up it returns at once.
func (m *Mirror) awaitFirstSync(ctx context.Context) bool {
	if ctx.Value(firstSyncKey{}) == nil {
		return m.up()
	}
	select {
	case <-m.firstUp:
		return m.up()
	default:
	}
	t := time.NewTimer(FirstSyncWait)
	defer t.Stop()
	select {
	case <-m.firstUp:
	case <-t.C:
	case <-ctx.Done():
	case <-m.stop:
	}
	return m.up()
}

// quietRedis silences go-redis' own logger (a process-wide setting of that
// library): it prints every failed dial, which while Redis is down means a
// line per probe. The mirror logs each state change once instead.
var quietRedis sync.Once

type silentLogger struct{}

func (silentLogger) Printf(context.Context, string, ...any) {}

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

// downWarnEvery is how often a mirror that stays down says so again.
const downWarnEvery = time.Minute

func (m *Mirror) up() bool { return m.state.Load() == stateUp }

// trip opens the breaker after a failed Redis call (not for a cancelled
// request) and reports whether it did.
func (m *Mirror) trip(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	now := m.now().UnixMilli()
	if m.state.Swap(stateDown) != stateDown {
		m.metrics.BreakerOpened()
		m.cache.invalidate("")
		m.downWarned.Store(now)
		m.log.Warn("redis mirror down: serving from the local copy, queueing writes", "err", redactErr(err))
	} else if last := m.downWarned.Load(); now-last >= downWarnEvery.Milliseconds() && m.downWarned.CompareAndSwap(last, now) {
		msg := "redis mirror still down: serving from the local copy, queueing writes"
		if last == 0 {
			msg = "redis mirror down since start: serving from the local copy, queueing writes"
		}
		m.log.Warn(msg, "err", redactErr(err))
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
	if strings.Contains(s, "@") {
		return "redis error (details withheld: may contain credentials)"
	}
	return s
}

// Ping checks the local store: it alone must serve for the site to be up.
func (m *Mirror) Ping(ctx context.Context) error { return m.local.Ping(ctx) }

// Close stops the background work, closes the Redis client and the local
// store. It is safe to call more than once.
func (m *Mirror) Close() error {
	m.closeOnce.Do(func() {
		close(m.stop)
		m.wg.Wait()
		st := m.CacheStats()
		m.log.Info("redis mirror cache", "hits", st.Hits, "misses", st.Misses, "bypassed", st.Bypassed, "bytes", st.Bytes, "entries", st.Entries)
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
