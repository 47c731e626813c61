package kv

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"soulbridge/metrics"
)

// What the store reports to the metrics (README, "Metrics"): the mirror
// counts its breaker openings and replayed writes and times its Redis
// calls (MirrorOptions.Metrics); the local store tells its size, the free
// space and how many live records a prefix holds.

// redisTimer times every Redis command and pipeline of a client.
type redisTimer struct{ m *metrics.Metrics }

func (t redisTimer) DialHook(next redis.DialHook) redis.DialHook { return next }

func (t redisTimer) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		t.m.RedisCall(time.Since(start))
		return err
	}
}

func (t redisTimer) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		t.m.RedisCall(time.Since(start))
		return err
	}
}

var _ redis.Hook = redisTimer{}

// Size is the bytes the store takes on disk: Badger's LSM tables and value
// log, as Badger last measured them (no disk access).
func (b *Badger) Size() int64 {
	lsm, vlog := b.db.Size()
	return lsm + vlog
}

// FreeBytes is the free space of the data volume, as last measured (the
// space guard measures it at most once a few seconds).
func (b *Badger) FreeBytes() uint64 { return b.DiskStatus().Free }

// LiveRecords counts the live records under prefix in this store: not
// tombstones, not expired. It reads every one of them: for a gauge read
// now and then (metrics.Metrics.WatchSessions), not for a request.
func (b *Badger) LiveRecords(ctx context.Context, prefix string) (int, error) {
	n := 0
	now := time.Now().UnixMilli()
	err := b.scanRaw(ctx, prefix, "", func(_ string, raw []byte, _ uint64) error {
		rec := decodeRecord(raw)
		if !rec.deleted && (rec.expires == 0 || rec.expires > now) {
			n++
		}
		return nil
	})
	return n, err
}
