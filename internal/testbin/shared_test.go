package testbin

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeGo puts on PATH a go command that, for go build, appends a line to
// the file it returns, runs script (sh), and writes an executable to the
// -o path; and points the cache directory into a fresh temp dir.
func fakeGo(t *testing.T, script string) (count string) {
	t.Helper()
	bin := t.TempDir()
	count = filepath.Join(t.TempDir(), "builds")
	fake := `#!/bin/sh
echo build >> "$FAKE_GO_COUNT"
` + script + `
while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done
printf '#!/bin/sh\necho hello\n' > "$out"
`
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_GO_COUNT", count)
	t.Setenv("TMPDIR", t.TempDir())
	return count
}

func buildCount(t *testing.T, count string) int {
	t.Helper()
	b, err := os.ReadFile(count)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "build\n")
}

func fakeSpec(t *testing.T) sharedBuild {
	return sharedBuild{key: "main-test", name: "soulbridge", dir: t.TempDir(), args: []string{"build"}}
}

// TestSharedBuildRunsOnce: processes asking at once for the same build
// (each buildSet stands for a process: its own lock files, so flock sees
// them as strangers) get one build, and a later one finds it.
func TestSharedBuildRunsOnce(t *testing.T) {
	count := fakeGo(t, "sleep 0.5")
	spec := fakeSpec(t)
	sets := make([]buildSet, 4)
	paths := make([]string, len(sets))
	var wg sync.WaitGroup
	for i := range sets {
		wg.Go(func() {
			var err error
			paths[i], err = sets[i].get(t, "x", func() (sharedBuild, error) { return spec, nil })
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := buildCount(t, count); n != 1 {
		t.Fatalf("%d builds for %d processes at once, want 1", n, len(sets))
	}
	for _, p := range paths {
		if p != paths[0] || p == "" {
			t.Fatalf("paths %q, want one", paths)
		}
	}
	var later buildSet
	if p, err := later.get(t, "x", func() (sharedBuild, error) { return spec, nil }); err != nil || p != paths[0] {
		t.Fatalf("a later process: %q, %v; want %q", p, err, paths[0])
	}
	if n := buildCount(t, count); n != 1 {
		t.Fatalf("%d builds after a later process asked, want 1", n)
	}
}

// TestSharedBuildFailureSaysWhat: a failed build names the command, how
// long it ran and what it printed, leaves nothing behind, and the next
// process tries again.
func TestSharedBuildFailureSaysWhat(t *testing.T) {
	count := fakeGo(t, `echo "main.go:3: undefined: frob" >&2; exit 2`)
	spec := fakeSpec(t)
	for i := range 2 {
		var s buildSet
		_, err := s.get(t, "x", func() (sharedBuild, error) { return spec, nil })
		if err == nil {
			t.Fatal("a failing build returned no error")
		}
		for _, want := range []string{"`go build -o ", "failed after ", "exit status 2", "undefined: frob"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if n := buildCount(t, count); n != i+1 {
			t.Fatalf("attempt %d: %d builds, want %d", i+1, n, i+1)
		}
	}
	dir, _ := cacheDir()
	left, _ := filepath.Glob(filepath.Join(dir, "*main-test*"))
	for _, l := range left {
		if !strings.HasSuffix(l, ".lock") && !strings.HasSuffix(l, ".build") {
			t.Errorf("a failed build left %s, want its lock files only", l)
		}
	}
}

// TestSharedBuildStoppedSaysSo: a build killed by a signal says so, and
// that testbin did not stop it.
func TestSharedBuildStoppedSaysSo(t *testing.T) {
	fakeGo(t, `kill -9 $$`)
	var s buildSet
	spec := fakeSpec(t)
	_, err := s.get(t, "x", func() (sharedBuild, error) { return spec, nil })
	if err == nil || !strings.Contains(err.Error(), `stopped by signal "killed" after`) ||
		!strings.Contains(err.Error(), "no time limit") {
		t.Fatalf("error %v, want it to say the build was stopped by a signal, not by testbin", err)
	}
}

// TestSweepRemovesOnlyOldUnheldBuilds: an old build no process holds goes
// with its lock file and its half-done builds; an old one held, and a
// recent one, stay.
func TestSweepRemovesOnlyOldUnheldBuilds(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	dir, err := cacheDir()
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * keepUnused)
	for _, key := range []string{"old", "held", "recent"} {
		if err := os.MkdirAll(filepath.Join(dir, key), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, key+".lock"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if key != "recent" {
			os.Chtimes(filepath.Join(dir, key), old, old)
		}
	}
	os.Mkdir(filepath.Join(dir, "tmp-recent-123"), 0o755)
	held, err := os.Open(filepath.Join(dir, "held.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	sweepCache(dir)
	for name, want := range map[string]bool{"old": false, "old.lock": false, "held": true, "held.lock": true,
		"recent": true, "recent.lock": true, "tmp-recent-123": false} {
		_, err := os.Stat(filepath.Join(dir, name))
		if got := err == nil; got != want {
			t.Errorf("after the sweep, %s exists: %v, want %v", name, got, want)
		}
	}
}

// TestSourceKeyFollowsTheSource: the key changes with an uncommitted edit
// and with the tags, and not with a file the tags leave out.
func TestSourceKeyFollowsTheSource(t *testing.T) {
	root := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module demo\n\ngo 1.26\n")
	write("main.go", "package main\n\nfunc main() {}\n")
	write("extra.go", "//go:build extra\n\npackage main\n")
	key := func(tags string) string {
		t.Helper()
		k, err := sourceKey(root, tags, []string{"build"})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key("")
	write("extra.go", "//go:build extra\n\npackage main\n\nvar x = 1\n")
	if k := key(""); k != base {
		t.Errorf("an edit of a file the build leaves out changed the key")
	}
	if k := key("extra"); k == base {
		t.Errorf("the tags did not change the key")
	}
	write("main.go", "package main\n\nfunc main() { println() }\n")
	if k := key(""); k == base {
		t.Errorf("an edit of main.go did not change the key")
	}
}
