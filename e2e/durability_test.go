package e2e

// What is on disk: acknowledged writes survive SIGKILL, and reads write
// nothing.

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// crashWriter is one user's avatar writer in the crash test.
type crashWriter struct {
	name   string
	cookie string
	// settled is what the store must hold at the start of a round.
	settled string

	mu       sync.Mutex
	acked    string // last id answered 200 in this round ("" if none)
	inflight string // id of the request without an answer ("" if none)
	acks     int
}

// TestCrashDurability: avatar writes acknowledged before a SIGKILL are all
// there after the restart; the one write in flight per user may or may not be.
func TestCrashDurability(t *testing.T) {
	root := testbin.Root(t)
	data := filepath.Join(root, "data")
	key := testbin.Key(t)
	c := testbin.Client(t)

	p := testbin.Start(t, "crash-boot0", testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": key}))
	ids := testbin.Catalogue(t, c, p.Base())
	var writers []*crashWriter
	for i := range 4 {
		name := fmt.Sprintf("crash%d", i)
		writers = append(writers, &crashWriter{name: name, cookie: testbin.Signup(t, c, p.Base(), name, "staple battery "+strings.ToUpper(name[:1])), settled: "default"})
	}

	const rounds = 3
	total := 0
	for round := 1; round <= rounds; round++ {
		var stop atomic.Bool
		var wg sync.WaitGroup
		for wi, w := range writers {
			w.acked, w.inflight, w.acks = "", "", 0
			wg.Go(func() {
				for n := wi; !stop.Load(); n++ {
					id := ids[n%len(ids)]
					w.mu.Lock()
					w.inflight = id
					w.mu.Unlock()
					r, err := testbin.PutAvatar(c, p.Base(), w.cookie, id)
					if err != nil {
						// The process died with this request unanswered:
						// its outcome is unknown.
						return
					}
					if r.Status != http.StatusOK {
						t.Errorf("round %d %s: PUT %s: status %d body %s", round, w.name, id, r.Status, r.Body)
						w.mu.Lock()
						w.inflight = ""
						w.mu.Unlock()
						return
					}
					w.mu.Lock()
					w.acked, w.inflight = id, ""
					w.acks++
					w.mu.Unlock()
				}
			})
		}
		delay := time.Duration(200+mrand.IntN(1300)) * time.Millisecond
		time.Sleep(delay) // the random kill time, not an assertion
		p.Kill()
		stop.Store(true)
		wg.Wait()

		roundAcks := 0
		for _, w := range writers {
			roundAcks += w.acks
		}
		total += roundAcks
		t.Logf("round %d: SIGKILL after %s; %d writes acknowledged", round, delay, roundAcks)
		if roundAcks == 0 {
			t.Errorf("round %d: no write was acknowledged before the kill", round)
		}

		p = testbin.Start(t, fmt.Sprintf("crash-boot%d", round), testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": key}))
		for _, w := range writers {
			want := w.settled
			if w.acked != "" {
				want = w.acked
			}
			a, _ := testbin.GetAvatar(t, c, p.Base(), w.cookie)
			switch {
			case a.Avatar == want:
			case w.inflight != "" && a.Avatar == w.inflight:
			default:
				t.Fatalf("round %d %s: avatar after the crash is %q; want the last acknowledged %q or the in-flight %q",
					round, w.name, a.Avatar, want, w.inflight)
			}
			w.settled = a.Avatar
		}
	}
	p.Stop()
	t.Logf("%d writes acknowledged over %d crashes", total, rounds)
}

// fileState is what TestReadsDoNotWrite records of one file.
type fileState struct {
	size  int64
	mtime time.Time
	sum   [sha256.Size]byte
}

// dataFiles records every regular file under dataDir but the key file
// (written once at first boot, and not the store's), by path relative to
// dataDir.
func dataFiles(t *testing.T, dataDir string) map[string]fileState {
	t.Helper()
	files := map[string]fileState{}
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() || (filepath.Dir(path) == dataDir && d.Name() == keyFile) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dataDir, path)
		st := fileState{size: fi.Size(), mtime: fi.ModTime()}
		h.Sum(st.sum[:0])
		files[rel] = st
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestReadsDoNotWrite: reads, with a session, write nothing to the data dir.
// A signed-in member sets an avatar; then 50 rounds of GET /community,
// /community/avatar, /community/avatars and /readyz with the session cookie
// must leave every store file as it was. The session's idle-lifetime touch
// writes at most once per 5 minutes and the session is seconds old, and
// value-log GC runs every 10 minutes, so no write of any kind is due within
// the test.
//
// Every file is compared by size, modification time and a SHA-256 of its
// content. Size and mtime alone are not enough: Badger writes its memtable
// log (*.mem) and value log (*.vlog) through mmap into files preallocated to
// their full size, so a write never grows them, and the kernel updates the
// mtime of an mmapped file only when a clean page is first written to. The
// content hash sees any write; with nothing due, Badger's background
// goroutines (compaction, GC) leave the files alone, so the hash does not
// flake.
func TestReadsDoNotWrite(t *testing.T) {
	data := filepath.Join(testbin.Root(t), "data")
	c := testbin.Client(t)
	p := testbin.Start(t, "reads", testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": testbin.Key(t)}))
	cookie := testbin.Signup(t, c, p.Base(), "reader", "staple battery horse")
	if r, err := testbin.PutAvatar(c, p.Base(), cookie, "owl"); err != nil || r.Status != http.StatusOK {
		t.Fatalf("PUT /community/avatar owl: %v status %d body %s", err, r.Status, r.Body)
	}

	before := dataFiles(t, data)
	if len(before) == 0 {
		t.Fatalf("no store files in %s", data)
	}
	paths := []string{"/community", "/community/avatar", "/community/avatars", "/readyz"}
	for range 50 {
		for _, path := range paths {
			if r := testbin.Must(t, c, http.MethodGet, p.Base()+path, cookie, "", nil); r.Status != http.StatusOK {
				t.Fatalf("GET %s: status %d, want 200; body %s", path, r.Status, r.Body)
			}
		}
	}
	after := dataFiles(t, data)

	var changed []string
	for name, a := range after {
		b, ok := before[name]
		if !ok {
			changed = append(changed, fmt.Sprintf("%s: created (%d bytes)", name, a.size))
			continue
		}
		var how []string
		if a.size != b.size {
			how = append(how, fmt.Sprintf("size %d -> %d bytes", b.size, a.size))
		}
		if !a.mtime.Equal(b.mtime) {
			how = append(how, fmt.Sprintf("modified at %s (was %s)", a.mtime.Format(time.RFC3339Nano), b.mtime.Format(time.RFC3339Nano)))
		}
		if a.sum != b.sum {
			how = append(how, "content changed")
		}
		if len(how) > 0 {
			changed = append(changed, name+": "+strings.Join(how, "; "))
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			changed = append(changed, name+": removed")
		}
	}
	if len(changed) > 0 {
		slices.Sort(changed)
		t.Errorf("%d GETs changed the data dir:\n%s", 50*len(paths), strings.Join(changed, "\n"))
	} else {
		t.Logf("%d GETs; the %d store files are unchanged", 50*len(paths), len(before))
	}
	p.Stop()
}
