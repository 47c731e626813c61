package kv

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBackupRestoreKeepsRecordsAndExpiry(t *testing.T) {
	ctx := context.Background()
	src, _ := openTemp(t)
	mustSetB(t, src, "user:alice", "A", 0)
	mustSetB(t, src, "session:s1", "S1", time.Hour)
	mustSetB(t, src, "session:gone", "G", time.Hour)
	if err := src.Delete(ctx, "session:gone"); err != nil {
		t.Fatal(err)
	}
	mustSetB(t, src, "session:short", "X", time.Minute)
	if _, err := src.apply(ctx, []localOp{{key: outboxPrefix + "1", stored: []byte("local only")}}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	st, err := src.Backup(ctx, &buf, testSiteKey)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 3 || st.Header.Source != "local" {
		t.Fatalf("backup stats %+v, want 3 records from local", st)
	}
	if strings.Contains(buf.String(), "mirror:") {
		t.Fatalf("backup holds local-only keys:\n%s", buf.String())
	}
	dst, _ := openTemp(t)
	// The restore runs 10 minutes later: session:short has expired since.
	dst.now = func() time.Time { return time.Now().Add(10 * time.Minute) }
	rst, err := restoreFrom(t, dst, bytes.NewReader(buf.Bytes()), RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rst.Records != 3 {
		t.Fatalf("restore read %d records, want 3", rst.Records)
	}
	if v, err := dst.Get(ctx, "user:alice"); err != nil || string(v) != "A" {
		t.Fatalf("user after restore: %q %v", v, err)
	}
	for _, k := range []string{"session:gone", "session:short"} {
		if _, err := dst.Get(ctx, k); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s after restore: %v, want not found", k, err)
		}
	}
	want, _, _ := src.getRecord(ctx, "session:s1")
	got, _, _ := dst.getRecord(ctx, "session:s1")
	if got.expires != want.expires || got.version != want.version || string(got.val) != "S1" {
		t.Fatalf("session after restore %+v, want %+v", got, want)
	}

	// A second restore is refused (not empty), then allowed with Replace.
	if _, err := restoreFrom(t, dst, bytes.NewReader(buf.Bytes()), RestoreOptions{}); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("restore into a non-empty store: %v, want ErrNotEmpty", err)
	}
	mustSetB(t, dst, "user:zed", "Z", 0)
	if _, err := restoreFrom(t, dst, bytes.NewReader(buf.Bytes()), RestoreOptions{Replace: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Get(ctx, "user:zed"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Replace kept a record not in the backup: %v", err)
	}

	// gzip-compressed backups are read as they are.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(buf.Bytes())
	zw.Close()
	if st, err := VerifyBackup(&gz, testRead); err != nil || st.Records != 3 {
		t.Fatalf("gzip backup: %+v %v", st, err)
	}
}

func TestRestoreRefusesForeignDamagedOrOtherPrefix(t *testing.T) {
	ctx := context.Background()
	src, _ := openTemp(t)
	mustSetB(t, src, "user:a", "A", 0)
	mustSetB(t, src, "user:b", "B", 0)
	var buf bytes.Buffer
	if _, err := src.Backup(ctx, &buf, testSiteKey); err != nil {
		t.Fatal(err)
	}
	full := buf.String()
	lines := strings.SplitAfter(full, "\n")
	cases := map[string]struct {
		in   string
		want error
	}{
		"foreign":   {"name,password\nalice,x\n", ErrNotBackup},
		"empty":     {"", ErrNotBackup},
		"format 9":  {strings.Replace(full, `"format":2`, `"format":9`, 1), ErrNotBackup},
		"truncated": {strings.Join(lines[:len(lines)-2], ""), nil},
		"miscount":  {strings.Join(append(lines[:2:2], lines[3:]...), ""), nil},
		"other app": {strings.Replace(full, `"app":"soulbridge"`, `"app":"other"`, 1), ErrNotBackup},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dst, _ := openTemp(t)
			_, err := restoreFrom(t, dst, strings.NewReader(c.in), RestoreOptions{})
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("restore: %v, want an error (%v)", err, c.want)
			}
			if n, _ := dst.Records(ctx); n != 0 {
				t.Fatalf("a refused restore left %d records", n)
			}
		})
	}
	other, err := Open(ctx, Options{InMemory: true, Prefix: "other:"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := restoreFrom(t, other, strings.NewReader(full), RestoreOptions{}); !errors.Is(err, ErrNotBackup) || !strings.Contains(err.Error(), "SESSION_KEY_PREFIX") {
		t.Fatalf("restore under another prefix: %v", err)
	}
}

func restoreFrom(t testing.TB, b *Badger, r io.Reader, opts RestoreOptions) (BackupStats, error) {
	br, err := OpenBackup(r, testRead)
	if err != nil {
		return BackupStats{}, err
	}
	return b.Restore(context.Background(), br, opts)
}

func mustSetB(t *testing.T, b *Badger, key, val string, ttl time.Duration) {
	t.Helper()
	if err := b.Set(context.Background(), key, []byte(val), ttl); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkBackup100kSessions measures a backup and a restore of a store
// holding 100,000 session records of the size the site writes (run with
// go test ./kv -run '^$' -bench Backup100k -benchtime 1x).
func BenchmarkBackup100kSessions(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	src, err := Open(ctx, Options{Dir: filepath.Join(dir, "src"), Prefix: "soulbridge:"})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	const n = 100_000
	ops := make([]localOp, 0, restoreBatch)
	now := time.Now()
	for i := range n {
		// Realistic entropy: a random-looking key, times and addresses
		// that differ per session.
		id := sha256.Sum256([]byte(fmt.Sprint(i)))
		seen := now.Add(-time.Duration(i) * 1237 * time.Millisecond)
		val := fmt.Sprintf(`{"username":"user%06d","created_at":%q,"last_seen":%q,"expires_at":%q,"user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36","ip":"203.0.%d.%d","updated_at":%q}`,
			i%20000, seen.Add(-time.Hour).Format(time.RFC3339Nano), seen.Format(time.RFC3339Nano), seen.Add(2160*time.Hour).Format(time.RFC3339Nano), id[0], id[1], seen.Format(time.RFC3339Nano))
		key := "session:" + hex.EncodeToString(id[:])
		ops = append(ops, localOp{key: key, stored: src.stamp([]byte(val), 720*time.Hour), ttl: 720 * time.Hour})
		if len(ops) == cap(ops) {
			if _, err := src.apply(ctx, ops); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	if _, err := src.apply(ctx, ops); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		path := filepath.Join(dir, fmt.Sprintf("backup-%d", i))
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		st, err := src.Backup(ctx, f, testSiteKey)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		took := time.Since(start)
		fi, _ := os.Stat(path)
		dst, err := Open(ctx, Options{Dir: filepath.Join(dir, fmt.Sprintf("dst-%d", i)), Prefix: "soulbridge:"})
		if err != nil {
			b.Fatal(err)
		}
		in, _ := os.Open(path)
		start = time.Now()
		rst, err := restoreFrom(b, dst, in, RestoreOptions{})
		if err != nil {
			b.Fatal(err)
		}
		restoreTook := time.Since(start)
		in.Close()
		dst.Close()
		if st.Records != n || rst.Records != n {
			b.Fatalf("records: backup %d, restore %d, want %d", st.Records, rst.Records, n)
		}
		b.ReportMetric(float64(fi.Size())/1e6, "MB")
		b.ReportMetric(gzipSize(b, path)/1e6, "gzip-MB")
		b.ReportMetric(took.Seconds(), "backup-s")
		b.ReportMetric(restoreTook.Seconds(), "restore-s")
	}
}

// gzipSize is the size of the file at path compressed with gzip's default level.
func gzipSize(t testing.TB, path string) float64 {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n countWriter
	zw := gzip.NewWriter(&n)
	if _, err := io.Copy(zw, f); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return float64(n)
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }
