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

// WatchMirror adds soulbridge_mirror_up (1 while Redis serves, else 0) and
// soulbridge_mirror_outbox, read from mirror at each scrape. Without a
// mirror it is not called, and both series are absent.
func (m *Metrics) WatchMirror(mirror MirrorState) {
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
