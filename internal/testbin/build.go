// Package testbin runs the real soulbridge binary as a subprocess for the
// end-to-end, deploy and browser tests. It is test support only: nothing but
// _test.go files imports it, and it is never linked into the binary.
//
// Binary returns the module's main package built with the flags of go
// test's own builds (Binary says why); BinaryWithTags a variant with extra
// build tags; BuildRevision a previous release from the git history. Each is built once per machine
// and source, not once per test process: `go test ./...` runs every test
// package as its own process, and a build per package, all at once on a
// busy machine, is what made a fresh clone's first run fail (issue 18). See
// shared.go for how processes share one build. Start, Spawn and SpawnWith
// run the binary with an explicit environment (Env: nothing is inherited
// from the test's own environment) and return a Proc to wait for, signal,
// stop or kill and read the output of; Run runs it to completion. Root,
// FreePort, Key and ServerEnv make the rest of a server's setup; Client and
// the request helpers in http.go (Do, Must, Signup, PutAvatar, ...) talk to
// it.
//
// Tests run as root here and in CI. Started as root, the binary hands its
// data dir to ServiceUID (65532) and drops privileges, so data dirs live
// inside a directory from Root (mode 0755), and the binary itself (in a
// 0755 directory under the system temp dir) is readable and executable by
// every uid.
//
// Every test that builds or starts the binary is skipped by go test -short
// (Binary calls SkipShort), so `go test -short ./...` runs only the quick
// tests; a test of these suites that does not start the binary calls
// SkipShort itself.
package testbin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Version is the version the linker stamps into the test binary
// (main.buildVersion); GET /readyz and `soulbridge version` report it.
const Version = "testbin"

// Binary returns the path of the soulbridge binary built from the module
// root (found with `go env GOMOD`): go build -ldflags "-s -w -X
// main.buildVersion=<Version>". The build is shared by every test process
// of the machine that asks for the same source (shared.go); a build that
// fails or is stopped fails the test saying which command, after how long,
// and what it printed.
//
// It is built with the flags go test compiles the other test packages
// with (the environment's CGO_ENABLED, no -trimpath), not the Dockerfile's
// CGO_ENABLED=0 -trimpath: those change the build of every package, so
// with them the binary's build compiled the whole dependency tree a second
// time, which on a fresh build cache and a busy 2-core machine took 6.5 of
// the waiting packages' 10 minutes of go test -timeout (issue 18). With
// them equal, the build reuses what go test has compiled and is a compile
// of the packages no test binary needs plus a link. TestDockerfile checks
// the Dockerfile's flags.
//
// Under go test -short it skips the test (SkipShort) before building
// anything, so every test that starts the binary (Start, Spawn, SpawnWith,
// Run) is skipped by -short without having to say so.
func Binary(t testing.TB) string {
	t.Helper()
	return BinaryWithTags(t, "")
}

// BinaryWithTags is Binary built with extra build tags (go build -tags; a
// comma-separated list such as "plant_notombstone"), for tests that run a
// variant of the binary (planted bugs). An empty list is Binary. Each tag
// list is a shared build of its own (the tags are part of its key).
func BinaryWithTags(t testing.TB, tags string) string {
	t.Helper()
	SkipShort(t)
	tags = strings.TrimSpace(tags)
	root := ModuleRoot(t)
	args := []string{"build", "-ldflags", "-s -w -X main.buildVersion=" + Version}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	path, err := builds.get(t, "tags="+tags, func() (sharedBuild, error) {
		key, err := sourceKey(root, tags, args)
		if err != nil {
			return sharedBuild{}, err
		}
		return sharedBuild{key: key, name: binaryName(tags), dir: root, args: args}, nil
	})
	if err != nil {
		if tags != "" {
			t.Fatalf("building soulbridge with tags %q: %v", tags, err)
		}
		t.Fatalf("building soulbridge: %v", err)
	}
	return path
}

// binaryName is the file name of a build with tags or of a revision:
// "soulbridge", or "soulbridge-" and the tags or revision with anything but
// letters, digits and _ turned into -.
func binaryName(suffix string) string {
	if suffix == "" {
		return "soulbridge"
	}
	return "soulbridge-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '-'
	}, suffix)
}

// BuildRevision builds the binary as it was at git revision rev (a release
// from the history, for upgrade tests) and returns its path. The build is
// shared like Binary's, keyed by the commit rev names, with Binary's flags
// (without -X). Without git or
// without that revision in the clone it skips the test, or fails it when CI
// is set (CI clones carry the history).
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
	out, err := exec.Command("git", "-C", root, "rev-parse", "--verify", "--quiet", rev+"^{commit}").Output()
	if err != nil {
		missing(fmt.Sprintf("git rev-parse %s: %v", rev, err))
	}
	commit := strings.TrimSpace(string(out))
	args := []string{"build"} // the flags of Binary's build, and why
	path, err := builds.get(t, "rev="+commit, func() (sharedBuild, error) {
		key, err := revisionKey(commit, args)
		if err != nil {
			return sharedBuild{}, err
		}
		return sharedBuild{key: key, name: binaryName(rev), args: args,
			prepare: func(src string) error { return extractRevision(root, commit, src) }}, nil
	})
	if err != nil {
		t.Fatalf("building revision %s: %v", rev, err)
	}
	return path
}

// extractRevision writes the tree of commit into dir (git archive | tar).
func extractRevision(root, commit, dir string) error {
	archive := exec.Command("sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", root, commit, dir)
	if out, err := archive.CombinedOutput(); err != nil {
		return fmt.Errorf("git archive %s | tar -x: %v\n%s", commit, err, out)
	}
	return nil
}

// Main runs the tests of a package. Use it as the package's TestMain:
//
//	func TestMain(m *testing.M) { testbin.Main(m) }
//
// It removes nothing: the builds are shared with other test processes and
// later runs, and removed by age (shared.go). The shared locks this
// process holds on them end with it.
func Main(m *testing.M) {
	os.Exit(m.Run())
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
