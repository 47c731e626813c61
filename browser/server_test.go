package browser_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// TestMain runs the tests through testbin.Main; the binary they start is
// testbin's build shared by every test package (internal/testbin/shared.go).
func TestMain(m *testing.M) { testbin.Main(m) }

// server is the real binary, run as a subprocess on a free port with its own
// data dir, so that a test can stop and start it like a deploy.
type server struct {
	t    *testing.T
	env  testbin.Env // the same port and data dir for every run
	runs int
	proc *testbin.Proc // the current run
	// localhost: the browser uses http://localhost:PORT, the passkey
	// relying party's origin (browsers refuse WebAuthn on 127.0.0.1).
	localhost bool
	// front, when set, is the URL the browser uses instead: an edge in
	// front of several instances (browser/passkeys_edge_test.go).
	front string
}

// startServer starts the binary with a fresh data dir and key.
//
// Tests run as root here and in CI. Started as root, the binary hands its data
// dir to testbin.ServiceUID and drops privileges, so the data dir lives inside a
// directory that everyone may enter (testbin.Root, 0755).
func startServer(t *testing.T) *server {
	t.Helper()
	s := &server{
		t: t,
		env: testbin.ServerEnv(t, filepath.Join(testbin.Root(t), "data"), testbin.Env{
			"SECRET_KEY":        testbin.Key(t),
			"LOG_FORMAT":        "text",
			"SHUTDOWN_TIMEOUT":  "5s",
			"DATA_LOCK_TIMEOUT": "10s",
		}),
	}
	s.start()
	return s
}

// base is the URL the browser uses: plain http on 127.0.0.1, where the
// session cookie must work.
func (s *server) base() string {
	if s.front != "" {
		return s.front
	}
	if s.localhost {
		return strings.Replace(s.proc.Base(), "127.0.0.1", "localhost", 1)
	}
	return s.proc.Base()
}

// start runs the binary with the server's explicit environment (never the
// test's own: no RAILWAY_*, no SECRET_KEY from outside) and waits until
// /healthz answers. Each run's output is logged if the test fails.
func (s *server) start() {
	s.t.Helper()
	s.runs++
	name := fmt.Sprintf("server run %d (key %s…)", s.runs, s.env["SECRET_KEY"][:6])
	s.proc = testbin.Spawn(s.t, name, s.env)
	s.proc.WaitHealthy(20 * time.Second)
}

// stop sends SIGTERM, as a platform does on deploy, and requires a clean exit 0.
func (s *server) stop() {
	s.t.Helper()
	s.proc.StopWithin(20 * time.Second)
}

// restart stops the server and starts it again on the same port and data
// dir, signing with key ("" keeps the current key).
func (s *server) restart(key string) {
	s.t.Helper()
	s.stop()
	if key != "" {
		s.env["SECRET_KEY"] = key
	}
	s.start()
}
