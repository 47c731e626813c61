package testbin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StopTimeout is how long Stop waits for the process to exit after SIGTERM.
const StopTimeout = 5 * time.Second

// Options are the less common ways to start the binary.
type Options struct {
	// Dir is the working directory; "" is the test's (the package
	// directory).
	Dir string
	// SysProcAttr is passed to the process, e.g. Credential to start it as
	// another uid.
	SysProcAttr *syscall.SysProcAttr
	// Binary is another build to run (BuildRevision, BinaryWithTags); ""
	// runs this one.
	Binary string
	// OmitFromLog, if set, leaves the output lines it returns true for out
	// of what a failed test logs (their number is logged instead): a long
	// run's request log would bury the lines that explain a failure.
	OmitFromLog func(line string) bool
}

// Proc is one running (or exited) soulbridge process.
type Proc struct {
	t       testing.TB
	name    string
	cmd     *exec.Cmd
	port    int
	out     *Buffer // stdout and stderr together (slog writes to stderr)
	started time.Time
	done    chan struct{} // closed when the process has exited
	state   *os.ProcessState
}

// Start starts the server (no arguments) with exactly env and waits up to
// 15 s until GET /healthz answers 200.
func Start(t testing.TB, name string, env Env) *Proc {
	t.Helper()
	p := Spawn(t, name, env)
	p.WaitHealthy(15 * time.Second)
	return p
}

// Spawn starts the binary with args and exactly env (PORT should be in it for
// a server) without waiting for it to serve.
func Spawn(t testing.TB, name string, env Env, args ...string) *Proc {
	t.Helper()
	return SpawnWith(t, name, env, Options{}, args...)
}

// SpawnWith is Spawn with Options. The process is killed when the test ends
// if it is still running, and its output is logged if the test failed.
func SpawnWith(t testing.TB, name string, env Env, o Options, args ...string) *Proc {
	t.Helper()
	bin := o.Binary
	if bin == "" {
		bin = Binary(t)
	}
	port, _ := strconv.Atoi(env["PORT"])
	p := &Proc{
		t:    t,
		name: name,
		port: port,
		out:  &Buffer{},
		done: make(chan struct{}),
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env.list()
	p.cmd.Dir = o.Dir
	p.cmd.SysProcAttr = o.SysProcAttr
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
		if !p.Exited() {
			p.cmd.Process.Kill()
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				t.Errorf("%s: process %d did not die after SIGKILL", name, p.cmd.Process.Pid)
			}
		}
		if t.Failed() {
			t.Logf("--- output of %s (pid %d) ---\n%s", name, p.cmd.Process.Pid, failureLog(p.out.String(), o.OmitFromLog))
		}
	})
	return p
}

// failureLog is out without the lines omit returns true for (all of out
// when omit is nil), with a note of how many it left out.
func failureLog(out string, omit func(string) bool) string {
	if omit == nil {
		return out
	}
	var b strings.Builder
	n := 0
	for line := range strings.Lines(out) {
		if omit(strings.TrimSuffix(line, "\n")) {
			n++
			continue
		}
		b.WriteString(line)
	}
	if n > 0 {
		fmt.Fprintf(&b, "(%d lines left out)\n", n)
	}
	return b.String()
}

// Port is the PORT the process was given (0 if none).
func (p *Proc) Port() int { return p.port }

// Base is the server's URL on IPv4 loopback: http://127.0.0.1:PORT.
func (p *Proc) Base() string { return "http://127.0.0.1:" + strconv.Itoa(p.port) }

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Started is when the process was started.
func (p *Proc) Started() time.Time { return p.started }

// Output is everything the process has written so far, stdout and stderr
// together.
func (p *Proc) Output() string { return p.out.String() }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process, failing the test if it cannot.
func (p *Proc) Signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%s: %v: %v", p.name, sig, err)
	}
}

// Wait waits up to within for the process to exit and returns its exit code
// (-1 when a signal killed it); ok is false on timeout.
func (p *Proc) Wait(within time.Duration) (code int, ok bool) {
	select {
	case <-p.done:
		return p.state.ExitCode(), true
	case <-time.After(within):
		return 0, false
	}
}

// WaitExit is Wait failing the test if the process is still running after
// within.
func (p *Proc) WaitExit(within time.Duration) int {
	p.t.Helper()
	code, ok := p.Wait(within)
	if !ok {
		p.t.Fatalf("%s still running %s after it should have ended:\n%s", p.name, within, p.out.String())
	}
	return code
}

// Stop sends SIGTERM and requires an exit with status 0 within StopTimeout.
func (p *Proc) Stop() {
	p.t.Helper()
	p.StopWithin(StopTimeout)
}

// StopWithin sends SIGTERM and requires an exit with status 0 within d.
func (p *Proc) StopWithin(d time.Duration) {
	p.t.Helper()
	p.Signal(syscall.SIGTERM)
	code, ok := p.Wait(d)
	if !ok {
		p.t.Fatalf("%s did not exit within %s of SIGTERM:\n%s", p.name, d, p.out.String())
	}
	if code != 0 {
		p.t.Fatalf("%s exited with status %d after SIGTERM, want 0:\n%s", p.name, code, p.out.String())
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	p.t.Helper()
	p.cmd.Process.Kill()
	if _, ok := p.Wait(10 * time.Second); !ok {
		p.t.Fatalf("%s survived SIGKILL", p.name)
	}
}

// WaitHealthy polls GET /healthz (on 127.0.0.1) until it answers 200; it
// fails the test if the process exits first or within passes.
func (p *Proc) WaitHealthy(within time.Duration) {
	p.t.Helper()
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(within)
	for {
		if p.Exited() {
			p.t.Fatalf("%s exited (%v) before serving:\n%s", p.name, p.state, p.out.String())
		}
		resp, err := c.Get(p.Base() + "/healthz")
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
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitOutput polls the output until it contains s; it fails the test if the
// process exits first or within passes.
func (p *Proc) WaitOutput(s string, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(p.out.String(), s) {
		if p.Exited() {
			p.t.Fatalf("%s exited (%v) before logging %q:\n%s", p.name, p.state, s, p.out.String())
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not log %q within %s:\n%s", p.name, s, within, p.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Run runs the binary to completion with args and exactly env (a
// sub-command, or a server expected to refuse to start) and returns its exit
// code, stdout and stderr. It fails the test if the binary is still running
// after within.
func Run(t testing.TB, within time.Duration, env Env, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
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

// Buffer is a goroutine-safe buffer collecting a process's output (stdout
// and stderr may write to it at once).
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
