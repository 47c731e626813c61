package kv

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Backup stream, format 2: text, one JSON object per line, so that it
// survives any pipe (docker exec, railway ssh) and can be read with a pager.
//
//	{"app":"soulbridge","kind":"backup","format":2,"prefix":"soulbridge:","created_at":"…","source":"local"}
//	{"k":"user:alice","r":"<base64 of the stored record>"}
//	…
//	{"end":true,"records":N,"mac":"<hex HMAC-SHA256>"}
//
// The trailer's mac signs the stream: HMAC-SHA256 under BackupKey(site key)
// of every line before it (as written, each with its "\n"; a reader drops
// the \r a terminal may add and blank lines before feeding them), then
// "end N\n". A restore checks it against the current key and the
// fallbacks before it loads anything, so a record added or altered by hand,
// or a backup of another site, is refused. Format 1 (the release before)
// is the same without the mac: it reads only as an unverified backup.
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
	backupFormat = 2
	// unsignedFormat is the previous release's format: no mac.
	unsignedFormat = 1
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
	// Verified says the signature was checked and matched one of the keys
	// (a reader's Keys; always true for a backup written).
	Verified bool
	// Skipped counts the records a restore left out (RestoreOptions.Skip).
	Skipped int
	// KeyIndex is the index in ReadOptions.Keys of the key whose signature
	// matched (the key the backup's sessions were made under), -1 when
	// none did; 0 for a backup written.
	KeyIndex int
}

type backupLine struct {
	Key     string `json:"k,omitempty"`
	Record  []byte `json:"r,omitempty"`
	End     bool   `json:"end,omitempty"`
	Records int    `json:"records,omitempty"`
	MAC     string `json:"mac,omitempty"`
}

// BackupKey derives the key that signs backups from a site key (the
// current SECRET_KEY, or a fallback when checking): its own purpose, so a
// backup's signature is never a valid signature of anything else.
func BackupKey(siteKey []byte) []byte { return deriveKey(siteKey, "soulbridge backup v1") }

// KeyFingerprint is a keyed fingerprint of a site key, as 32 hex
// characters: derived like BackupKey (HMAC-SHA256 under the key, for this
// purpose only), never a plain hash, so it tells keys apart without
// helping anyone guess one, and is never a valid signature of anything.
// The data dir keeps the fingerprint of the key its sessions were made
// under (serve warns when that key is gone).
func KeyFingerprint(siteKey []byte) string {
	return hex.EncodeToString(deriveKey(siteKey, "soulbridge key fingerprint v1")[:16])
}

// deriveKey derives a key for one purpose from a site key.
func deriveKey(siteKey []byte, purpose string) []byte {
	m := hmac.New(sha256.New, siteKey)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// ErrUnverified is returned by backup readers for a backup whose signature
// matches none of the keys given (altered, or written under another key)
// or that has none (a previous release's), unless ReadOptions.Unverified.
var ErrUnverified = errors.New("kv: the backup cannot be verified")

// ErrNotBackup is returned by restores and readers for a stream that is not
// a soulbridge backup of a format this build reads.
var ErrNotBackup = errors.New("kv: not a soulbridge backup")

// ErrNotEmpty is returned by Restore when the store already holds records
// and Replace is not set.
var ErrNotEmpty = errors.New("kv: the store is not empty")

// backupWriter writes the stream and signs it.
type backupWriter struct {
	w      *bufio.Writer
	mac    hash.Hash
	enc    *json.Encoder
	header BackupHeader
	n      int
}

// newBackupWriter starts a backup signed under siteKey (with its
// BackupKey); a backup is never written unsigned.
func newBackupWriter(w io.Writer, h BackupHeader, siteKey []byte) (*backupWriter, error) {
	if len(siteKey) == 0 {
		return nil, errors.New("no signing key")
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	mac := hmac.New(sha256.New, BackupKey(siteKey))
	h.App, h.Kind, h.Format = backupApp, backupKind, backupFormat
	if h.CreatedAt.IsZero() {
		h.CreatedAt = time.Now().UTC()
	}
	// The encoder writes each line whole, "\n" included, in one Write.
	enc := json.NewEncoder(io.MultiWriter(bw, mac))
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil {
		return nil, err
	}
	return &backupWriter{w: bw, mac: mac, enc: enc, header: h}, nil
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
	fmt.Fprintf(b.mac, "end %d\n", b.n)
	trailer := backupLine{End: true, Records: b.n, MAC: hex.EncodeToString(b.mac.Sum(nil))}
	line, err := json.Marshal(trailer)
	if err != nil {
		return err
	}
	if _, err := b.w.Write(append(line, '\n')); err != nil {
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
// (a single Badger read transaction), signed under the site key key.
func (b *Badger) Backup(ctx context.Context, w io.Writer, key []byte) (BackupStats, error) {
	h := BackupHeader{Prefix: b.prefix, Source: "local"}
	bw, err := newBackupWriter(w, h, key)
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
	return BackupStats{Header: bw.header, Records: bw.n, Verified: true}, nil
}

// ReadOptions says how a backup is checked as it is read.
type ReadOptions struct {
	// Keys are the site keys (current first, then fallbacks) whose
	// BackupKey may have signed the backup.
	Keys [][]byte
	// Unverified accepts a backup whose signature matches none of Keys, or
	// that has none (format 1); BackupStats.Verified then says false.
	// Without it such a backup fails with ErrUnverified at its end.
	Unverified bool
	// Check, if set, is called with every record's key and value (nil for
	// a tombstone); an error refuses the backup.
	Check func(key string, value []byte) error
}

// BackupReader reads a backup stream.
type BackupReader struct {
	sc       *bufio.Scanner
	header   BackupHeader
	opts     ReadOptions
	macs     []hash.Hash // one per key, fed every line before the trailer
	keyIndex int         // the key whose mac matched (checkSignature), -1 until one does
	n        int
	ended    bool
	verified bool
}

// newBackupReader reads the header line; see OpenBackup.
func newBackupReader(r io.Reader, opts ReadOptions) (*BackupReader, error) {
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
	if h.Format != backupFormat && h.Format != unsignedFormat {
		return nil, fmt.Errorf("%w: format %d (this build reads formats %d and %d; use a newer soulbridge)", ErrNotBackup, h.Format, unsignedFormat, backupFormat)
	}
	br2 := &BackupReader{sc: sc, header: h, opts: opts, keyIndex: -1}
	if h.Format == backupFormat {
		for _, k := range opts.Keys {
			br2.macs = append(br2.macs, hmac.New(sha256.New, BackupKey(k)))
		}
		br2.sign(bytes.TrimSpace(sc.Bytes()))
	}
	return br2, nil
}

// sign feeds one line, as written, to every candidate key's mac.
func (r *BackupReader) sign(line []byte) {
	for _, m := range r.macs {
		m.Write(line)
		m.Write([]byte{'\n'})
	}
}

// checkSignature is called at the trailer: the backup is verified if its
// mac matches one of the keys', refused (ErrUnverified) otherwise unless
// opts.Unverified.
func (r *BackupReader) checkSignature(l backupLine) error {
	if r.header.Format == unsignedFormat {
		if r.opts.Unverified {
			return nil
		}
		return fmt.Errorf("%w: it is not signed (written by a release before signed backups)", ErrUnverified)
	}
	want, err := hex.DecodeString(l.MAC)
	if err == nil && len(want) == sha256.Size {
		for i, m := range r.macs {
			fmt.Fprintf(m, "end %d\n", l.Records)
			if hmac.Equal(m.Sum(nil), want) {
				r.verified, r.keyIndex = true, i
				return nil
			}
		}
	}
	if r.opts.Unverified {
		return nil
	}
	if len(r.macs) == 0 {
		return fmt.Errorf("%w: no key to check its signature with", ErrUnverified)
	}
	return fmt.Errorf("%w: its signature matches neither the current key nor any fallback key: it was altered, or written under another key", ErrUnverified)
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
			if err := r.checkSignature(l); err != nil {
				return "", nil, false, err
			}
			r.ended = true
			return "", nil, false, nil
		}
		r.sign(line)
		rec := decodeRecord(l.Record)
		if l.Key == "" || rec.version == "" {
			return "", nil, false, fmt.Errorf("kv: backup line %d: not a record", r.n+2)
		}
		if r.opts.Check != nil {
			val := rec.val
			if rec.deleted {
				val = nil
			} else if val == nil {
				val = []byte{}
			}
			if err := r.opts.Check(l.Key, val); err != nil {
				return "", nil, false, fmt.Errorf("kv: backup line %d: %w", r.n+2, err)
			}
		}
		r.n++
		return l.Key, l.Record, true, nil
	}
	if err := r.sc.Err(); err != nil {
		return "", nil, false, fmt.Errorf("kv: reading backup: %w", err)
	}
	return "", nil, false, fmt.Errorf("kv: backup is truncated after %d records (no end line): was the copy cut off?", r.n)
}

// VerifyBackup reads a whole backup from r and checks it as opts says:
// header, every record line (opts.Check), the trailer and the signature.
// A restore runs it over the whole file before it loads anything.
func VerifyBackup(r io.Reader, opts ReadOptions) (BackupStats, error) {
	br, err := newBackupReader(r, opts)
	if err != nil {
		return BackupStats{}, err
	}
	for {
		_, _, ok, err := br.next()
		if err != nil {
			return BackupStats{}, err
		}
		if !ok {
			return BackupStats{Header: br.header, Records: br.n, Verified: br.verified, KeyIndex: br.keyIndex}, nil
		}
	}
}

// RestoreOptions configures Restore.
type RestoreOptions struct {
	// Replace drops every record under the store's prefix (the mirror's
	// outbox and epoch included) before loading; without it a store that
	// holds records is refused with ErrNotEmpty.
	Replace bool
	// Skip, if set, leaves out every record whose key it reports (an
	// unverified backup's sessions); they are counted in Skipped.
	Skip func(key string) bool
}

// OpenBackup reads a backup's header from r (a gzip-compressed backup is
// read too), refusing with ErrNotBackup anything that is not a soulbridge
// backup of a format this build reads. Pass the result to Restore, which
// checks the records and the signature as opts says as it reads; since
// Restore writes as it goes (and rolls back at the end), check the whole
// backup first with VerifyBackup.
func OpenBackup(r io.Reader, opts ReadOptions) (*BackupReader, error) {
	return newBackupReader(r, opts)
}

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
	skipped, err := b.load(ctx, br, opts.Skip, shared)
	if err != nil {
		derr := b.db.DropPrefix([]byte(b.prefix))
		b.cache.dropAll()
		if derr != nil {
			err = errors.Join(err, fmt.Errorf("kv: restore: roll back: %w", derr))
		}
		return BackupStats{}, err
	}
	return BackupStats{Header: br.header, Records: br.n - skipped, Verified: br.verified, Skipped: skipped, KeyIndex: br.keyIndex}, nil
}

func (b *Badger) load(ctx context.Context, br *BackupReader, skip func(string) bool, shared func([]localOp) error) (int, error) {
	skipped := 0
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
			return 0, err
		}
		if !ok {
			return skipped, flush()
		}
		if strings.HasPrefix(key, localNS) {
			continue
		}
		if skip != nil && skip(key) {
			skipped++
			continue
		}
		ttl := decodeRecord(stored).ttl(now)
		if ttl < 0 {
			continue
		}
		batch = append(batch, localOp{key: key, stored: stored, ttl: ttl})
		if len(batch) == restoreBatch {
			if err := flush(); err != nil {
				return 0, err
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
