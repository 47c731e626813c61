package e2e

// Helpers shared by this package's suites. The binary they start is
// testbin's build shared by every test package (internal/testbin/shared.go).

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testwait"
)

func TestMain(m *testing.M) { testbin.Main(m) }

// keyFile is the name of the key file the binary generates in its data dir
// when no key is set (keyFileName in config.go, package main).
const keyFile = "secret.key"

// keyedEnv is the binary's whole environment (testbin.Env inherits
// nothing, so no RAILWAY_*, SECRET_KEY or DATA_DIR of the machine running the
// tests leaks in): a fresh port and key, dataDir, text logs.
func keyedEnv(t *testing.T, dataDir string) testbin.Env {
	t.Helper()
	return testbin.ServerEnv(t, dataDir, testbin.Env{
		"SECRET_KEY":        testbin.Key(t),
		"LOG_FORMAT":        "text",
		"DATA_LOCK_TIMEOUT": "30s",
	})
}

// serve starts `soulbridge serve` as the platform does: with exactly
// env, in workDir (not this repository, so no deploy file is at hand), as the
// user attr names (nil: the test's own, root).
func serve(t *testing.T, name, workDir string, env testbin.Env, attr *syscall.SysProcAttr) *testbin.Proc {
	t.Helper()
	return testbin.SpawnWith(t, name, env, testbin.Options{Dir: workDir, SysProcAttr: attr}, "serve")
}

// oneShotClient is an HTTP client that follows no redirects and opens a new
// connection for every request, so that each request's transport error can
// be pinned on the process that was (or was not) listening when it was sent.
func oneShotClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// requireRoot skips a test that needs root, except in CI (CI set),
// where running without root would silently drop the check, so it fails.
// Under -short the test is skipped first (testbin.SkipShort), root or not.
func requireRoot(t *testing.T) {
	t.Helper()
	testbin.SkipShort(t)
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("this test must run as root in CI (euid %d)", os.Geteuid())
	}
	t.Skipf("needs root to start the binary as root / as another uid (euid %d)", os.Geteuid())
}

// repoPath is the path of name (slash-separated, relative to the
// repository root) for this test: tests run in the package directory, e2e/.
func repoPath(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(testbin.ModuleRoot(t), filepath.FromSlash(name))
}

// readRepoFile reads name, a file of this repository relative to its root.
func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(repoPath(t, name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// waitFor polls cond until it holds or fails the test after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, within, what, cond)
}

// eachDataFile calls fn with the Lstat of every entry under dir (dir
// included), skipping entries the running store removes meanwhile, and
// returns how many it saw.
func eachDataFile(t *testing.T, dir string, fn func(path string, fi fs.FileInfo)) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		fn(path, fi)
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
