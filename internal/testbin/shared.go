package testbin

// How test processes share a build (issue 18: `go test ./...` runs each
// package as its own process, two or more at a time, and a build of the
// binary per package, all at once, outlasted the old 3-minute limit on a
// busy machine).
//
// Builds live in the cache directory, $TMPDIR/soulbridge-testbins-<uid>
// (mode 0755: a test may run the binary as uid 65532), each as <key>/<name>,
// where <key> names the source, tags, flags and toolchain (buildkey.go).
// Two lock files (flock) go with each:
//
//   - <key>.lock: every process using the build holds it shared, from before
//     it looks for the build until it exits; a clean-up takes it exclusively
//     (without waiting), so a build in use, or being made, is never removed.
//   - <key>.build: a process that does not find <key>/ takes it exclusively,
//     waiting as long as it takes (saying so on stderr every 30 s), looks
//     again, and if still needed builds into tmp-<key>-*/ and renames that
//     to <key>/, so <key>/ only ever exists complete. A build that fails
//     leaves nothing: the next process tries again.
//   - builds.lock, held while go build runs, lets one build run at a time
//     per machine: two at once on 2 busy cores each take more than twice as
//     long, and a later build of other tags reuses the first's packages
//     from the build cache.
//
// Each use touches <key>/ (its last use). Clean-up: each process, once it
// has its build, removes every build no process holds that was last used
// more than keepUnused ago, with its lock files. Packages of one `go test
// ./...` run touch the build as they start, so none is removed between two
// packages, and a later run of the same source reuses it. A lock file is
// only removed by its exclusive holder, and a process that has locked one
// checks that the name still leads to it (else it locks the new file): the
// usual way to remove lock files safely.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// keepUnused is how long a build nobody holds is kept after its last use.
const keepUnused = time.Hour

// progressEvery is how often a process waiting for a build says so.
const progressEvery = 30 * time.Second

// sharedBuild says what to build and under which key.
type sharedBuild struct {
	key  string   // the cache entry's name (buildkey.go)
	name string   // the binary's file name
	dir  string   // where go build runs, unless prepare is set
	args []string // go build's arguments, without -o and the package
	// prepare, if set, writes the source into an empty directory, where go
	// build then runs (a revision from git history).
	prepare func(src string) error
}

// buildSet is this process's builds, each asked for once.
type buildSet struct {
	mu    sync.Mutex
	byID  map[string]*buildResult
	held  []*os.File // shared locks on the builds in use, until exit
	swept bool
}

type buildResult struct {
	once sync.Once
	path string
	err  error
}

var builds buildSet

// get returns the path of the build id names, made or found once per
// process; describe says what to build (it may run go list, so it runs
// only on the first call). t's deadline (go test -timeout) is only used to
// say, before it ends, that a build was still running.
func (s *buildSet) get(t testing.TB, id string, describe func() (sharedBuild, error)) (string, error) {
	s.mu.Lock()
	if s.byID == nil {
		s.byID = map[string]*buildResult{}
	}
	r := s.byID[id]
	if r == nil {
		r = &buildResult{}
		s.byID[id] = r
	}
	s.mu.Unlock()
	r.once.Do(func() {
		spec, err := describe()
		if err == nil {
			r.path, r.err = s.acquire(spec, deadlineOf(t))
		} else {
			r.err = err
		}
	})
	return r.path, r.err
}

// deadlineOf is t's deadline (zero without one).
func deadlineOf(t testing.TB) time.Time {
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if when, ok := d.Deadline(); ok {
			return when
		}
	}
	return time.Time{}
}

// acquire finds or makes spec's build in the cache directory and holds a
// shared lock on it until the process exits.
func (s *buildSet) acquire(spec sharedBuild, deadline time.Time) (string, error) {
	dir, err := cacheDir()
	if err != nil {
		return "", err
	}
	use, err := lockFile(filepath.Join(dir, spec.key+".lock"), syscall.LOCK_SH, "a clean-up of "+spec.key, deadline)
	if err != nil {
		return "", err
	}
	bin, err := findOrBuild(dir, spec, deadline)
	if err != nil {
		use.Close()
		return "", err
	}
	s.mu.Lock()
	s.held = append(s.held, use)
	sweep := !s.swept
	s.swept = true
	s.mu.Unlock()
	if sweep {
		sweepCache(dir)
	}
	return bin, nil
}

// findOrBuild returns the path of spec's build in dir, building it under
// <key>.build (exclusive) if it is not there yet, and marks its use now.
// The caller holds <key>.lock (shared), so no clean-up removes it.
func findOrBuild(dir string, spec sharedBuild, deadline time.Time) (string, error) {
	entry := filepath.Join(dir, spec.key)
	bin := filepath.Join(entry, spec.name)
	if _, err := os.Stat(bin); err != nil {
		b, err := lockFile(filepath.Join(dir, spec.key+".build"), syscall.LOCK_EX, "another test process's build "+spec.key, deadline)
		if err != nil {
			return "", err
		}
		defer b.Close()
		if _, err := os.Stat(bin); err != nil {
			sayBuilder(b)
			if err := buildEntry(dir, spec, deadline); err != nil {
				return "", err
			}
		}
	}
	now := time.Now()
	return bin, os.Chtimes(entry, now, now)
}

// cacheDir makes (or checks) the directory of the shared builds: this
// uid's own, 0755, not a link (it is under the world-writable temp dir).
func cacheDir() (string, error) {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("soulbridge-testbins-%d", os.Getuid()))
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Getuid() {
		return "", fmt.Errorf("%s is not a directory of uid %d: remove it", dir, os.Getuid())
	}
	if fi.Mode().Perm() != 0o755 {
		return dir, os.Chmod(dir, 0o755)
	}
	return dir, nil
}

// lockFile opens path (creating it) and flocks it with how, waiting as long
// as it takes and saying every progressEvery on stderr that it waits for
// what. It returns once the lock is on the file path names now (a lock file
// removed meanwhile is locked again under its new inode).
func lockFile(path string, how int, what string, deadline time.Time) (*os.File, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		if err := flockWaiting(f, how, what, deadline); err != nil {
			f.Close()
			return nil, fmt.Errorf("flock %s: %w", path, err)
		}
		same, err := stillNamed(f, path)
		if same {
			return f, nil
		}
		f.Close()
		if err != nil {
			return nil, err
		}
	}
}

// flockWaiting flocks f, first without waiting, then waiting with progress.
func flockWaiting(f *os.File, how int, what string, deadline time.Time) error {
	fd := int(f.Fd())
	err := syscall.Flock(fd, how|syscall.LOCK_NB)
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		return err
	}
	holder, _ := os.ReadFile(f.Name())
	if len(holder) > 0 {
		what += " (" + strings.TrimSpace(string(holder)) + ")"
	}
	stop := reportProgress("waiting for "+what, deadline)
	defer stop()
	for {
		err := syscall.Flock(fd, how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// stillNamed reports whether path still names the file f has open.
func stillNamed(f *os.File, path string) (bool, error) {
	open, err := f.Stat()
	if err != nil {
		return false, err
	}
	named, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil && os.SameFile(open, named), err
}

// sayBuilder writes into the lock file f (held exclusively) who builds,
// for the messages of the processes waiting for it.
func sayBuilder(f *os.File) {
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "being built by pid %d since %s", os.Getpid(), time.Now().UTC().Format(time.TimeOnly+" UTC"))
	}
}

// reportProgress says on stderr, every progressEvery until stop is called,
// that the process is still doing what; and, shortly before deadline (go
// test -timeout) if there is one, that the deadline is about to stop it, so
// that a test binary killed by its -timeout in a build says why.
func reportProgress(what string, deadline time.Time) (stop func()) {
	start := time.Now()
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(progressEvery)
		defer tick.Stop()
		var warn <-chan time.Time
		if !deadline.IsZero() {
			timer := time.NewTimer(time.Until(deadline) - 10*time.Second)
			defer timer.Stop()
			warn = timer.C
		}
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				fmt.Fprintf(os.Stderr, "testbin: still %s after %s\n", what, since(start))
			case <-warn:
				fmt.Fprintf(os.Stderr, "testbin: go test's -timeout stops this test binary in 10s, while it is still %s (for %s); "+
					"builds have no time limit of their own: on a busy machine, give go test a longer -timeout\n", what, since(start))
			}
		}
	}()
	return func() { close(done) }
}

func since(start time.Time) time.Duration { return time.Since(start).Round(100 * time.Millisecond) }

// buildEntry builds spec into tmp-<key>-*/ in dir and renames that to
// <key>/. The caller holds <key>.lock exclusively.
func buildEntry(dir string, spec sharedBuild, deadline time.Time) error {
	tmp, err := os.MkdirTemp(dir, "tmp-"+spec.key+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // gone already once renamed
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	src := spec.dir
	if spec.prepare != nil {
		src = filepath.Join(tmp, "src")
		if err := os.Mkdir(src, 0o755); err != nil {
			return err
		}
		if err := spec.prepare(src); err != nil {
			return err
		}
	}
	bin := filepath.Join(tmp, spec.name)
	if err := buildOneAtATime(dir, src, spec.args, bin, deadline); err != nil {
		return err
	}
	if spec.prepare != nil {
		if err := os.RemoveAll(src); err != nil {
			return err
		}
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		return err
	}
	entry := filepath.Join(dir, spec.key)
	if err := os.RemoveAll(entry); err != nil { // an entry without its binary
		return err
	}
	return os.Rename(tmp, entry)
}

// buildOneAtATime runs goBuild holding dir's builds.lock.
func buildOneAtATime(dir, src string, args []string, bin string, deadline time.Time) error {
	g, err := lockFile(filepath.Join(dir, "builds.lock"), syscall.LOCK_EX, "another test process's build of another source or tags", deadline)
	if err != nil {
		return err
	}
	defer g.Close()
	return goBuild(src, args, bin, deadline)
}

// goBuild runs go build args -o bin . in dir, with no time limit of its
// own. A build that fails, or that something stops, returns an error
// saying which command, after how long, and what it printed.
func goBuild(dir string, args []string, bin string, deadline time.Time) error {
	full := append(slices.Clone(args), "-o", bin, ".")
	cmdline := "go " + quoteArgs(full)
	cmd := exec.Command("go", full...)
	cmd.Dir = dir
	cmd.Env = buildEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The build dies with the test process (go test's -timeout kills it)
	// instead of building on for nobody.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	stop := reportProgress("running `"+cmdline+"` in "+dir, deadline)
	err := runOnLockedThread(cmd)
	stop()
	if err == nil {
		return nil
	}
	printed := strings.TrimSpace(out.String())
	if printed == "" {
		printed = "(nothing)"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("`%s` in %s was stopped by signal %q after %s; testbin sets no time limit on builds, "+
				"so something else stopped it (the out-of-memory killer? a person?); it printed:\n%s",
				cmdline, dir, ws.Signal(), since(start), printed)
		}
	}
	return fmt.Errorf("`%s` in %s failed after %s (%v); it printed:\n%s", cmdline, dir, since(start), err, printed)
}

// runOnLockedThread runs cmd from a thread that stays alive until cmd ends:
// Pdeathsig fires when the thread that started the child exits, which a
// goroutine's thread otherwise may do.
func runOnLockedThread(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return cmd.Run()
}

// quoteArgs joins args for a message, quoting those with spaces.
func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t\"'") {
			a = fmt.Sprintf("%q", a)
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// sweepCache removes the builds nobody holds that were last used more than
// keepUnused ago, their lock files, and the leftovers of builds that
// stopped half-way.
func sweepCache(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if key, ok := strings.CutSuffix(e.Name(), ".lock"); ok && e.Name() != "builds.lock" {
			sweepEntry(dir, key)
		}
	}
	for _, e := range entries {
		sweepOrphan(dir, e)
	}
}

// sweepEntry removes key's half-done builds, and the build itself with its
// lock files if it is unused and old, unless a process holds it (a process
// building it holds <key>.lock too).
func sweepEntry(dir, key string) {
	lockPath := filepath.Join(dir, key+".lock")
	f, err := os.Open(lockPath)
	if err != nil {
		return
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return // in use or being built
	}
	if same, _ := stillNamed(f, lockPath); !same {
		return
	}
	halfDone, _ := filepath.Glob(filepath.Join(dir, "tmp-"+key+"-*"))
	for _, h := range halfDone {
		os.RemoveAll(h)
	}
	entry := filepath.Join(dir, key)
	if fi, err := os.Stat(entry); err == nil && time.Since(fi.ModTime()) < keepUnused {
		return
	}
	os.RemoveAll(entry)
	os.Remove(filepath.Join(dir, key+".build"))
	os.Remove(lockPath)
}

// sweepOrphan removes a half-done build directory whose lock file is gone
// and that is older than keepUnused.
func sweepOrphan(dir string, e fs.DirEntry) {
	rest, ok := strings.CutPrefix(e.Name(), "tmp-")
	if !ok {
		return
	}
	i := strings.LastIndex(rest, "-")
	if i < 0 {
		return
	}
	if _, err := os.Stat(filepath.Join(dir, rest[:i]+".lock")); err == nil {
		return
	}
	if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > keepUnused {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
