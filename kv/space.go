package kv

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The full-volume guard. Badger writes its memtable log, its tables and its
// value log through mmap; on a full filesystem the kernel cannot back a new
// page and sends SIGBUS, which Go cannot turn into an error (Badger issues
// #1682, #1801). So every local write first asks the guard, which keeps the
// space Badger may allocate next free, and refuses with ErrFull when it is
// not. docs/architecture.md ("Full volume") explains the sizes.

const (
	// memTableSize is Badger's memtable size. Its log file is preallocated
	// (sparse) at twice this and filled as writes arrive; a full memtable is
	// flushed to a table of at most about this size.
	memTableSize = 4 << 20
	// legacyMemTableSize is what releases before the guard used; a memtable
	// log they left behind (after a crash) is replayed with it.
	legacyMemTableSize = 8 << 20
	// spaceSlack covers the small mmap'd and appended files (a value-log
	// header, the discard file, the manifest, the key registry).
	spaceSlack = 1 << 20
	// spaceRefreshEvery is how long one free-space measure is trusted.
	spaceRefreshEvery = time.Second
	// reserveFileName is the preallocated file the guard keeps in the data
	// dir: released when the volume fills (so deletes, Badger's flush and a
	// start-up still have room), recreated when space is back.
	reserveFileName = "soulbridge-space.reserve"
	// lowSpaceFraction: below this share of the volume free, warn once.
	lowSpaceFraction = 0.20
)

// statFunc returns the bytes an unprivileged process may still allocate on
// dir's filesystem and the filesystem's size.
type statFunc func(dir string) (free, total uint64, err error)

func statFS(dir string) (free, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}

// DiskStatus is the guard's view of the data volume, for /readyz.
type DiskStatus struct {
	Free, Total uint64
	// ReadOnly is true while ordinary writes are refused (ErrFull).
	ReadOnly bool
	// Reason says why, for operators; empty when writes are accepted.
	Reason string
}

// spaceGuard decides whether a local write may go ahead. It measures free
// space with statfs at most once per spaceRefreshEvery (and again after
// each refusal), so a write costs a mutex and a time comparison.
type spaceGuard struct {
	dir     string
	stat    statFunc
	log     *slog.Logger
	now     func() time.Time
	memSize int64 // Badger's memtable size in use

	mu          sync.Mutex
	checked     time.Time
	free, total uint64
	statErr     error
	tables      int64           // bytes of Badger's tables at the last measure
	held        bool            // the reserve file is in place (or noReserve)
	noReserve   bool            // the reserve file cannot be made here: go on without
	heldSize    int64           // its size
	allocated   map[string]bool // memtable logs whose blocks are allocated
	lowLogged   bool
	// readOnlyOpen: the volume was too full to open Badger read-write, so
	// it was opened read-only: every write is refused, and writable is
	// closed once the volume has room for a read-write open and the
	// reserve. The process then exits (serve.go) and the platform restarts
	// it read-write: reopening in place would mean swapping the Badger
	// handle under every reader and the mirror, for a case the reserve file
	// already makes rare.
	readOnlyOpen bool
	writable     chan struct{}
	fullLogged   bool
	errLogged    bool
}

func newSpaceGuard(dir string, stat statFunc, memSize int64, log *slog.Logger) *spaceGuard {
	if stat == nil {
		stat = statFS
	}
	g := &spaceGuard{dir: dir, stat: stat, log: log, now: time.Now, memSize: memSize, allocated: map[string]bool{}}
	if fi, err := os.Stat(g.reservePath()); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
		g.held, g.heldSize = true, fi.Size()
	}
	return g
}

func (g *spaceGuard) reservePath() string { return filepath.Join(g.dir, reserveFileName) }

// tablesSize is the bytes of Badger's tables: a compaction may rewrite all
// of them before it deletes the old ones.
func (g *spaceGuard) tablesSize() int64 {
	entries, err := os.ReadDir(g.dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".sst") {
			continue
		}
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// deleteReserve is what Badger may allocate after the last accepted write:
// the rest of the current memtable log (up to one memtable), the table a
// flush writes (up to one memtable), a compaction's rewrite of every table,
// and the small files. Deletes (log-out, revocation) are refused below it.
func (g *spaceGuard) deleteReserve() uint64 {
	return uint64(2*g.memSize + g.tables + spaceSlack)
}

// writeReserve is where ordinary writes stop: one memtable above the delete
// reserve, so log-out keeps working after sign-ups and avatar changes are
// refused.
func (g *spaceGuard) writeReserve() uint64 { return g.deleteReserve() + uint64(g.memSize) }

// reserveFileSize is the size the reserve file is created with: enough for
// the delete reserve when something else has taken every other byte.
func (g *spaceGuard) reserveFileSize() int64 { return int64(g.deleteReserve()) + g.memSize }

// allow returns nil if a write may go ahead, or an error matching ErrFull.
// del marks a delete (or tombstone), which needs only the delete reserve.
// A nil guard (in-memory store) allows everything.
func (g *spaceGuard) allow(del bool) error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refreshLocked(false)
	if g.readOnlyOpen {
		return fmt.Errorf("kv: %s: the store was opened read-only on a full volume: %w", g.dir, ErrFull)
	}
	if g.statErr != nil {
		// Cannot measure: do not refuse on a guess (logged once).
		return nil
	}
	need := g.writeReserve()
	if del {
		need = g.deleteReserve()
	}
	if g.free >= need && (del || g.held) {
		return nil
	}
	g.checked = time.Time{} // measure again on the next write
	if !del && !g.held && g.free >= need {
		return fmt.Errorf("kv: %s: the space reserve is not restored yet (%d bytes free, %d needed to resume writes): %w",
			g.dir, g.free, need+uint64(g.reserveFileSize()), ErrFull)
	}
	return fmt.Errorf("kv: %s: %d bytes free, %d needed: %w", g.dir, g.free, need, ErrFull)
}

// poll measures now (the background tick), releasing or restoring the
// reserve file as needed.
func (g *spaceGuard) poll() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refreshLocked(true)
	if !g.readOnlyOpen {
		g.allocateLogsLocked()
	}
}

// allocateLogsLocked allocates the blocks of every memtable log Badger
// created since the last call. Badger creates a log sparse, at twice the
// memtable size, and fills it through mmap: once its blocks are allocated,
// a write that passed the guard cannot fault on a page the filesystem has
// no room for, even when something else fills the volume between two
// measures. (FALLOC_FL_KEEP_SIZE: the size and the data stay as they are.)
func (g *spaceGuard) allocateLogsLocked() {
	entries, err := os.ReadDir(g.dir)
	if err != nil {
		return
	}
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".mem") {
			continue
		}
		seen[name] = true
		if g.allocated[name] {
			continue
		}
		if err := allocateFile(filepath.Join(g.dir, name)); err != nil {
			if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EOPNOTSUPP) {
				g.log.Warn("cannot allocate a memtable log", "file", name, "err", err)
			}
			continue
		}
		g.allocated[name] = true
		g.measureLocked() // the allocation took space
	}
	for name := range g.allocated {
		if !seen[name] {
			delete(g.allocated, name)
		}
	}
}

const fallocKeepSize = 0x01 // FALLOC_FL_KEEP_SIZE

func allocateFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return syscall.Fallocate(int(f.Fd()), fallocKeepSize, 0, fi.Size())
}

// status reports the volume as the guard last saw it.
func (g *spaceGuard) status() DiskStatus {
	if g == nil {
		return DiskStatus{}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refreshLocked(false)
	st := DiskStatus{Free: g.free, Total: g.total}
	switch {
	case g.readOnlyOpen:
		st.ReadOnly = true
		st.Reason = fmt.Sprintf("the data volume was too full to open the store for writing (%d bytes free); it restarts read-write once %d bytes are free", g.free, g.writeReserve()+uint64(g.reserveFileSize()))
	case g.statErr != nil:
	case g.free < g.writeReserve():
		st.ReadOnly = true
		st.Reason = fmt.Sprintf("the data volume is full: %d bytes free, %d needed to save changes; grow the volume or delete what else is on it", g.free, g.writeReserve())
	case !g.held:
		st.ReadOnly = true
		st.Reason = fmt.Sprintf("the data volume was full: writes resume once %d bytes are free (the space reserve is restored)", g.writeReserve()+uint64(g.reserveFileSize()))
	}
	return st
}

// refreshLocked re-measures when the last measure is older than
// spaceRefreshEvery (or always, with force), then releases the reserve file
// when free space fell under the delete reserve, restores it when there is
// room for it and the write reserve again, and logs the transitions once.
func (g *spaceGuard) refreshLocked(force bool) {
	now := g.now()
	if !force && !g.checked.IsZero() && now.Sub(g.checked) < spaceRefreshEvery {
		return
	}
	g.measureLocked()
	g.checked = now
	if g.statErr != nil {
		return
	}
	wr := g.writeReserve()
	if g.readOnlyOpen {
		if g.free >= wr+uint64(g.reserveFileSize()) {
			select {
			case <-g.writable:
			default:
				g.log.Info("data volume has room again: the store must be reopened for writing", "dir", g.dir, "free_bytes", g.free)
				close(g.writable)
			}
		}
		g.logLocked()
		return
	}
	// Released only when even deletes would be refused: a program still
	// filling the volume would take it too if it went earlier; one that
	// stopped at "no space left" leaves it to the store.
	if g.held && !g.noReserve && g.free < g.deleteReserve() {
		if err := os.Remove(g.reservePath()); err != nil && !errors.Is(err, os.ErrNotExist) {
			g.log.Error("cannot release the space reserve", "path", g.reservePath(), "err", err)
		} else {
			g.held = false
			g.log.Warn("data volume nearly full: released the space reserve so log-out and the store's own upkeep keep working",
				"dir", g.dir, "released_bytes", g.heldSize)
			g.measureLocked()
		}
	}
	if !g.held && g.free >= wr+uint64(g.reserveFileSize()) {
		size := g.reserveFileSize()
		err := createReserve(g.reservePath(), size)
		switch {
		case err != nil && !errors.Is(err, syscall.ENOSPC):
			// Writes go on without a reserve file; only a start on a full
			// volume then has less room.
			g.held, g.heldSize, g.noReserve = true, 0, true
			g.log.Warn("cannot create the space reserve; going on without it", "path", g.reservePath(), "err", err)
		case err != nil:
			g.log.Warn("cannot create the space reserve", "path", g.reservePath(), "err", err)
		default:
			g.held, g.heldSize = true, size
			g.measureLocked()
			if g.fullLogged {
				g.log.Info("data volume has room again: writes resume", "dir", g.dir, "free_bytes", g.free, "total_bytes", g.total)
			}
			g.fullLogged = false
		}
	}
	g.logLocked()
}

func (g *spaceGuard) measureLocked() {
	g.free, g.total, g.statErr = g.stat(g.dir)
	g.tables = g.tablesSize()
	if g.statErr != nil && !g.errLogged {
		g.log.Warn("cannot measure free space on the data volume; writes are not guarded", "dir", g.dir, "err", g.statErr)
		g.errLogged = true
	}
}

const fixFull = "grow the volume (Railway: the service's volume settings) or delete what else is stored on it"

func (g *spaceGuard) logLocked() {
	if g.total == 0 {
		return
	}
	low := float64(g.free) < lowSpaceFraction*float64(g.total)
	switch {
	case low && !g.lowLogged:
		g.log.Warn("data volume is running out of space", "dir", g.dir, "free_bytes", g.free, "total_bytes", g.total, "fix", fixFull)
		g.lowLogged = true
	case !low:
		g.lowLogged = false
	}
	if (g.free < g.writeReserve() || !g.held || g.readOnlyOpen) && !g.fullLogged {
		g.log.Error("data volume is full: changes are refused (507) until space is freed; reads, sessions and log-out keep working",
			"dir", g.dir, "free_bytes", g.free, "total_bytes", g.total, "needed_bytes", g.writeReserve(), "fix", fixFull)
		g.fullLogged = true
	}
}

// createReserve writes a file of size bytes with its blocks allocated
// (fallocate, or zeros where that is not supported) and synced, so deleting
// it really gives the space back.
func createReserve(path string, size int64) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	err = syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		err = writeZeros(f, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func writeZeros(w io.Writer, size int64) error {
	buf := make([]byte, 1<<20)
	for size > 0 {
		n := min(size, int64(len(buf)))
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		size -= n
	}
	return nil
}

// openable measures the volume before Badger opens (releasing the reserve
// file if the volume is full) and returns an error matching ErrFull when
// even then there is not the room a read-write open may take: replaying and
// flushing the memtables a crash left, and a new memtable log.
func (g *spaceGuard) openable() error {
	g.poll()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.statErr != nil || g.free >= g.deleteReserve() {
		return nil
	}
	return fmt.Errorf("kv: %s: %d of %d bytes free, %d needed to open the store safely (%s): %w",
		g.dir, g.free, g.total, g.deleteReserve(), fixFull, ErrFull)
}

// memTableSizeFor returns the memtable size to open dir with: the legacy
// size while a memtable log written with it is still there (a crash left
// it; replaying it into a smaller memtable would overflow), else
// memTableSize.
func memTableSizeFor(dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return memTableSize
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".mem") {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Size() > 2*memTableSize {
			return legacyMemTableSize
		}
	}
	return memTableSize
}

// deletesOnly reports whether ops only delete (removals, tombstones and the
// outbox entries that carry them): such a batch needs only the delete
// reserve.
func deletesOnly(ops []localOp) bool {
	for _, op := range ops {
		if op.remove {
			continue
		}
		stored := op.stored
		if strings.HasPrefix(op.key, outboxPrefix) {
			_, s, ok := parseOutboxEntry(stored)
			if !ok {
				return false
			}
			stored = s
		}
		if !decodeRecord(stored).deleted {
			return false
		}
	}
	return true
}

// DiskStatus reports the data volume's free space and whether writes are
// refused (for /readyz). An in-memory store reports zeros.
func (b *Badger) DiskStatus() DiskStatus { return b.space.status() }

// Writable returns a channel closed once a store that was opened read-only
// on a full volume could be opened for writing (the process should then
// restart); nil, which never fires, for a store opened read-write.
func (b *Badger) Writable() <-chan struct{} {
	if b.space == nil || !b.space.readOnlyOpen {
		return nil
	}
	return b.space.writable
}

// closable returns an error matching ErrFull when Badger's Close could
// fault: it flushes a non-empty memtable to a table of up to one memtable
// through mmap. A read-only store writes nothing on Close.
func (g *spaceGuard) closable() error {
	if g == nil || g.readOnlyOpen {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.measureLocked()
	need := uint64(g.memSize + spaceSlack)
	if g.statErr != nil || g.free >= need {
		return nil
	}
	return fmt.Errorf("kv: %s: %d bytes free, %d needed to flush on close (%s): %w", g.dir, g.free, need, fixFull, ErrFull)
}
