package main

// Helpers for the end-to-end tests in e2e_test.go: they build the real
// soulbridge binary once, run it as a subprocess with an explicit
// environment and talk to it over HTTP.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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

// e2eBinDirPrefix names the temporary directories holding the test binary;
// the process id follows it so a later run can remove a dead run's directory.
const e2eBinDirPrefix = "soulbridge-e2e-bin-"

var e2eBuild struct {
	once sync.Once
	path string
	err  error
}

// e2eBinary returns the path of the soulbridge binary, built once per test
// process (go build -o <tmp>/soulbridge .).
func e2eBinary(t *testing.T) string {
	t.Helper()
	e2eBuild.once.Do(func() {
		e2eSweepStaleBinDirs()
		dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", e2eBinDirPrefix, os.Getpid()))
		if err != nil {
			e2eBuild.err = err
			return
		}
		// The binary runs as root and execs fine from a 0700 dir, but make
		// it readable anyway in case a test runs it as another user.
		if err := os.Chmod(dir, 0o755); err != nil {
			e2eBuild.err = err
			return
		}
		bin := filepath.Join(dir, "soulbridge")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			e2eBuild.err = fmt.Errorf("go build: %v\n%s", err, out)
			os.RemoveAll(dir)
			return
		}
		e2eBuild.path = bin
	})
	if e2eBuild.err != nil {
		t.Fatalf("building soulbridge: %v", e2eBuild.err)
	}
	return e2eBuild.path
}

// e2eSweepStaleBinDirs removes binary directories left by earlier test
// processes that have exited (there is no TestMain to remove ours at exit).
func e2eSweepStaleBinDirs() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), e2eBinDirPrefix+"*"))
	for _, m := range matches {
		rest := strings.TrimPrefix(filepath.Base(m), e2eBinDirPrefix)
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

// e2eRoot returns a fresh directory, mode 0755, removed when the test ends.
// Data dirs go inside it: started as root, the binary hands its data dir to
// uid 65532, which must be able to traverse the parent (t.TempDir() and its
// parents are 0700).
func e2eRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sb-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// e2eFreePort returns a TCP port that was free a moment ago.
func e2eFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// e2eKey returns a fresh key as 64 hex characters.
func e2eKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// e2eBuffer is a goroutine-safe buffer collecting a process's output.
type e2eBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *e2eBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *e2eBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// e2eProc is one running soulbridge process.
type e2eProc struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	port    int
	base    string // http://127.0.0.1:port
	out     *e2eBuffer
	started time.Time
	done    chan struct{} // closed when the process has exited
	state   *os.ProcessState
}

// e2eEnv is a process environment: exactly these variables, nothing
// inherited from the test's own environment.
type e2eEnv map[string]string

func (e e2eEnv) list() []string {
	out := make([]string, 0, len(e))
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

// e2eSpawn starts the binary with args and exactly env (PORT must be in it)
// without waiting for it to serve. The process is killed when the test ends.
func e2eSpawn(t *testing.T, name string, env e2eEnv, args ...string) *e2eProc {
	t.Helper()
	bin := e2eBinary(t)
	port, _ := strconv.Atoi(env["PORT"])
	p := &e2eProc{
		t:    t,
		name: name,
		port: port,
		base: "http://127.0.0.1:" + env["PORT"],
		out:  &e2eBuffer{},
		done: make(chan struct{}),
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env.list()
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.WaitDelay = 5 * time.Second
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: start: %v", name, err)
	}
	go func() {
		p.cmd.Wait()
		p.state = p.cmd.ProcessState
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				t.Errorf("%s: process %d did not die after SIGKILL", name, p.cmd.Process.Pid)
			}
		}
		if t.Failed() {
			t.Logf("--- output of %s (pid %d) ---\n%s", name, p.cmd.Process.Pid, p.out.String())
		}
	})
	return p
}

// e2eStart starts a server and waits until /healthz answers 200.
func e2eStart(t *testing.T, name string, env e2eEnv) *e2eProc {
	t.Helper()
	p := e2eSpawn(t, name, env)
	p.waitHealthy(15 * time.Second)
	return p
}

// e2eServerEnv is the environment of a server on a fresh port with dataDir,
// plus extra.
func e2eServerEnv(t *testing.T, dataDir string, extra e2eEnv) e2eEnv {
	t.Helper()
	env := e2eEnv{
		"PORT":     strconv.Itoa(e2eFreePort(t)),
		"DATA_DIR": dataDir,
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func (p *e2eProc) pid() int { return p.cmd.Process.Pid }

func (p *e2eProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitHealthy polls /healthz until it answers 200; fails the test if the
// process exits first or the deadline passes.
func (p *e2eProc) waitHealthy(within time.Duration) {
	p.t.Helper()
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(within)
	for {
		if p.exited() {
			p.t.Fatalf("%s exited (%v) before serving:\n%s", p.name, p.state, p.out.String())
		}
		resp, err := c.Get(p.base + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s not healthy within %s (last error %v):\n%s", p.name, within, err, p.out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// wait waits up to within for the process to exit and returns its exit code
// (-1 when a signal killed it); ok is false on timeout.
func (p *e2eProc) wait(within time.Duration) (code int, ok bool) {
	select {
	case <-p.done:
		return p.state.ExitCode(), true
	case <-time.After(within):
		return 0, false
	}
}

// stop sends SIGTERM and requires an exit with status 0 within 5 s.
func (p *e2eProc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("%s: SIGTERM: %v", p.name, err)
	}
	code, ok := p.wait(5 * time.Second)
	if !ok {
		p.t.Fatalf("%s did not exit within 5s of SIGTERM:\n%s", p.name, p.out.String())
	}
	if code != 0 {
		p.t.Fatalf("%s exited with status %d after SIGTERM, want 0:\n%s", p.name, code, p.out.String())
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *e2eProc) kill() {
	p.t.Helper()
	p.cmd.Process.Kill()
	if _, ok := p.wait(10 * time.Second); !ok {
		p.t.Fatalf("%s survived SIGKILL", p.name)
	}
}

// waitOutput polls the output until it contains s.
func (p *e2eProc) waitOutput(s string, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(p.out.String(), s) {
		if p.exited() {
			p.t.Fatalf("%s exited before logging %q:\n%s", p.name, s, p.out.String())
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not log %q within %s:\n%s", p.name, s, within, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// e2eRun runs the binary to completion (a sub-command or a server expected
// to refuse to start) and returns its exit code, stdout and stderr.
func e2eRun(t *testing.T, within time.Duration, env e2eEnv, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := exec.CommandContext(ctx, e2eBinary(t), args...)
	cmd.Env = env.list()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("soulbridge %v did not finish within %s\nstdout:\n%s\nstderr:\n%s", args, within, o.String(), e.String())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("soulbridge %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), o.String(), e.String()
}

// e2eClient is an HTTP client that never follows redirects and keeps no
// cookie jar: tests read Set-Cookie and send Cookie themselves.
func e2eClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// e2eResp is a response read to the end.
type e2eResp struct {
	status int
	header http.Header
	body   string
}

// sessionCookie returns the sb_session value the response sets, "" if none.
func (r e2eResp) sessionCookie() string {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "sb_session" && c.Value != "" && c.MaxAge >= 0 {
			return c.Value
		}
	}
	return ""
}

// e2eDo sends one request; cookie is the sb_session value ("" for none);
// contentType is set when body is not nil.
func e2eDo(c *http.Client, method, u, cookie, contentType string, body io.Reader) (e2eResp, error) {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return e2eResp{}, err
	}
	if cookie != "" {
		req.Header.Set("Cookie", "sb_session="+cookie)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		return e2eResp{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return e2eResp{}, err
	}
	return e2eResp{status: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

// e2eMust is e2eDo failing the test on a transport error.
func e2eMust(t *testing.T, c *http.Client, method, u, cookie, contentType string, body io.Reader) e2eResp {
	t.Helper()
	r, err := e2eDo(c, method, u, cookie, contentType, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return r
}

// e2eForm posts a form to path (signup or login) and requires a 303 with a
// session cookie, which it returns.
func e2eForm(t *testing.T, c *http.Client, p *e2eProc, path, username, password string) string {
	t.Helper()
	form := url.Values{"username": {username}, "password": {password}}
	r := e2eMust(t, c, http.MethodPost, p.base+path, "", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if r.status != http.StatusSeeOther {
		t.Fatalf("POST %s %s: status %d, want 303; body:\n%s", path, username, r.status, r.body)
	}
	cookie := r.sessionCookie()
	if cookie == "" {
		t.Fatalf("POST %s %s: no sb_session cookie in %q", path, username, r.header.Values("Set-Cookie"))
	}
	return cookie
}

// e2eSignup signs up username and returns the session cookie.
func e2eSignup(t *testing.T, c *http.Client, p *e2eProc, username, password string) string {
	t.Helper()
	return e2eForm(t, c, p, "/signup", username, password)
}

// e2eAvatar is the body of GET/PUT /community/avatar.
type e2eAvatar struct {
	Username string `json:"username"`
	Avatar   string `json:"avatar"`
}

// e2ePutAvatar sets the avatar and returns the response.
func e2ePutAvatar(c *http.Client, p *e2eProc, cookie, id string) (e2eResp, error) {
	body, _ := json.Marshal(map[string]string{"avatar": id})
	return e2eDo(c, http.MethodPut, p.base+"/community/avatar", cookie, "application/json", bytes.NewReader(body))
}

// e2eGetAvatar requires GET /community/avatar to answer 200 and returns the
// avatar and the response (for Set-Cookie).
func e2eGetAvatar(t *testing.T, c *http.Client, p *e2eProc, cookie string) (e2eAvatar, e2eResp) {
	t.Helper()
	r := e2eMust(t, c, http.MethodGet, p.base+"/community/avatar", cookie, "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("%s: GET /community/avatar: status %d, want 200; body %s", p.name, r.status, r.body)
	}
	var a e2eAvatar
	if err := json.Unmarshal([]byte(r.body), &a); err != nil {
		t.Fatalf("%s: GET /community/avatar: %v in %q", p.name, err, r.body)
	}
	return a, r
}

// e2eCatalogue returns the preset ids from GET /community/avatars.
func e2eCatalogue(t *testing.T, c *http.Client, p *e2eProc) []string {
	t.Helper()
	r := e2eMust(t, c, http.MethodGet, p.base+"/community/avatars", "", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /community/avatars: status %d", r.status)
	}
	var presets []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(r.body), &presets); err != nil {
		t.Fatalf("GET /community/avatars: %v in %q", err, r.body)
	}
	ids := make([]string, 0, len(presets))
	for _, p := range presets {
		ids = append(ids, p.ID)
	}
	if len(ids) < 2 {
		t.Fatalf("GET /community/avatars: only %d presets", len(ids))
	}
	return ids
}
