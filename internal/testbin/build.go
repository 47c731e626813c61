// Package testbin runs the real soulbridge binary as a subprocess for the
// end-to-end, deploy and browser tests. It is test support only: nothing but
// _test.go files imports it, and it is never linked into the binary.
//
// Binary builds the module's main package once per test process (Main, as
// a package's TestMain, removes the build at exit); BinaryWithTags builds
// a variant with extra build tags the same way. Start, Spawn and
// SpawnWith run it with an explicit environment (Env: nothing is inherited
// from the test's own environment) and return a Proc to wait for, signal,
// stop or kill and read the output of; Run runs it to completion. Root,
// FreePort, Key and ServerEnv make the rest of a server's setup; Client and
// the request helpers in http.go (Do, Must, Signup, PutAvatar, ...) talk to
// it.
//
// Tests run as root here and in CI. Started as root, the binary hands its
// data dir to ServiceUID (65532) and drops privileges, so data dirs live
// inside a directory from Root (mode 0755), and the binary itself is
// readable and executable by every uid.
//
// Every test that builds or starts the binary is skipped by go test -short
// (Binary calls SkipShort), so `go test -short ./...` runs only the quick
// tests; a test of these suites that does not start the binary calls
// SkipShort itself.
package testbin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Version is the version the linker stamps into the test binary
// (main.buildVersion); GET /readyz and `soulbridge version` report it.
const Version = "testbin"

// binDirPrefix names the temporary directories holding the test binary; the
// test process's id follows it so a later run can remove a dead run's
// directory.
const binDirPrefix = "soulbridge-testbin-"

var build struct {
	once sync.Once
	dir  string
	path string
	err  error

	// mu serializes every build of this process (Binary's and
	// BinaryWithTags'): two go builds at once on a loaded machine can
	// outlast the build timeout (issue 18).
	mu     sync.Mutex
	tagged map[string]taggedBuild // by tag list, as given
}

// taggedBuild is one BinaryWithTags build (or its error).
type taggedBuild struct {
	path string
	err  error
}

// Binary returns the path of the soulbridge binary, built once per test
// process from the module root (found with `go env GOMOD`) the way the
// Dockerfile builds it: CGO_ENABLED=0 go build -trimpath -ldflags
// "-s -w -X main.buildVersion=<Version>". The build lives in a 0755
// directory under the system temp dir, removed at exit by Main, or by the
// next test process if this one dies first.
//
// Under go test -short it skips the test (SkipShort) before building
// anything, so every test that starts the binary (Start, Spawn, SpawnWith,
// Run) is skipped by -short without having to say so.
func Binary(t testing.TB) string {
	t.Helper()
	SkipShort(t)
	build.once.Do(func() {
		build.mu.Lock()
		defer build.mu.Unlock()
		sweepStaleBinDirs()
		build.path, build.err = buildBinary()
	})
	if build.err != nil {
		t.Fatalf("building soulbridge: %v", build.err)
	}
	return build.path
}

// BinaryWithTags is Binary built with extra build tags (go build -tags; a
// comma-separated list such as "plant_notombstone"), for tests that run a
// variant of the binary (planted bugs). An empty list returns Binary's
// build: nothing more is built. Each tag list is built once per test
// process, after Binary's build if one is due (never at the same time), into
// the same directory, which Main removes; go's build cache is reused as
// for Binary.
func BinaryWithTags(t testing.TB, tags string) string {
	t.Helper()
	SkipShort(t)
	tags = strings.TrimSpace(tags)
	if tags == "" {
		return Binary(t)
	}
	build.mu.Lock()
	defer build.mu.Unlock()
	b, ok := build.tagged[tags]
	if !ok {
		b.path, b.err = buildTagged(tags)
		if build.tagged == nil {
			build.tagged = make(map[string]taggedBuild)
		}
		build.tagged[tags] = b
	}
	if b.err != nil {
		t.Fatalf("building soulbridge with tags %q: %v", tags, b.err)
	}
	return b.path
}

// buildTagged builds the binary with tags into build.dir (made first if
// Binary has not run), named after the tags. build.mu is held.
func buildTagged(tags string) (string, error) {
	if build.dir == "" {
		sweepStaleBinDirs()
		if err := makeBuildDir(); err != nil {
			return "", err
		}
	}
	name := "soulbridge-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '-'
	}, tags)
	return goBuild(filepath.Join(build.dir, name), "-tags", tags)
}

// Main runs the tests of a package and then removes the binary Binary
// built. Use it as the package's TestMain:
//
//	func TestMain(m *testing.M) { testbin.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	for _, rb := range revisions.built {
		if rb.dir != "" {
			os.RemoveAll(rb.dir)
		}
	}
	os.Exit(code)
}

func buildBinary() (string, error) {
	if build.dir == "" {
		if err := makeBuildDir(); err != nil {
			return "", err
		}
	}
	return goBuild(filepath.Join(build.dir, "soulbridge"))
}

// makeBuildDir makes build.dir: under the system temp dir, named after this
// process, readable and executable by any uid (a test may start the binary
// as another user, SysProcAttr credentials).
func makeBuildDir() error {
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", binDirPrefix, os.Getpid()))
	if err != nil {
		return err
	}
	build.dir = dir
	return os.Chmod(dir, 0o755)
}

// goBuild builds the module's main package to bin the way the Dockerfile
// does, with extra go build flags, within 3 minutes.
func goBuild(bin string, extra ...string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := append([]string{"build", "-trimpath",
		"-ldflags", "-s -w -X main.buildVersion=" + Version}, extra...)
	args = append(args, "-o", bin, ".")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s in %s: %v\n%s", strings.Join(args, " "), root, err, out)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		return "", err
	}
	return bin, nil
}

// ModuleRoot returns the repository root: the directory of the go.mod the
// calling test belongs to. Tests run in their package directory, so repo
// files (Dockerfile, railway.json, README.md) are read through it.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

var modRoot struct {
	once sync.Once
	dir  string
	err  error
}

// moduleRoot is the directory of the go.mod the calling test belongs to,
// asked of the go command once per test process.
func moduleRoot() (string, error) {
	modRoot.once.Do(func() { modRoot.dir, modRoot.err = findModuleRoot() })
	return modRoot.dir, modRoot.err
}

func findModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

// sweepStaleBinDirs removes binary directories left by earlier test
// processes that have exited without running Main's cleanup.
func sweepStaleBinDirs() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), binDirPrefix+"*"))
	for _, m := range matches {
		rest := strings.TrimPrefix(filepath.Base(m), binDirPrefix)
		pidText, _, ok := strings.Cut(rest, "-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(m)
		}
	}
}

// BuildRevision builds the binary as it was at git revision rev (a release
// from the history, for upgrade tests) into a temp dir, once per revision
// and test process (Main removes it at exit), and returns its path.
// Without git or without that revision in the clone it skips the test, or
// fails it when CI is set (CI clones carry the history).
func BuildRevision(t testing.TB, rev string) string {
	t.Helper()
	SkipShort(t)
	root := ModuleRoot(t)
	missing := func(why string) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot build revision %s (CI is set, so this fails): %s", rev, why)
		}
		t.Skipf("cannot build revision %s: %s (needs git and the repository's history)", rev, why)
	}
	if _, err := exec.LookPath("git"); err != nil {
		missing("git is not installed")
	}
	if out, err := exec.Command("git", "-C", root, "cat-file", "-e", rev+"^{commit}").CombinedOutput(); err != nil {
		missing(fmt.Sprintf("%v %s", err, out))
	}
	revisions.mu.Lock()
	if revisions.built == nil {
		revisions.built = map[string]*revBuild{}
	}
	rb := revisions.built[rev]
	if rb == nil {
		rb = &revBuild{}
		revisions.built[rev] = rb
	}
	revisions.mu.Unlock()
	rb.once.Do(func() { rb.dir, rb.path, rb.err = buildRevision(root, rev) })
	if rb.err != nil {
		t.Fatal(rb.err)
	}
	return rb.path
}

// revisions are the builds of BuildRevision, one per revision and test
// process (several upgrade tests build the same previous release); Main
// removes them at exit.
var revisions struct {
	mu    sync.Mutex
	built map[string]*revBuild
}

type revBuild struct {
	once      sync.Once
	dir, path string
	err       error
}

// buildRevision builds revision rev of the repository at root into a new
// 0755 directory and returns the directory and the binary's path.
func buildRevision(root, rev string) (dir, bin string, err error) {
	src, err := os.MkdirTemp("", binDirPrefix+"src-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(src)
	archive := exec.Command("sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", root, rev, src)
	if out, err := archive.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("git archive %s: %v\n%s", rev, err, out)
	}
	dir, err = os.MkdirTemp("", fmt.Sprintf("%s%d-rev-", binDirPrefix, os.Getpid()))
	if err != nil {
		return "", "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return dir, "", err
	}
	bin = filepath.Join(dir, "soulbridge-"+rev)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return dir, "", fmt.Errorf("go build of revision %s: %v\n%s", rev, err, out)
	}
	return dir, bin, nil
}
