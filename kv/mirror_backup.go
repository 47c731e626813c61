package kv

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"
)

// Backup writes a backup (backup.go) of everything the instances share:
// while Redis serves, every record in Redis' ordered index merged with this
// instance's local copy (a key in both is written once, in its newer
// version; local records not yet in Redis, such as writes still in the
// outbox, are included), with Source "redis+local". While Redis is down it
// writes the local copy alone, with Source "local": the caller should say
// so. The local copy is read from one snapshot; Redis is paged, so records
// written while the backup runs may or may not be in it, each record itself
// whole.
func (m *Mirror) Backup(ctx context.Context, w io.Writer, key []byte) (BackupStats, error) {
	if !m.up() {
		return m.local.Backup(ctx, w, key)
	}
	st, err := backupMerged(ctx, m.local, m.rdb, w, key)
	if err != nil && ctx.Err() == nil {
		m.trip(ctx, err)
	}
	return st, err
}

// Restore loads a backup into a running instance whose store is empty,
// locally and in Redis, which must serve (else ErrUnavailable) and must
// hold no records either (else ErrNotEmpty): a restore starts a deployment
// afresh, it never merges into live shared data. Replace is refused here
// (ErrNotEmpty): stop the instances and restore a data dir for that. Each
// record goes to Redis with the version rules of a push-back.
func (m *Mirror) Restore(ctx context.Context, br *BackupReader, opts RestoreOptions) (BackupStats, error) {
	if opts.Replace {
		return BackupStats{}, fmt.Errorf("%w: replacing records is done on a stopped instance's data dir", ErrNotEmpty)
	}
	if !m.up() {
		return BackupStats{}, ErrUnavailable
	}
	n, err := m.rdb.ZCard(ctx, m.indexKey()).Result()
	if err != nil {
		m.trip(ctx, err)
		return BackupStats{}, ErrUnavailable
	}
	if n > 0 {
		return BackupStats{}, fmt.Errorf("%w: Redis holds %d records under this prefix", ErrNotEmpty, n)
	}
	return m.local.restore(ctx, br, opts, func(batch []localOp) error {
		keys := make([]string, len(batch))
		recs := make([][]byte, len(batch))
		for i, op := range batch {
			keys[i], recs[i] = op.key, op.stored
		}
		if err := m.putMany(ctx, keys, recs, nil); err != nil {
			m.trip(ctx, err)
			return fmt.Errorf("kv: restore: copy to redis: %w", err)
		}
		return nil
	})
}

// BackupWithRedis is Mirror.Backup for a command that has the local store
// but no running Mirror (no server holds the data dir): it reads Redis at
// redisURL directly, and only reads. When Redis does not answer it writes
// the local copy alone, with Source "local".
func BackupWithRedis(ctx context.Context, local *Badger, redisURL string, w io.Writer, key []byte) (BackupStats, error) {
	target, err := parseRedisURL(redisURL)
	if err != nil {
		return BackupStats{}, err
	}
	rdb := target.client(5*time.Second, nil) // a batch of a backup, not a request
	defer rdb.Close()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err = rdb.Ping(pctx).Err()
	cancel()
	if err != nil {
		return local.Backup(ctx, w, key)
	}
	return backupMerged(ctx, local, rdb, w, key)
}

// backupMerged writes Redis' records merged with local's, in key order.
func backupMerged(ctx context.Context, local *Badger, rdb *redis.Client, w io.Writer, key []byte) (BackupStats, error) {
	h := BackupHeader{Prefix: local.prefix, Source: "redis+local"}
	bw, err := newBackupWriter(w, h, key)
	if err != nil {
		return BackupStats{}, fmt.Errorf("kv: backup: %w", err)
	}
	now := local.now()
	rp := &redisPager{rdb: rdb, prefix: local.prefix}
	// emitRedisUpTo writes the Redis records whose key sorts before key
	// ("" = all that are left), and returns Redis' record of key itself if
	// it has one.
	emitRedisUpTo := func(key string) ([]byte, error) {
		for {
			rec, ok, err := rp.peek(ctx)
			if err != nil || !ok {
				return nil, err
			}
			if key != "" && rec.key > key {
				return nil, nil
			}
			rp.pop()
			if rec.key == key {
				return rec.stored, nil
			}
			if err := bw.record(rec.key, rec.stored, now); err != nil {
				return nil, err
			}
		}
	}
	err = local.scanRaw(ctx, "", "", func(key string, raw []byte, exp uint64) error {
		if len(key) >= len(localNS) && key[:len(localNS)] == localNS {
			return nil
		}
		fromRedis, err := emitRedisUpTo(key)
		if err != nil {
			return err
		}
		stored := versioned(raw, exp)
		if fromRedis != nil && decodeRecord(fromRedis).version >= decodeRecord(stored).version {
			stored = fromRedis
		}
		return bw.record(key, stored, now)
	})
	if err == nil {
		_, err = emitRedisUpTo("")
	}
	if err == nil {
		err = bw.finish()
	}
	if err != nil {
		return BackupStats{}, fmt.Errorf("kv: backup: %w", err)
	}
	return BackupStats{Header: bw.header, Records: bw.n, Verified: true}, nil
}

type rawRecord struct {
	key    string
	stored []byte
}

// redisPager reads every record of Redis' ordered index, in key order, a
// page (ZRANGEBYLEX then MGET) at a time. Tombstones are included; keys
// that expired since the index listed them are skipped.
type redisPager struct {
	rdb    *redis.Client
	prefix string
	after  string // last index member read
	page   []rawRecord
	done   bool
}

func (p *redisPager) peek(ctx context.Context) (rawRecord, bool, error) {
	for len(p.page) == 0 {
		if p.done {
			return rawRecord{}, false, nil
		}
		if err := p.fill(ctx); err != nil {
			return rawRecord{}, false, err
		}
	}
	return p.page[0], true, nil
}

func (p *redisPager) pop() { p.page = p.page[1:] }

func (p *redisPager) fill(ctx context.Context) error {
	lo := "-"
	if p.after != "" {
		lo = "(" + p.after
	}
	members, err := p.rdb.ZRangeByLex(ctx, p.prefix+"mirror:index", &redis.ZRangeBy{Min: lo, Max: "+", Count: syncBatch}).Result()
	if err != nil {
		return err
	}
	if len(members) < syncBatch {
		p.done = true
	}
	if len(members) == 0 {
		return nil
	}
	p.after = members[len(members)-1]
	rkeys := make([]string, len(members))
	for i, k := range members {
		rkeys[i] = p.prefix + k
	}
	vals, err := p.rdb.MGet(ctx, rkeys...).Result()
	if err != nil {
		return err
	}
	for i, v := range vals {
		if s, ok := v.(string); ok {
			p.page = append(p.page, rawRecord{key: members[i], stored: versioned([]byte(s), 0)})
		}
	}
	return nil
}
