package e2e

// Graceful shutdown: SIGTERM drains in-flight requests within
// SHUTDOWN_TIMEOUT and exits 0.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// TestGracefulShutdown: a request in flight when SIGTERM arrives completes
// with its normal answer, requests racing the shutdown never get a 5xx, and
// the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	root := testbin.Root(t)
	c := testbin.Client(t)
	p := testbin.Start(t, "graceful", testbin.ServerEnv(t, filepath.Join(root, "data"), nil))
	cookie := testbin.Signup(t, c, p.Base(), "erin", "staple battery horse")

	// The in-flight request.
	body := `{"avatar":"fox"}`
	conn, br := heldPut(t, p, cookie, len(body))

	// Requests racing the shutdown.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var answered, failed atomic.Int64
	for i := range 6 {
		wg.Go(func() {
			for !stop.Load() {
				path, ck := "/healthz", ""
				if i%2 == 1 {
					path, ck = "/community/avatar", cookie
				}
				r, err := testbin.Do(c, http.MethodGet, p.Base()+path, ck, "", nil)
				if err != nil {
					failed.Add(1)
					time.Sleep(5 * time.Millisecond)
					continue
				}
				answered.Add(1)
				if r.Status >= 500 {
					t.Errorf("GET %s during shutdown: %d %s", path, r.Status, r.Body)
				}
			}
		})
	}
	waitFor(t, 5*time.Second, "racing requests to get answers", func() bool { return answered.Load() >= 20 })

	p.Signal(syscall.SIGTERM)
	p.WaitOutput("shutting down", 5*time.Second)
	// The listener is closed once nobody new gets in.
	waitFor(t, 5*time.Second, "the listener to close", func() bool {
		cn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p.Port()), time.Second)
		if err == nil {
			cn.Close()
			return false
		}
		return true
	})
	stop.Store(true)
	wg.Wait()
	if p.Exited() {
		t.Fatalf("the process exited with a request in flight:\n%s", p.Output())
	}

	// Finish the held-back request: it gets its normal answer.
	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the in-flight response: %v", err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(rb), `"fox"`) {
		t.Fatalf("in-flight PUT: %d %s, want 200 with fox", resp.StatusCode, rb)
	}
	code, ok := p.Wait(10 * time.Second)
	if !ok || code != 0 {
		t.Fatalf("after SIGTERM: exited=%v status %d, want 0:\n%s", ok, code, p.Output())
	}
	t.Logf("%d racing requests answered, %d refused after the listener closed", answered.Load(), failed.Load())

	// The write completed during shutdown is durable.
	p = testbin.Start(t, "graceful-after", testbin.ServerEnv(t, filepath.Join(root, "data"), testbin.Env{"SHUTDOWN_TIMEOUT": "1s"}))
	if a, _ := testbin.GetAvatar(t, c, p.Base(), cookie); a.Avatar != "fox" {
		t.Fatalf("after restart: avatar %q, want fox", a.Avatar)
	}

	// A request that never finishes holds the shutdown up for
	// SHUTDOWN_TIMEOUT only; the process still exits 0.
	heldPut(t, p, cookie, len(body))
	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	code, ok = p.Wait(8 * time.Second)
	took := time.Since(sent)
	if !ok || code != 0 {
		t.Fatalf("stuck request, SHUTDOWN_TIMEOUT=1s: exited=%v status %d, want 0:\n%s", ok, code, p.Output())
	}
	if took < 900*time.Millisecond {
		t.Errorf("exited %s after SIGTERM with a request in flight, before SHUTDOWN_TIMEOUT=1s", took)
	}
	t.Logf("with a stuck request and SHUTDOWN_TIMEOUT=1s, exited %s after SIGTERM", took.Round(time.Millisecond))
}

// heldPut starts a PUT /community/avatar whose body of bodyLen bytes the
// caller sends later, and returns once the handler is reading it: "Expect:
// 100-continue" makes the server say so.
func heldPut(t *testing.T, p *testbin.Proc, cookie string, bodyLen int) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p.Port()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "PUT /community/avatar HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: sb_session=%s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n", cookie, bodyLen)
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || !strings.Contains(line, " 100 ") {
		t.Fatalf("want 100 Continue, got %q (%v)", line, err)
	}
	if _, err := br.ReadString('\n'); err != nil { // the blank line after it
		t.Fatal(err)
	}
	return conn, br
}
