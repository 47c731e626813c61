package testbin

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strconv"
	"testing"
)

// ServiceUID is the uid and gid the binary runs as after starting as root
// and dropping privileges (distroless's "nonroot"). It mirrors the constant
// unprivileged in privileges.go (package main, which tests cannot import).
const ServiceUID = 65532

// Root returns a fresh directory, mode 0755, removed when the test ends.
// Data dirs go inside it: started as root, the binary hands its data dir to
// ServiceUID, which must be able to traverse the parent (t.TempDir() and its
// parents are 0700).
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sb-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// FreePort returns a TCP port that was free on all interfaces (IPv4 and
// IPv6, where the server listens) a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Key returns a fresh random 32-byte key as 64 hex characters.
func Key(t testing.TB) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Env is a process's whole environment: exactly these variables. Nothing is
// inherited from the test's own environment, so no RAILWAY_*, SECRET_KEY,
// DATA_DIR or PORT of the machine running the tests leaks in.
type Env map[string]string

// With returns a copy of e with extra's variables added (extra wins).
func (e Env) With(extra Env) Env {
	out := make(Env, len(e)+len(extra))
	for k, v := range e {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func (e Env) list() []string {
	out := make([]string, 0, len(e))
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

// ServerEnv is the environment of a server on a fresh port (FreePort) with
// dataDir as DATA_DIR, plus extra.
func ServerEnv(t testing.TB, dataDir string, extra Env) Env {
	t.Helper()
	return Env{
		"PORT":     strconv.Itoa(FreePort(t)),
		"DATA_DIR": dataDir,
	}.With(extra)
}
