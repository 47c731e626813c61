package kv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDiskUseLevelsOffUnderChurn creates and ends many session-sized
// records on a real on-disk store, round after round, and checks that the
// data dir gives the space back after the store's reclaim step (value-log GC
// and compaction) instead of growing with every record ever created.
func TestDiskUseLevelsOffUnderChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 50,000 synced records: skipped by -short")
	}
	const (
		rounds   = 5
		perRound = 10_000
		valSize  = 400
		batch    = 100
		ttl      = 1500 * time.Millisecond
	)
	dir := t.TempDir()
	ctx := context.Background()
	b, err := Open(ctx, Options{Dir: dir, Prefix: "soulbridge:"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	val := []byte(strings.Repeat("s", valSize))

	var written int64
	var first, last dirUse
	for round := range rounds {
		// Sessions of one round: half expire (TTL), half are logged out
		// (deleted). Written through apply, the store's batched synced
		// write (the mirror's), 100 records a transaction, so that 50,000
		// records take seconds, not minutes of one fsync each.
		for i := 0; i < perRound; i += batch {
			sets := make([]localOp, 0, batch)
			dels := make([]localOp, 0, batch/2)
			for j := range batch {
				k := "session:" + randHex(64)
				sets = append(sets, localOp{key: k, stored: b.stamp(val, ttl), ttl: ttl})
				if j%2 == 0 {
					dels = append(dels, localOp{key: k, remove: true})
				}
			}
			if _, err := b.apply(ctx, sets); err != nil {
				t.Fatal(err)
			}
			if _, err := b.apply(ctx, dels); err != nil {
				t.Fatal(err)
			}
		}
		written += perRound * int64(len("soulbridge:session:")+64+headerLen+valSize)
		grown := measure(t, dir)
		time.Sleep(ttl) // every session of the round has now ended
		b.reclaim()
		u := measure(t, dir)
		t.Logf("round %d: %d records created so far (%.1f MB of keys and values); data dir %s after the writes, %s after reclaim",
			round+1, (round+1)*perRound, mb(written), grown, u)
		if round == 0 {
			first = u
		}
		last = u
	}
	// Level off: after five rounds the tables and value log hold no more
	// than after one (plus one table's worth of slack), far below what was
	// ever written; the whole dir stays within the memtable WALs and
	// Badger's fixed files plus those tables.
	if last.data > first.data+2<<20 {
		t.Errorf("tables and value log grew from %s to %s over %d rounds", first, last, rounds)
	}
	if last.data > written/10 {
		t.Errorf("tables and value log hold %.1f MB after reclaim, over a tenth of the %.1f MB ever written", mb(last.data), mb(written))
	}
	if last.total > 40<<20 {
		t.Errorf("data dir uses %.1f MB after reclaim, want under 40 MB", mb(last.total))
	}
}

// dirUse is the disk space (allocated blocks, as du counts them) a data dir
// uses: in all, and in its tables and value log.
// apparent is the files' sizes (ls -l), far above: the memtable WAL and the
// value log are sparse files mapped at their full size.
type dirUse struct{ total, data, apparent int64 }

func (u dirUse) String() string {
	return fmt.Sprintf("%.1f MB (tables and value log %.1f MB; apparent size %.0f MB)", mb(u.total), mb(u.data), mb(u.apparent))
}

func measure(t *testing.T, dir string) dirUse {
	t.Helper()
	var u dirUse
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed by compaction meanwhile
		}
		n := fi.Sys().(*syscall.Stat_t).Blocks * 512
		u.total += n
		u.apparent += fi.Size()
		if strings.HasSuffix(path, ".sst") || strings.HasSuffix(path, ".vlog") {
			u.data += n
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }

func randHex(n int) string {
	b := make([]byte, n/2)
	rand.Read(b)
	return hex.EncodeToString(b)
}
