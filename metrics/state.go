package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MirrorState is the Redis mirror's state (kv.Mirror keeps it).
type MirrorState interface {
	// Status is "ok" while Redis serves, else "down".
	Status() string
	// OutboxLen is the number of writes waiting to be replayed to Redis.
	OutboxLen() int64
}

// MirrorCache is the mirror's in-memory cache, when it has one (kv.Mirror).
type MirrorCache interface {
	// CacheCounts returns the reads answered from memory, read from Redis
	// on a miss, and read from Redis because the link was in doubt, since
	// start; and the bytes the cache holds.
	CacheCounts() (hits, misses, bypassed uint64, bytes int64)
}

// WatchMirror adds soulbridge_mirror_up (1 while Redis serves, else 0) and
// soulbridge_mirror_outbox, read from mirror at each scrape, and, for a
// mirror with a cache (MirrorCache), soulbridge_mirror_cache_reads_total
// by result and soulbridge_mirror_cache_bytes. Without a mirror it is not
// called, and the series are absent.
func (m *Metrics) WatchMirror(mirror MirrorState) {
	if c, ok := mirror.(MirrorCache); ok {
		read := func(pick func(h, mi, b uint64) uint64) func() float64 {
			return func() float64 {
				h, mi, b, _ := c.CacheCounts()
				return float64(pick(h, mi, b))
			}
		}
		reads := func(result string, f func() float64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Name: "mirror_cache_reads_total",
				Help:        "Reads of cached kinds (sessions, accounts, avatar choices) while the mirror serves, by result: hit (from memory), miss (from Redis), bypassed (from Redis: the link was in doubt).",
				ConstLabels: prometheus.Labels{"result": result}}, f)
		}
		m.reg.MustRegister(
			reads("hit", read(func(h, _, _ uint64) uint64 { return h })),
			reads("miss", read(func(_, mi, _ uint64) uint64 { return mi })),
			reads("bypassed", read(func(_, _, b uint64) uint64 { return b })),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "mirror_cache_bytes",
				Help: "Bytes the mirror's cache holds (bounded at 16 MiB)."},
				func() float64 { _, _, _, n := c.CacheCounts(); return float64(n) }),
		)
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "mirror_up",
			Help: "1 while the Redis mirror serves, 0 while it is down (or replaying its outbox)."},
			func() float64 {
				if mirror.Status() == "ok" {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "mirror_outbox",
			Help: "Writes waiting in the durable outbox to be replayed to Redis."},
			func() float64 { return float64(mirror.OutboxLen()) }),
	)
}

// Store tells the bytes the store takes on disk (LSM tables and value
// log) and the free space of its volume (kv.Badger keeps both).
type Store interface {
	Size() int64
	FreeBytes() uint64
}

// WatchStore adds soulbridge_store_size_bytes and
// soulbridge_disk_free_bytes, read from st at each scrape (both are kept
// in memory by the store: no disk access).
func (m *Metrics) WatchStore(st Store) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "store_size_bytes",
			Help: "Bytes the local store (Badger) takes on disk."},
			func() float64 { return float64(st.Size()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "disk_free_bytes",
			Help: "Free bytes on the data volume."},
			func() float64 { return float64(st.FreeBytes()) }),
	)
}

// WatchSessions adds soulbridge_sessions_active: count's answer (the
// session records of this instance's local store), counted at a scrape at
// most once per every and kept meanwhile, so frequent scrapes cost no
// more than one count per interval.
func (m *Metrics) WatchSessions(count func(context.Context) (int, error), every time.Duration) {
	c := &cachedCount{count: count, every: every}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "sessions_active",
		Help: "Live session records in this instance's local store, counted at most once per minute."},
		c.value))
}

// cachedCount is a count refreshed at most once per every.
type cachedCount struct {
	count func(context.Context) (int, error)
	every time.Duration

	mu  sync.Mutex
	at  time.Time
	val float64
}

func (c *cachedCount) value() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < c.every {
		return c.val
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if n, err := c.count(ctx); err == nil {
		c.val, c.at = float64(n), time.Now()
	}
	return c.val
}
