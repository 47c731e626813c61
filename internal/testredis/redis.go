// Package testredis starts a real redis-server for tests: on a free
// loopback port, in a temp dir, without persistence, stopped when the test
// ends. Without redis-server installed the test is skipped with a message
// saying what to install, or fails when the CI environment variable is set.
package testredis

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"soulbridge/internal/testbin"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Server is a running redis-server.
type Server struct {
	t    testing.TB
	dir  string
	port int
	cmd  *exec.Cmd
	// args are added to the command line (sentinel.go: replicas).
	args []string
}

// Start starts a redis-server, or skips (fails under CI) without one.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed (CI is set, so this fails instead of skipping): apt-get install redis-server")
		}
		t.Skip("redis-server is not installed: apt-get install redis-server (Debian) to run this test")
	}
	s := &Server{t: t, dir: t.TempDir(), port: testbin.FreePort(t)}
	s.start()
	t.Cleanup(s.Kill)
	return s
}

// URL is the redis:// URL of the server.
func (s *Server) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// Addr is host:port of the server.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *Server) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server",
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--dir", s.dir, "--save", "", "--appendonly", "no",
		"--logfile", filepath.Join(s.dir, "redis.log"))
	s.cmd.Args = append(s.cmd.Args, s.args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	s.t.Fatalf("redis-server did not listen on %s within 10s; its log:\n%s", s.Addr(), log)
}

// Pause stops the server with SIGSTOP: connections hang instead of being
// refused, like a Redis that froze or a network that drops packets.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	if s.cmd == nil {
		s.t.Fatalf("signal %v to redis-server: it was killed (Kill) and not started again", sig)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal redis-server: %v", err)
	}
}

// Kill ends the server (SIGKILL); its data, which it never persists, is
// gone. Safe to call more than once, and on a paused server: SIGKILL ends a
// stopped process too. No SIGCONT goes first: a paused server continued
// even for a moment answers what its clients queued (a health probe among
// them), and an outage the test means as one would look like two (issue
// 18, TestMirrorOutage's "logged 'redis mirror down' 2 times").
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart kills the server and starts an empty one on the same port, like
// a Redis without persistence restarting.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// Start again after Kill, empty, on the same port.
func (s *Server) StartAgain() {
	s.t.Helper()
	s.start()
}
