package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"soulbridge/kv"
	"soulbridge/session"
)

// The key fingerprint (docs/architecture.md, "Secret keys and
// persistence"): the data dir remembers which signing key its sessions were
// made under, as a keyed fingerprint (kv.KeyFingerprint, never the key nor
// a plain hash of it), so that a start under another key, with the old one
// in neither SECRET_KEY nor SECRET_KEY_FALLBACKS, says that every session
// made before will be refused, instead of the sessions dying silently (a
// restore into a fresh dir that then generated its own key, issue 18 row 9).

// keyPrintName is the fingerprint file in the data dir. A data dir from a
// release before it has none: the first start writes it, warning about
// nothing (it cannot know which key the sessions were made under).
const keyPrintName = "soulbridge-key.json"

// keyPrint is the file's content: sessions made at or after Since were made
// under the key whose fingerprint is Fingerprint (a zero Since: every
// session in the store, as after a restore).
type keyPrint struct {
	Fingerprint string    `json:"fingerprint"`
	Since       time.Time `json:"since"`
}

// readKeyPrint reads dir's fingerprint file; ok is false when there is none.
func readKeyPrint(dir string) (p keyPrint, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, keyPrintName))
	if errors.Is(err, fs.ErrNotExist) {
		return keyPrint{}, false, nil
	}
	if err != nil {
		return keyPrint{}, false, err
	}
	if err := json.Unmarshal(b, &p); err != nil || p.Fingerprint == "" {
		return keyPrint{}, false, fmt.Errorf("%s is not a key fingerprint file", keyPrintName)
	}
	return p, true, nil
}

// writeKeyPrint records that sessions made from since on are made under
// key: a temp file (0600), synced, renamed over the old one.
func writeKeyPrint(dir string, key []byte, since time.Time) error {
	b, err := json.Marshal(keyPrint{Fingerprint: kv.KeyFingerprint(key), Since: since.UTC()})
	if err != nil {
		return err
	}
	return writeDataFile(dir, keyPrintName, append(b, '\n'))
}

// writeDataFile writes b to name in dir: a temp file (0600), synced,
// renamed over the old one.
func writeDataFile(dir, name string, b []byte) error {
	f, err := os.CreateTemp(dir, ".soulbridge-tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// sessionScanner is the store method checkKeyPrint needs.
type sessionScanner interface {
	Scan(ctx context.Context, r kv.Range, fn func(key string, val []byte) error) error
}

// checkKeyPrint compares the data dir's fingerprint with keys (current
// first, then fallbacks) at start-up. When the recorded key is neither, and
// the store holds a session made under it (at or after its Since), it logs
// one warning naming SECRET_KEY and SECRET_KEY_FALLBACKS; then it records
// the current key (from now). A recorded fallback is replaced quietly (the
// rotation the operator chose); the current key's is left as it is. Only a
// mismatch scans the sessions, so an ordinary start costs one small read.
// Failures are logged, never fatal: the fingerprint only serves a warning.
func checkKeyPrint(ctx context.Context, dir string, keys [][]byte, store sessionScanner, log *slog.Logger) {
	p, ok, err := readKeyPrint(dir)
	if err != nil {
		log.Warn("reading the key fingerprint failed; recording the current key's", "file", keyPrintName, "err", err)
	}
	if ok && p.Fingerprint == kv.KeyFingerprint(keys[0]) {
		return
	}
	if ok && !isFallback(p.Fingerprint, keys[1:]) {
		n, err := sessionsSince(ctx, store, p.Since)
		if err != nil {
			log.Warn("checking the sessions against the key fingerprint failed", "err", err)
		}
		if n > 0 {
			log.Warn("the store holds sessions made under another signing key, which is neither SECRET_KEY (nor the key file) "+
				"nor in SECRET_KEY_FALLBACKS: all of them are refused and their users must log in again. "+
				"If that is not intended (a restore, a new volume, a lost key file), set SECRET_KEY to the key they were made under, "+
				"or add it to SECRET_KEY_FALLBACKS, and restart", "sessions", n)
		}
	}
	if err := writeKeyPrint(dir, keys[0], time.Now()); err != nil {
		log.Warn("recording the key fingerprint failed", "file", keyPrintName, "err", err)
	}
}

// isFallback reports whether fingerprint is one of fallbacks'.
func isFallback(fingerprint string, fallbacks [][]byte) bool {
	for _, k := range fallbacks {
		if kv.KeyFingerprint(k) == fingerprint {
			return true
		}
	}
	return false
}

// sessionsSince counts the live sessions in store made (or kept) at or
// after since.
func sessionsSince(ctx context.Context, store sessionScanner, since time.Time) (int, error) {
	n := 0
	err := store.Scan(ctx, kv.Range{Prefix: session.KeyPrefix}, func(_ string, val []byte) error {
		var r session.Record
		if json.Unmarshal(val, &r) != nil {
			return nil
		}
		if !r.CreatedAt.Before(since) || !r.KeptAt.IsZero() && !r.KeptAt.Before(since) {
			n++
		}
		return nil
	})
	return n, err
}
