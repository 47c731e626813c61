package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testlog"
	"soulbridge/kv"
	"soulbridge/session"
)

// keyPrintStore opens a real Badger in a temp data dir holding one session
// made at created.
func keyPrintStore(t *testing.T, created time.Time) (string, *kv.Badger) {
	t.Helper()
	dir := t.TempDir()
	b, err := kv.Open(context.Background(), kv.Options{Dir: dir, Prefix: "soulbridge:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if !created.IsZero() {
		rec, _ := json.Marshal(session.Record{Username: "alice", CreatedAt: created, LastSeen: created, ExpiresAt: created.Add(time.Hour)})
		if err := b.Set(context.Background(), session.KeyPrefix+strings.Repeat("ab", 32), rec, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	return dir, b
}

// TestKeyPrintWarnsWhenSessionsKeyIsGone (issue 18 row 9): the data dir
// remembers the key its sessions were made under; a start under another
// key, with the old one not among the fallbacks, warns once, naming
// SECRET_KEY and SECRET_KEY_FALLBACKS; the old key as a fallback, the same
// key, a data dir without the file (an older release's) and sessions made
// before the recorded key do not.
func TestKeyPrintWarnsWhenSessionsKeyIsGone(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1, 2}, 16), bytes.Repeat([]byte{3, 4}, 16)
	now := time.Now()
	tests := []struct {
		name     string
		recorded []byte    // nil: no fingerprint file
		since    time.Time // of the recorded key
		created  time.Time // the session's; zero: no session
		keys     [][]byte
		warn     bool
	}{
		{"restored under K1, started under K2", k1, time.Time{}, now.Add(-time.Hour), [][]byte{k2}, true},
		{"K1 kept as a fallback", k1, time.Time{}, now.Add(-time.Hour), [][]byte{k2, k1}, false},
		{"same key", k1, time.Time{}, now.Add(-time.Hour), [][]byte{k1}, false},
		{"older data dir without the file", nil, time.Time{}, now.Add(-time.Hour), [][]byte{k2}, false},
		{"no sessions", k1, time.Time{}, time.Time{}, [][]byte{k2}, false},
		{"session older than the recorded key", k1, now.Add(-time.Minute), now.Add(-time.Hour), [][]byte{k2}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, store := keyPrintStore(t, tc.created)
			if tc.recorded != nil {
				if err := writeKeyPrint(dir, tc.recorded, tc.since); err != nil {
					t.Fatal(err)
				}
			}
			logs := &testlog.Recorder{}
			checkKeyPrint(context.Background(), dir, tc.keys, store, slogOf(logs))
			var warnings []string
			for _, r := range logs.Records() {
				warnings = append(warnings, r.Level.String()+" "+r.Message)
			}
			if !tc.warn && len(warnings) != 0 {
				t.Fatalf("logged %q, want nothing", warnings)
			}
			if tc.warn {
				if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "WARN") ||
					!strings.Contains(warnings[0], "SECRET_KEY ") || !strings.Contains(warnings[0], "SECRET_KEY_FALLBACKS") {
					t.Fatalf("logged %q, want one warning naming SECRET_KEY and SECRET_KEY_FALLBACKS", warnings)
				}
			}
			// The file now names the current key, by a keyed fingerprint:
			// neither the key nor its plain hash is in it.
			p, ok, err := readKeyPrint(dir)
			if err != nil || !ok || p.Fingerprint != kv.KeyFingerprint(tc.keys[0]) {
				t.Fatalf("after the check: %+v, %v, %v; want the current key's fingerprint", p, ok, err)
			}
			raw, _ := os.ReadFile(filepath.Join(dir, keyPrintName))
			sum := sha256.Sum256(tc.keys[0])
			for _, secret := range []string{hex.EncodeToString(tc.keys[0]), string(tc.keys[0]), hex.EncodeToString(sum[:])[:32]} {
				if strings.Contains(string(raw), secret) {
					t.Fatalf("the fingerprint file holds the key or its plain hash: %s", raw)
				}
			}
			if fi, err := os.Stat(filepath.Join(dir, keyPrintName)); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("fingerprint file: %v, mode %v; want 0600", err, fi.Mode().Perm())
			}
			// Warned once: the next start under the same keys says nothing.
			logs.Reset()
			checkKeyPrint(context.Background(), dir, tc.keys, store, slogOf(logs))
			if n := len(logs.Records()); n != 0 {
				t.Fatalf("second start logged %d lines, want none", n)
			}
		})
	}
}

func slogOf(h *testlog.Recorder) *slog.Logger { return slog.New(h) }
