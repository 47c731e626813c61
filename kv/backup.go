package kv

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Backup stream, format 1: text, one JSON object per line, so that it
// survives any pipe (docker exec, railway ssh) and can be read with a pager.
//
//	{"app":"soulbridge","kind":"backup","format":1,"prefix":"soulbridge:","created_at":"…","source":"local"}
//	{"k":"user:alice","r":"<base64 of the stored record>"}
//	…
//	{"end":true,"records":N}
//
// Each record line holds a key (without the prefix) and its stored record
// (record.go: version, tombstone flag, absolute expiry, value), so a restore
// keeps versions, tombstones and every session's expiry. Records written
// before versioning are exported in the versioned form with the oldest
// version (as the mirror's push-back does). Expired records and this
// instance's local-only keys (the mirror's outbox and epoch) are left out.
// The trailer line makes a cut-off stream detectable: a restore refuses a
// stream without it. Session records are keyed by the SHA-256 of their
// token, so a backup holds no usable token; it does hold password hashes.
const (
	backupApp    = "soulbridge"
	backupKind   = "backup"
	backupFormat = 1
	// maxBackupLine bounds one line of a backup (a record of a few MB at most).
	maxBackupLine = 64 << 20
	restoreBatch  = 512
)

// BackupHeader is the first line of a backup.
type BackupHeader struct {
	App       string    `json:"app"`
	Kind      string    `json:"kind"`
	Format    int       `json:"format"`
	Prefix    string    `json:"prefix"`
	CreatedAt time.Time `json:"created_at"`
	// Source is "local" (this instance's Badger) or "redis+local" (Redis'
	// shared records merged with the local copy, the newer version of a key
	// winning).
	Source string `json:"source"`
}

// BackupStats describes a written or read backup.
type BackupStats struct {
	Header  BackupHeader
	Records int
}

type backupLine struct {
	Key     string `json:"k,omitempty"`
	Record  []byte `json:"r,omitempty"`
	End     bool   `json:"end,omitempty"`
	Records int    `json:"records,omitempty"`
}

// ErrNotBackup is returned by restores and readers for a stream that is not
// a soulbridge backup of a format this build reads.
var ErrNotBackup = errors.New("kv: not a soulbridge backup")

// ErrNotEmpty is returned by Restore when the store already holds records
// and Replace is not set.
var ErrNotEmpty = errors.New("kv: the store is not empty")

// backupWriter writes the stream.
type backupWriter struct {
	w      *bufio.Writer
	enc    *json.Encoder
	header BackupHeader
	n      int
}

func newBackupWriter(w io.Writer, h BackupHeader) (*backupWriter, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	h.App, h.Kind, h.Format = backupApp, backupKind, backupFormat
	if h.CreatedAt.IsZero() {
		h.CreatedAt = time.Now().UTC()
	}
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil {
		return nil, err
	}
	return &backupWriter{w: bw, enc: enc, header: h}, nil
}

// record writes key's stored record unless it is expired or local-only.
func (b *backupWriter) record(key string, stored []byte, now time.Time) error {
	if strings.HasPrefix(key, localNS) {
		return nil
	}
	if decodeRecord(stored).ttl(now) < 0 {
		return nil
	}
	b.n++
	return b.enc.Encode(backupLine{Key: key, Record: stored})
}

func (b *backupWriter) finish() error {
	if err := b.enc.Encode(backupLine{End: true, Records: b.n}); err != nil {
		return err
	}
	return b.w.Flush()
}

// versioned returns raw in the versioned record form: a value written
// before versioning gets the oldest version and Badger's expiry (Unix s).
func versioned(raw []byte, expiresAt uint64) []byte {
	if decodeRecord(raw).version != "" {
		return raw
	}
	var exp int64
	if expiresAt > 0 {
		exp = int64(expiresAt) * 1000
	}
	return encodeRecord(strings.Repeat("0", versionLen), false, exp, raw)
}

// Backup writes a backup of the store to w from one consistent snapshot
// (a single Badger read transaction).
func (b *Badger) Backup(ctx context.Context, w io.Writer) (BackupStats, error) {
	h := BackupHeader{Prefix: b.prefix, Source: "local"}
	bw, err := newBackupWriter(w, h)
	if err != nil {
		return BackupStats{}, fmt.Errorf("kv: backup: %w", err)
	}
	now := b.now()
	err = b.scanRaw(ctx, "", "", func(key string, raw []byte, exp uint64) error {
		return bw.record(key, versioned(raw, exp), now)
	})
	if err == nil {
		err = bw.finish()
	}
	if err != nil {
		return BackupStats{}, fmt.Errorf("kv: backup: %w", err)
	}
	return BackupStats{Header: bw.header, Records: bw.n}, nil
}

// BackupReader reads a backup stream.
type BackupReader struct {
	sc     *bufio.Scanner
	header BackupHeader
	n      int
	ended  bool
}

// newBackupReader reads the header line; see OpenBackup.
func newBackupReader(r io.Reader) (*BackupReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w (bad gzip: %v)", ErrNotBackup, err)
		}
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 64<<10), maxBackupLine)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotBackup, err)
		}
		return nil, fmt.Errorf("%w: empty input", ErrNotBackup)
	}
	var h BackupHeader
	if err := json.Unmarshal(bytes.TrimSpace(sc.Bytes()), &h); err != nil || h.App != backupApp || h.Kind != backupKind {
		return nil, fmt.Errorf("%w: the first line is not a soulbridge backup header", ErrNotBackup)
	}
	if h.Format != backupFormat {
		return nil, fmt.Errorf("%w: format %d (this build reads format %d; use a newer soulbridge)", ErrNotBackup, h.Format, backupFormat)
	}
	return &BackupReader{sc: sc, header: h}, nil
}

// next returns the next record; ok is false at the trailer. A stream that
// ends without its trailer, or whose count disagrees, is an error.
func (r *BackupReader) next() (key string, stored []byte, ok bool, err error) {
	for r.sc.Scan() {
		line := bytes.TrimSpace(r.sc.Bytes()) // a TTY on the way may add \r
		if len(line) == 0 {
			continue
		}
		var l backupLine
		if err := json.Unmarshal(line, &l); err != nil {
			return "", nil, false, fmt.Errorf("kv: backup line %d: %w", r.n+2, err)
		}
		if l.End {
			if l.Records != r.n {
				return "", nil, false, fmt.Errorf("kv: backup is damaged: trailer says %d records, read %d", l.Records, r.n)
			}
			r.ended = true
			return "", nil, false, nil
		}
		if l.Key == "" || decodeRecord(l.Record).version == "" {
			return "", nil, false, fmt.Errorf("kv: backup line %d: not a record", r.n+2)
		}
		r.n++
		return l.Key, l.Record, true, nil
	}
	if err := r.sc.Err(); err != nil {
		return "", nil, false, fmt.Errorf("kv: reading backup: %w", err)
	}
	return "", nil, false, fmt.Errorf("kv: backup is truncated after %d records (no end line): was the copy cut off?", r.n)
}

// VerifyBackup reads a whole backup from r and checks it: header, every
// record line and the trailer.
func VerifyBackup(r io.Reader) (BackupStats, error) {
	br, err := newBackupReader(r)
	if err != nil {
		return BackupStats{}, err
	}
	for {
		_, _, ok, err := br.next()
		if err != nil {
			return BackupStats{}, err
		}
		if !ok {
			return BackupStats{Header: br.header, Records: br.n}, nil
		}
	}
}

// RestoreOptions configures Restore.
type RestoreOptions struct {
	// Replace drops every record under the store's prefix (the mirror's
	// outbox and epoch included) before loading; without it a store that
	// holds records is refused with ErrNotEmpty.
	Replace bool
}

// OpenBackup reads a backup's header from r (a gzip-compressed backup is
// read too), refusing with ErrNotBackup anything that is not a soulbridge
// backup of a format this build reads. Pass the result to Restore.
func OpenBackup(r io.Reader) (*BackupReader, error) { return newBackupReader(r) }

// Header is the backup's header line.
func (r *BackupReader) Header() BackupHeader { return r.header }

// Restore loads a backup (OpenBackup) into the store. It refuses a backup
// taken under another key prefix, and (without Replace) a store that
// already holds records, changing nothing then. Each record is written as
// stored, so versions, tombstones and expiries are kept (a session expires
// when it would have; records expired since the backup are skipped). A
// stream that turns out damaged or cut off is rolled back. The local mirror
// epoch is dropped, so an instance started with REDIS_URL on the restored
// dir pushes the records to Redis wherever Redis holds nothing newer.
func (b *Badger) Restore(ctx context.Context, br *BackupReader, opts RestoreOptions) (BackupStats, error) {
	return b.restore(ctx, br, opts, nil)
}

// restore is Restore; each batch, once written, is also passed to shared
// (the mirror's copy to Redis) when it is set.
func (b *Badger) restore(ctx context.Context, br *BackupReader, opts RestoreOptions, shared func([]localOp) error) (BackupStats, error) {
	if br.header.Prefix != b.prefix {
		return BackupStats{}, fmt.Errorf("%w: it was taken with key prefix %q, this store uses %q (set SESSION_KEY_PREFIX to match)",
			ErrNotBackup, br.header.Prefix, b.prefix)
	}
	n, err := b.Records(ctx)
	if err != nil {
		return BackupStats{}, err
	}
	if n > 0 && !opts.Replace {
		return BackupStats{}, fmt.Errorf("%w: it holds %d records", ErrNotEmpty, n)
	}
	if opts.Replace {
		err = b.db.DropPrefix([]byte(b.prefix))
		b.cache.dropAll()
	} else {
		_, err = b.apply(ctx, []localOp{{key: localEpochKey, remove: true}})
	}
	if err != nil {
		return BackupStats{}, fmt.Errorf("kv: restore: clear: %w", err)
	}
	if err := b.load(ctx, br, shared); err != nil {
		derr := b.db.DropPrefix([]byte(b.prefix))
		b.cache.dropAll()
		if derr != nil {
			err = errors.Join(err, fmt.Errorf("kv: restore: roll back: %w", derr))
		}
		return BackupStats{}, err
	}
	return BackupStats{Header: br.header, Records: br.n}, nil
}

func (b *Badger) load(ctx context.Context, br *BackupReader, shared func([]localOp) error) error {
	batch := make([]localOp, 0, restoreBatch)
	flush := func() error {
		if _, err := b.apply(ctx, batch); err != nil {
			return err
		}
		if shared != nil {
			if err := shared(batch); err != nil {
				return err
			}
		}
		batch = batch[:0]
		return nil
	}
	now := b.now()
	for {
		key, stored, ok, err := br.next()
		if err != nil {
			return err
		}
		if !ok {
			return flush()
		}
		if strings.HasPrefix(key, localNS) {
			continue
		}
		ttl := decodeRecord(stored).ttl(now)
		if ttl < 0 {
			continue
		}
		batch = append(batch, localOp{key: key, stored: stored, ttl: ttl})
		if len(batch) == restoreBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// Records counts the keys under the store's prefix (tombstones included),
// leaving out the local-only keys (the mirror's outbox and
// epoch): zero means an empty store.
func (b *Badger) Records(ctx context.Context) (int, error) {
	n := 0
	err := b.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(b.prefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if !strings.HasPrefix(string(it.Item().Key()[len(b.prefix):]), localNS) {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("kv: count records: %w", err)
	}
	return n, nil
}
