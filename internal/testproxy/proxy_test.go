package testproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// echoServer answers every line it reads with the same line, on loopback,
// until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func start(t *testing.T) *Proxy {
	t.Helper()
	p, err := New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// conn is a client connection through the proxy with a line reader.
type conn struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, p *Proxy) conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return conn{c, bufio.NewReader(c)}
}

// roundTrip sends line and reads the echo within d; it returns the error
// when none came.
func (c conn) roundTrip(line string, d time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(d))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := c.r.ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

func TestPass(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	for _, line := range []string{"one", "two", strings.Repeat("x", 100_000)} {
		if got, err := c.roundTrip(line, 2*time.Second); err != nil || got != line {
			t.Fatalf("echo of %d bytes: %d bytes, %v", len(line), len(got), err)
		}
	}
	if m, _ := p.Mode(); m != Pass {
		t.Fatalf("mode %v, want pass", m)
	}
}

func TestCutClosesOpenConnectionsAndRefusesNewOnes(t *testing.T) {
	p := start(t)
	open := dial(t, p)
	if _, err := open.roundTrip("hi", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	if _, err := open.roundTrip("after cut", 2*time.Second); err == nil || isTimeout(err) {
		t.Fatalf("open connection after Cut: %v, want it closed (not a timeout)", err)
	}
	fresh := dial(t, p)
	if _, err := fresh.roundTrip("new", 2*time.Second); err == nil || isTimeout(err) {
		t.Fatalf("new connection during Cut: %v, want it closed", err)
	}
	p.Pass()
	if got, err := dial(t, p).roundTrip("back", 2*time.Second); err != nil || got != "back" {
		t.Fatalf("after Pass: %q, %v", got, err)
	}
}

func TestHangHoldsBytesUntilPass(t *testing.T) {
	p := start(t)
	open := dial(t, p)
	if _, err := open.roundTrip("hi", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Hang()
	if _, err := open.roundTrip("held", 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("during Hang: %v, want a timeout", err)
	}
	fresh := dial(t, p) // accepted, but nothing goes through
	if _, err := fresh.roundTrip("held too", 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("new connection during Hang: %v, want a timeout", err)
	}
	p.Pass()
	// What was held is delivered now.
	for _, c := range []conn{open, fresh} {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if got, err := c.r.ReadString('\n'); err != nil || !strings.HasPrefix(got, "held") {
			t.Fatalf("after Pass: %q, %v, want the held line", got, err)
		}
	}
}

func TestStallDelaysBytes(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	const delay = 150 * time.Millisecond
	p.Stall(delay)
	if m, d := p.Mode(); m != Stall || d != delay {
		t.Fatalf("mode %v %s, want stall %s", m, d, delay)
	}
	began := time.Now()
	if got, err := c.roundTrip("slow", 3*time.Second); err != nil || got != "slow" {
		t.Fatalf("during Stall: %q, %v", got, err)
	}
	// Delayed on the way there and on the way back.
	if took := time.Since(began); took < 2*delay {
		t.Fatalf("round trip took %s during a %s stall, want at least %s", took, delay, 2*delay)
	}
}

func TestUpstreamDownEndsTheClientConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	p, err := New(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := dial(t, p).roundTrip("anyone?", 2*time.Second); err == nil || isTimeout(err) {
		t.Fatalf("upstream down: %v, want the connection ended", err)
	}
}

func TestCloseEndsHeldConnections(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	p.Hang()
	io.WriteString(c, "held\n")
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not return with a hung connection open")
	}
	if _, err := c.roundTrip("after close", 2*time.Second); err == nil || isTimeout(err) {
		t.Fatalf("after Close: %v, want the connection ended", err)
	}
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
