package browser_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
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

// binary is the soulbridge binary that TestMain builds once for every test.
var binary string

// TestMain builds the real binary from the module root, so that each test can
// run it as a subprocess and restart it mid-test.
func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "browser tests:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "sb-browser-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "browser tests:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "soulbridge")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "browser tests: go build in %s: %v\n%s", root, err, out)
		return 1
	}
	return m.Run()
}

// moduleRoot is the directory of the go.mod that this package belongs to.
func moduleRoot() (string, error) {
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

// server is the real binary, run as a subprocess on a free 127.0.0.1 port
// with its own data dir, so that a test can stop and start it like a deploy.
type server struct {
	t       *testing.T
	port    string
	dataDir string
	key     string

	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	logs *syncBuffer   // stdout and stderr of every run
}

// startServer starts the binary with a fresh data dir and key.
//
// Tests run as root here and in CI. Started as root, the binary hands its data
// dir to uid 65532 and drops privileges, so the data dir lives inside a
// directory that everyone may enter (0755).
func startServer(t *testing.T) *server {
	t.Helper()
	parent, err := os.MkdirTemp("", "sb-browser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &server{
		t:       t,
		port:    freePort(t),
		dataDir: filepath.Join(parent, "data"),
		key:     newKey(t),
		logs:    &syncBuffer{},
	}
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs.String())
		}
	})
	s.start()
	return s
}

// base is the URL the browser uses: plain http on 127.0.0.1, where the
// session cookie must work.
func (s *server) base() string { return "http://127.0.0.1:" + s.port }

// start runs the binary with an explicit environment (never the test's own:
// no RAILWAY_*, no SECRET_KEY from outside) and waits until /healthz answers.
func (s *server) start() {
	s.t.Helper()
	cmd := exec.Command(binary)
	cmd.Env = []string{
		"PORT=" + s.port,
		"DATA_DIR=" + s.dataDir,
		"SECRET_KEY=" + s.key,
		"LOG_FORMAT=text",
		"SHUTDOWN_TIMEOUT=5s",
		"DATA_LOCK_TIMEOUT=10s",
	}
	cmd.Stdout = s.logs
	cmd.Stderr = s.logs
	fmt.Fprintf(s.logs, "--- start (key %s…)\n", s.key[:6])
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start server: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			s.t.Fatalf("server exited during start-up (%v):\n%s", cmd.ProcessState, s.logs.String())
		default:
		}
		res, err := client.Get(s.base() + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("server did not answer /healthz within 20s:\n%s", s.logs.String())
}

// stop sends SIGTERM, as a platform does on deploy, and requires a clean exit 0.
func (s *server) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.kill()
		s.t.Fatalf("server did not exit within 20s of SIGTERM:\n%s", s.logs.String())
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		s.t.Fatalf("server exited with %v after SIGTERM, want exit status 0:\n%s", s.cmd.ProcessState, s.logs.String())
	}
}

// restart stops the server and starts it again on the same port and data
// dir, signing with key ("" keeps the current key).
func (s *server) restart(key string) {
	s.t.Helper()
	s.stop()
	if key != "" {
		s.key = key
	}
	s.start()
}

// kill ends a server that is still running (cleanup after a failure).
func (s *server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// newKey returns a random 32-byte key as 64 hex characters.
func newKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// syncBuffer is a bytes.Buffer that several goroutines may write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
