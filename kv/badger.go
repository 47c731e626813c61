package kv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Options configures Open.
type Options struct {
	// Dir is the Badger directory; it is created if missing. Ignored when
	// InMemory is set.
	Dir string
	// Prefix is prepended to every key ("soulbridge:" in production).
	Prefix string
	// LockTimeout bounds how long Open waits for another process (an old
	// deploy still shutting down) to release the directory lock.
	LockTimeout time.Duration
	// InMemory opens a store that lives in memory only (tests).
	InMemory bool
	// Logger receives Badger's warnings and the store's own events.
	Logger *slog.Logger

	// statFS replaces the free-space measure (tests); nil is statfs.
	statFS statFunc
}

const (
	// lockRetryEvery is how often Open retries while the directory is locked.
	lockRetryEvery = 100 * time.Millisecond
	// gcEvery is how often value-log GC runs.
	gcEvery = 10 * time.Minute
)

// Badger is the durable store. Every write is synced to disk before it
// returns (SyncWrites), so a write acknowledged to a client survives kill -9
// and power loss. It is safe for concurrent use.
type Badger struct {
	db     *badger.DB
	prefix string
	log    *slog.Logger
	clock  *versionClock
	now    func() time.Time
	space  *spaceGuard // nil in memory: the full-volume guard (space.go)
	cache  *readCache  // recently read records (readcache.go)

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the Badger store in opts.Dir. While another
// process holds the directory lock it retries every 100 ms until
// opts.LockTimeout has passed, logging the reason once, then returns an error
// wrapping ErrLocked. Cancelling ctx (SIGTERM during the wait) returns at once
// with ctx's error.
func Open(ctx context.Context, opts Options) (*Badger, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bopts := memoryBounded(opts, log)
	var space *spaceGuard
	if !opts.InMemory {
		if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("kv: create data dir: %w", err)
		}
		// Refuse another app's dir before the guard puts its reserve file
		// there (the check is repeated under the lock, with the store files).
		var refused *DataDirError
		if _, err := inspectDataDir(opts.Dir); errors.As(err, &refused) {
			return nil, err
		}
		space = newSpaceGuard(opts.Dir, opts.statFS, bopts.MemTableSize, log)
		if err := space.openable(); err != nil {
			// A read-write open writes through mmap (a new memtable log, the
			// flush of what a crash left): it could crash here. Serve
			// read-only instead; see spaceGuard.readOnlyOpen.
			log.Error("data volume too full to open the store for writing: opening it read-only", "err", err)
			bopts = bopts.WithReadOnly(true)
			space.readOnlyOpen = true
			space.writable = make(chan struct{})
		}
	}

	deadline := time.Now().Add(opts.LockTimeout)
	logged := false
	for {
		db, st, err := openChecked(opts, bopts)
		if err == nil {
			b := &Badger{db: db, prefix: opts.Prefix, log: log, clock: newVersionClock(), now: time.Now, space: space, cache: newReadCache(), stop: make(chan struct{})}
			if !opts.InMemory {
				if err := b.markDataDir(opts.Dir, st); err != nil {
					b.Close()
					return nil, err
				}
			}
			b.every(gcEvery, b.reclaimUnlessFull)
			if b.space != nil {
				b.space.poll() // allocate the new memtable log now
				// Measure the volume every tick, so the reserve file is
				// released as soon as something else fills the volume and
				// restored (writes resume) as soon as space is back.
				b.every(spaceRefreshEvery, b.space.poll)
			}
			return b, nil
		}
		if bopts.ReadOnly && errors.Is(err, badger.ErrTruncateNeeded) {
			return nil, fmt.Errorf("kv: open %s read-only: a crash left a memtable log that only a read-write open can replay, "+
				"and the volume is too full for that (%s): %w", opts.Dir, fixFull, ErrFull)
		}
		if !isLockError(err) {
			return nil, err
		}
		if !time.Now().Before(deadline) {
			return nil, fmt.Errorf("kv: %s: waited %s: %w", opts.Dir, opts.LockTimeout, ErrLocked)
		}
		if !logged {
			msg, attrs := lockWaitMessage(opts.Dir)
			log.Warn(msg, append(attrs, "dir", opts.Dir, "timeout", opts.LockTimeout.String())...)
			logged = true
		}
		wait := min(lockRetryEvery, time.Until(deadline))
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("kv: waiting for data dir lock: %w", ctx.Err())
		case <-time.After(wait):
		}
	}
}

// errBusy is openChecked's "another process holds the directory lock".
var errBusy = errors.New("kv: Cannot acquire directory lock (held by another process)")

// openChecked opens Badger once. On disk it first takes the directory lock
// itself, looks at the data dir (inspectDataDir) and checks the store's
// files (checkStoreFiles), so nothing another process is still writing is
// judged, then lets go of the lock for Badger to take it. A refusal is a
// *DataDirError; a held lock is an error isLockError recognises.
func openChecked(opts Options, bopts badger.Options) (*badger.DB, dirState, error) {
	var st dirState
	if !opts.InMemory {
		unlock, ok, err := tryLock(opts.Dir)
		if err != nil {
			return nil, st, fmt.Errorf("kv: open %s: %w", opts.Dir, err)
		}
		if !ok {
			return nil, st, errBusy
		}
		st, err = inspectDataDir(opts.Dir)
		if err == nil {
			err = checkStoreFiles(opts.Dir, st, bopts)
		}
		unlock()
		var refused *DataDirError
		if errors.As(err, &refused) {
			return nil, st, err
		}
		if err != nil {
			return nil, st, fmt.Errorf("kv: open %s: %w", opts.Dir, err)
		}
	}
	db, err := badger.Open(bopts)
	if err == nil || isLockError(err) || opts.InMemory {
		return db, st, err
	}
	switch {
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS):
		return nil, st, &DataDirError{Dir: opts.Dir,
			Found: fmt.Sprintf("the store's files cannot be written by uid %d (%v)", os.Geteuid(), err),
			Fix: fmt.Sprintf("mount the data dir read-write and give that user the directory (chown -R %d %s), "+
				"or start the service as root so it can take the volume", os.Geteuid(), opts.Dir)}
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.ENOMEM):
		return nil, st, fmt.Errorf("kv: open %s: %w", opts.Dir, err)
	}
	return nil, st, damaged(opts.Dir, fmt.Sprintf("the store cannot be opened (%v)", err))
}

// markDataDir writes the data dir's marker when it is missing or out of
// date, and warns when the key prefix changed over existing data. A dir
// whose marker is current costs the one read inspectDataDir made.
func (b *Badger) markDataDir(dir string, st dirState) error {
	want := marker{App: markerApp, Prefix: b.prefix, Format: StoreFormat}
	m := st.marker
	switch {
	case m == nil && len(st.badger) > 0:
		b.log.Info("data dir from a release before the marker (store format 1): read as it is, nothing to migrate; writing the marker",
			"dir", dir, "marker", MarkerName, "format", StoreFormat)
	case m == nil:
		b.log.Info("new data dir: writing the marker", "dir", dir, "marker", MarkerName, "format", StoreFormat)
	case m.Prefix != b.prefix:
		hidden, err := b.hasKeys(m.Prefix)
		if err != nil {
			return fmt.Errorf("kv: look for data under the previous key prefix: %w", err)
		}
		if hidden {
			b.log.Warn("SESSION_KEY_PREFIX changed over existing data: everything stored under the old prefix "+
				"(accounts, sessions, avatars) is invisible to this process; set SESSION_KEY_PREFIX back to the old "+
				"prefix to see it again", "dir", dir, "old_prefix", m.Prefix, "new_prefix", b.prefix)
			if m.Format == StoreFormat {
				return nil
			}
			want.Prefix = m.Prefix // the marker keeps naming the data's prefix
		} else {
			b.log.Info("key prefix changed; nothing was stored under the old one", "old_prefix", m.Prefix, "new_prefix", b.prefix)
		}
	case m.Format == StoreFormat:
		return nil
	}
	if err := writeMarker(dir, want); err != nil {
		return fmt.Errorf("kv: write the data dir marker %s: %w", filepath.Join(dir, MarkerName), err)
	}
	return nil
}

// hasKeys reports whether any key starts with prefix (the whole stored
// key, not under b.prefix) without being one of b.prefix's own keys (the old
// prefix may be the start of the new one).
func (b *Badger) hasKeys(prefix string) (bool, error) {
	found := false
	own := []byte(b.prefix)
	err := b.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix)})
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix([]byte(prefix)); it.Next() {
			if !bytes.HasPrefix(it.Item().Key(), own) {
				found = true
				return nil
			}
		}
		return nil
	})
	return found, err
}

// isLockError reports whether err is Badger's "directory locked" failure.
// Badger reports it as text, not as a wrapped errno.
// lockWaitMessage says who holds dir's lock, for the one line logged while
// waiting. Badger writes its pid into the LOCK file it holds: when that pid
// is a process on this machine (a second local server on the same dir), the
// line names it; otherwise the holder is out of sight (on Railway or
// Docker, an old deploy's container still shutting down, or another
// container on the same volume) and the line says both.
func lockWaitMessage(dir string) (string, []any) {
	const unseen = "data dir is locked by another process (an old deploy still shutting down, or another server on the same data dir); waiting"
	b, err := os.ReadFile(filepath.Join(dir, "LOCK"))
	if err != nil {
		return unseen, nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return unseen, nil
	}
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return unseen, []any{"holder_pid", pid}
	}
	// Only the program's name: its arguments are not ours to log.
	argv0, _, _ := strings.Cut(string(cmd), "\x00")
	name := filepath.Base(argv0)
	return "data dir is locked by another process on this machine (a second server on the same data dir?); " +
		"waiting: stop it, or give this one another DATA_DIR", []any{"holder_pid", pid, "holder", name}
}

func isLockError(err error) bool {
	return strings.Contains(err.Error(), "Cannot acquire directory lock")
}

// memoryBounded returns Badger options sized for a 512 MB container: small
// memtables and value-log files, bounded block and index caches. The
// memtable is small also because the full-volume guard keeps room for it
// (space.go); values up to 256 KiB (all of ours) stay in the LSM tree, so
// the value log is practically never written.
func memoryBounded(opts Options, log *slog.Logger) badger.Options {
	var bo badger.Options
	memSize := int64(memTableSize)
	if opts.InMemory {
		bo = badger.DefaultOptions("").WithInMemory(true)
	} else {
		bo = badger.DefaultOptions(opts.Dir)
		memSize = memTableSizeFor(opts.Dir)
	}
	return bo.
		WithSyncWrites(true).
		WithMemTableSize(memSize).
		WithValueThreshold(256 << 10).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(4).
		WithBaseTableSize(2 << 20).
		WithValueLogFileSize(16 << 20).
		WithBlockCacheSize(16 << 20).
		WithIndexCacheSize(8 << 20).
		WithNumCompactors(2).
		WithNumGoroutines(4).
		WithMetricsEnabled(false).
		// Start-up checks each table's footer and index only (checkTable):
		// every data block is verified when it is read from disk.
		WithChecksumVerificationMode(options.OnBlockRead).
		WithLogger(badgerLogger{log})
}

func (b *Badger) key(k string) []byte { return []byte(b.prefix + k) }

// Get returns the value stored under key, or ErrNotFound.
func (b *Badger) Get(ctx context.Context, key string) ([]byte, error) {
	raw, found, err := b.getRaw(ctx, key)
	if err != nil {
		return nil, err
	}
	val, deleted := recordValue(raw)
	if !found || deleted {
		return nil, ErrNotFound
	}
	return append([]byte(nil), val...), nil
}

// getRecord returns key's stored record, tombstones included. rec.val may
// alias the read cache's copy: callers copy it before handing it out.
func (b *Badger) getRecord(ctx context.Context, key string) (record, bool, error) {
	raw, found, err := b.getRaw(ctx, key)
	if err != nil || !found {
		return record{}, false, err
	}
	return decodeRecord(raw), true, nil
}

// getRaw returns key's stored bytes (a record, tombstones included): from
// the read cache when it holds the key, else from a read transaction (whose
// result the cache keeps). raw may be the cache's copy: never modified.
func (b *Badger) getRaw(ctx context.Context, key string) (raw []byte, found bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if raw, ok := b.cache.get(key); ok {
		return raw, raw != nil, nil
	}
	gen := b.cache.generation()
	var expiresAt uint64
	err = b.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(b.key(key))
		if err != nil {
			return err
		}
		expiresAt = item.ExpiresAt()
		raw, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		b.cache.put(key, nil, 0, gen)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("kv: get: %w", err)
	}
	b.cache.put(key, raw, expiresAt, gen)
	return raw, true, nil
}

// Set stores val under key, replacing any value. A positive ttl makes the key
// expire after that long; ttl <= 0 keeps it until deleted. The write is on
// disk when Set returns nil.
func (b *Badger) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.space.allow(false); err != nil {
		return err
	}
	err := b.update(func(txn *badger.Txn) error {
		return txn.SetEntry(b.entry(key, b.stamp(val, ttl), ttl))
	}, key)
	if err != nil {
		return fmt.Errorf("kv: set: %w", err)
	}
	return nil
}

// stamp returns the stored form of a new value written now with ttl.
func (b *Badger) stamp(val []byte, ttl time.Duration) []byte {
	now := b.now()
	return encodeRecord(b.clock.next(now), false, expiryOf(now, ttl), val)
}

// Create stores val under key only if the key does not exist yet; otherwise
// it returns ErrExists and changes nothing. Concurrent Creates of one key
// succeed exactly once.
func (b *Badger) Create(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	return b.setIf(ctx, "create", key, val, ttl, false, ErrExists)
}

// Renew replaces key's value only if key holds a live value; otherwise it
// returns ErrNotFound and writes nothing (see Store.Renew).
func (b *Badger) Renew(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	return b.setIf(ctx, "renew", key, val, ttl, true, ErrNotFound)
}

// Replace stores val under key only if key's live value is old (see
// Store.Replace), checked and written in one transaction.
func (b *Badger) Replace(ctx context.Context, key string, old, val []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.space.allow(false); err != nil {
		return err
	}
	err := b.update(func(txn *badger.Txn) error {
		cur, live, err := b.liveValue(txn, key)
		switch {
		case err != nil:
			return err
		case !live:
			return ErrNotFound
		case !bytes.Equal(cur, old):
			return ErrChanged
		}
		return txn.SetEntry(b.entry(key, b.stamp(val, ttl), ttl))
	}, key)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrChanged) {
		return err
	}
	if err != nil {
		return fmt.Errorf("kv: replace: %w", err)
	}
	return nil
}

// liveValue returns a copy of key's value in txn, and whether it is live
// (not missing, not a tombstone).
func (b *Badger) liveValue(txn *badger.Txn, key string) ([]byte, bool, error) {
	item, err := txn.Get(b.key(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	raw, err := item.ValueCopy(nil)
	if err != nil {
		return nil, false, err
	}
	val, deleted := recordValue(raw)
	return val, !deleted, nil
}

// setIf writes val under key in one transaction only if key holds a live
// value (wantLive) or holds none (!wantLive); otherwise it returns refused
// and writes nothing.
func (b *Badger) setIf(ctx context.Context, op, key string, val []byte, ttl time.Duration, wantLive bool, refused error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.space.allow(false); err != nil {
		return err
	}
	err := b.update(func(txn *badger.Txn) error {
		live, err := b.live(txn, key)
		if err != nil {
			return err
		}
		if live != wantLive && !(op == "renew" && plantRenewRevive) {
			return refused
		}
		return txn.SetEntry(b.entry(key, b.stamp(val, ttl), ttl))
	}, key)
	if errors.Is(err, refused) {
		return refused
	}
	if err != nil {
		return fmt.Errorf("kv: %s: %w", op, err)
	}
	return nil
}

// live reports whether key holds a value (not a tombstone) in txn.
func (b *Badger) live(txn *badger.Txn, key string) (bool, error) {
	item, err := txn.Get(b.key(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	deleted := false
	err = item.Value(func(v []byte) error {
		deleted = decodeRecord(v).deleted
		return nil
	})
	return !deleted, err
}

// Delete removes key. Deleting a missing key is not an error.
func (b *Badger) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.space.allow(true); err != nil {
		return err
	}
	if err := b.update(func(txn *badger.Txn) error { return txn.Delete(b.key(key)) }, key); err != nil {
		return fmt.Errorf("kv: delete: %w", err)
	}
	return nil
}

// GetMany returns the values of keys from one read transaction, in the
// order of keys; a missing key gives a nil entry.
func (b *Badger) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	vals := make([][]byte, len(keys))
	err := b.db.View(func(txn *badger.Txn) error {
		for i, k := range keys {
			item, err := txn.Get(b.key(k))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			raw, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if rec := decodeRecord(raw); !rec.deleted {
				vals[i] = rec.val
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kv: get many: %w", err)
	}
	return vals, nil
}

// Scan calls fn for the live keys in r, in key order, from one consistent
// snapshot, with the key (without the store prefix) and a copy of its value.
// It stops at the first error fn returns and returns it.
func (b *Badger) Scan(ctx context.Context, r Range, fn func(key string, val []byte) error) error {
	n := 0
	scan := b.scanRaw
	if r.Reverse {
		scan = b.scanRawReverse
	}
	err := scan(ctx, r.Prefix, r.After, func(key string, raw []byte, _ uint64) error {
		rec := decodeRecord(raw)
		if rec.deleted {
			return nil
		}
		if r.Limit > 0 && n >= r.Limit {
			return errStopScan
		}
		n++
		return fn(key, rec.val)
	})
	if errors.Is(err, errStopScan) {
		return nil
	}
	return err
}

// scanRawReverse is scanRaw in descending key order, from the last key of
// prefix or, with after set, from the last key strictly before after.
func (b *Badger) scanRawReverse(ctx context.Context, prefix, after string, fn func(key string, raw []byte, expiresAt uint64) error) error {
	start := append(b.key(prefix), 0xff)
	var skip []byte
	if after != "" && after <= prefix+"\xff" {
		skip = b.key(after)
		start = skip
	}
	return b.iterate(ctx, b.key(prefix), start, skip, true, fn)
}

// errStopScan ends a scanRaw early without an error.
var errStopScan = errors.New("kv: stop scan")

// scanRaw calls fn with the stored bytes and Badger's expiry (Unix seconds,
// 0 = none) of every key that starts with prefix and sorts after after
// ("" = all), tombstones included, in key order.
func (b *Badger) scanRaw(ctx context.Context, prefix, after string, fn func(key string, raw []byte, expiresAt uint64) error) error {
	start := b.key(prefix)
	if after > prefix {
		start = b.key(after)
	}
	var skip []byte
	if after != "" {
		skip = b.key(after)
	}
	return b.iterate(ctx, b.key(prefix), start, skip, false, fn)
}

// iterate calls fn for every stored key under full (store prefix included),
// from start on, in key order or in reverse, leaving out skip (nil: none);
// fn gets the key without the store prefix, a copy of the stored bytes and
// Badger's expiry.
func (b *Badger) iterate(ctx context.Context, full, start, skip []byte, reverse bool, fn func(key string, raw []byte, expiresAt uint64) error) error {
	return b.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: full, Reverse: reverse, PrefetchValues: true, PrefetchSize: 16})
		defer it.Close()
		for it.Seek(start); it.ValidForPrefix(full); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			if skip != nil && bytes.Equal(item.Key(), skip) {
				continue
			}
			raw, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("kv: scan: %w", err)
			}
			if err := fn(string(item.Key()[len(b.prefix):]), raw, item.ExpiresAt()); err != nil {
				return err
			}
		}
		return nil
	})
}

// localOp is one change the mirror makes to the local store.
type localOp struct {
	key     string
	stored  []byte        // an encoded record, or raw bytes for a local-only key
	ttl     time.Duration // <= 0: never expires
	ifNewer bool          // stored is a record copied from Redis: write it only if newer than the local one
	// strict: stored is a new write of this instance (queued while Redis
	// is down): the whole apply fails with ErrNotFound rather than skip it
	// when it may not land (a live write over a final tombstone).
	strict bool
	// renew: write only over a live local record (Store.Renew); with
	// strict, a missing record fails the apply with errNotFoundHere.
	renew  bool
	remove bool // delete key instead
}

// apply makes ops in one transaction, synced to disk, and returns how many
// were written (ifNewer ops that were not newer are skipped).
func (b *Badger) apply(ctx context.Context, ops []localOp) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := b.space.allow(deletesOnly(ops)); err != nil {
		return 0, err
	}
	var n int
	keys := make([]string, len(ops))
	for i, op := range ops {
		keys[i] = op.key
	}
	err := b.update(func(txn *badger.Txn) error {
		n = 0
		for _, op := range ops {
			if op.remove {
				if err := txn.Delete(b.key(op.key)); err != nil {
					return err
				}
				n++
				continue
			}
			if op.ifNewer || op.strict || op.renew {
				ok, err := b.mayWrite(txn, op)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
			}
			if err := txn.SetEntry(b.entry(op.key, op.stored, op.ttl)); err != nil {
				return err
			}
			n++
		}
		return nil
	}, keys...)
	if err != nil {
		return 0, fmt.Errorf("kv: write local copy: %w", err)
	}
	return n, nil
}

// mayWrite decides whether op (a record) lands over key's local record in
// txn. A tombstone on a final key (IsFinal) is never overwritten by a live
// record, and such a tombstone replaces a live record whatever the
// versions; a renewal lands only over a live record; otherwise a copy
// (ifNewer) lands only if newer, and a new write (strict) always. A
// refused strict op fails the apply: ErrNotFound, or errNotFoundHere for
// a renewal of a key missing here.
func (b *Badger) mayWrite(txn *badger.Txn, op localOp) (bool, error) {
	in := decodeRecord(op.stored)
	refuse := func(err error) (bool, error) {
		if op.strict {
			return false, err
		}
		return false, nil
	}
	item, err := txn.Get(b.key(op.key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		if op.renew && !plantRenewRevive {
			return refuse(errNotFoundHere)
		}
		return true, nil
	}
	if err != nil {
		return false, err
	}
	var cur record
	err = item.Value(func(v []byte) error {
		cur = decodeRecord(v)
		cur.val = nil // v is only valid here
		return nil
	})
	if err != nil {
		return false, err
	}
	final := IsFinal(op.key)
	switch {
	case cur.deleted && !in.deleted && op.renew && !plantRenewRevive:
		return refuse(ErrNotFound)
	case cur.deleted && !in.deleted && final && !(op.renew && plantRenewRevive):
		return refuse(ErrNotFound)
	case !cur.deleted && in.deleted && final:
		return true, nil // a final tombstone ends the record, whatever the versions
	case op.ifNewer && !plantNoVersion:
		return in.version > cur.version, nil
	}
	return true, nil
}

// Ping checks that the store can serve a read.
func (b *Badger) Ping(ctx context.Context) error {
	if b.db.IsClosed() {
		return errors.New("kv: store is closed")
	}
	_, err := b.Get(ctx, "__ping__")
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Close stops the background GC and closes Badger, flushing everything to
// disk. It is safe to call more than once.
func (b *Badger) Close() error {
	b.closeOnce.Do(func() {
		close(b.stop)
		b.wg.Wait()
		if err := b.space.closable(); err != nil {
			// Badger's Close flushes the memtable to a table through mmap,
			// which would crash on a volume with no room for it. The
			// memtable log is synced, so leaving it is what kill -9 does:
			// nothing acknowledged is lost, the next start replays it.
			b.log.Error("closing the store without flushing its memtable: the data volume is full; "+
				"nothing is lost (the memtable log is on disk and the next start replays it)", "err", err)
			b.closeErr = nil
			return
		}
		b.closeErr = b.db.Close()
	})
	return b.closeErr
}

func (b *Badger) entry(key string, val []byte, ttl time.Duration) *badger.Entry {
	e := badger.NewEntry(b.key(key), val)
	if ttl > 0 {
		e = e.WithTTL(ttl)
	}
	return e
}

// update runs fn in a read-write transaction, retrying on write conflicts,
// then drops the keys it writes from the read cache (whatever the outcome:
// a failed commit may still have written).
func (b *Badger) update(fn func(txn *badger.Txn) error, keys ...string) error {
	defer b.cache.drop(keys...)
	var err error
	for range 5 {
		err = b.db.Update(fn)
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
	return err
}

// every runs fn every d in the background until Close.
func (b *Badger) every(d time.Duration, fn func()) {
	b.wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				fn()
			}
		}
	})
}

// reclaimUnlessFull runs reclaim unless the volume is too full to write
// (reclaiming rewrites tables: a write).
func (b *Badger) reclaimUnlessFull() {
	if !b.space.status().ReadOnly {
		b.reclaim()
	}
}

// reclaim gives the space of deleted and expired keys back: value-log GC,
// then, when the tables sit on more than one level, a Flatten, which
// compacts them into one; compaction is what drops deleted and expired
// keys, and session records (far under Badger's 1 MB value threshold) live
// in the tables, not in the value log.
func (b *Badger) reclaim() {
	b.runGC()
	levels := 0
	for _, l := range b.db.Levels() {
		if l.NumTables > 0 {
			levels++
		}
	}
	if levels < 2 {
		return
	}
	select {
	case <-b.stop:
		return
	default:
	}
	if err := b.db.Flatten(1); err != nil {
		b.log.Warn("compaction (flatten) failed", "err", err)
	}
}

// runGC rewrites value-log files until Badger finds nothing worth rewriting.
func (b *Badger) runGC() {
	for range 16 {
		select {
		case <-b.stop:
			return
		default:
		}
		err := b.db.RunValueLogGC(0.5)
		if err == nil {
			continue
		}
		if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
			b.log.Warn("value-log GC failed", "err", err)
		}
		return
	}
}

// badgerLogger routes Badger's own log lines to slog; its chatty info and
// debug lines are dropped.
type badgerLogger struct{ log *slog.Logger }

func (l badgerLogger) Errorf(f string, a ...any) {
	l.log.Error("badger: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (l badgerLogger) Warningf(f string, a ...any) {
	l.log.Warn("badger: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}
