package e2e

// The handover under load: an old and a new process on the same data dir and
// port, every request of an authenticated load accounted for.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// outcome classifies one request of the handover load. Every request
// goes on a new connection, so how far it got (connected, request written,
// first response byte: an httptrace) and how it failed (the error's errno
// and text) say who, if anyone, could have acted on it.
type outcome int

const (
	// outcomeOK: a complete response (any status) was read.
	outcomeOK outcome = iota
	// outcomeRefused: no connection: the connect was refused (or reset
	// during the handshake) because no process was listening on the port.
	// The request never left the client. This is the expected gap between
	// the old process closing its listener and the new one binding; a
	// client, or Railway's edge, retries it safely.
	outcomeRefused
	// outcomeNotSent: connected, but the connection failed before the whole
	// request was written. No server can act on an incomplete request, so
	// this too is safe to retry.
	outcomeNotSent
	// outcomeResetUnanswered: the whole request was written, then the
	// connection was reset (RST) before any response byte. The client
	// cannot tell whether a server acted on it. It is what the kernel does
	// to connections still waiting in a listener's accept queue when the
	// listener closes: they were never accepted, so no process read them.
	// It counts as that (and not as a failure) only inside the handover
	// window and only if the processes' request logs show that every
	// avatar request they handled got its response to the client; anything
	// else makes it a failure.
	outcomeResetUnanswered
	// outcomeEOFUnanswered: the whole request was written, then the server
	// closed the connection (EOF) without a response byte. Only a process
	// that accepted the connection can close it gracefully, so a server
	// dropped a request it had taken: a failure.
	outcomeEOFUnanswered
	// outcomeMidResponse: a response had begun and the connection broke
	// before it was complete: a failure.
	outcomeMidResponse
	// outcomeOtherError: anything else (a timeout, another dial error): a
	// failure.
	outcomeOtherError
)

var outcomeNames = map[outcome]string{
	outcomeOK:              "ok",
	outcomeRefused:         "refused",
	outcomeNotSent:         "failed while sending",
	outcomeResetUnanswered: "reset after the request, before a response",
	outcomeEOFUnanswered:   "closed (EOF) after the request, before a response",
	outcomeMidResponse:     "broken mid-response",
	outcomeOtherError:      "other error",
}

// loadResult is one request's outcome.
type loadResult struct {
	outcome outcome
	status  int
	body    []byte
	err     error
}

// doTraced sends one request on a new connection and classifies what
// happened.
func doTraced(c *http.Client, method, url, cookie string, body []byte) loadResult {
	var mu sync.Mutex
	var connected, wrote, firstByte bool
	trace := &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { mu.Lock(); connected = true; mu.Unlock() },
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			mu.Lock()
			wrote = i.Err == nil
			mu.Unlock()
		},
		GotFirstResponseByte: func() { mu.Lock(); firstByte = true; mu.Unlock() },
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), method, url, rd)
	if err != nil {
		return loadResult{outcome: outcomeOtherError, err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := c.Do(req)
	var data []byte
	if err == nil {
		data, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if err == nil {
		return loadResult{outcome: outcomeOK, status: resp.StatusCode, body: data}
	}
	r := loadResult{err: err}
	if resp != nil {
		r.status = resp.StatusCode
	}
	msg := err.Error()
	refused := errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(msg, "connection refused")
	reset := errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		strings.Contains(msg, "connection reset") || strings.Contains(msg, "broken pipe")
	eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.HasSuffix(msg, "EOF")
	switch {
	case !connected && (refused || reset):
		r.outcome = outcomeRefused
	case !connected:
		r.outcome = outcomeOtherError
	case firstByte || resp != nil:
		r.outcome = outcomeMidResponse
	case (reset || eof) && !wrote:
		r.outcome = outcomeNotSent
	case reset:
		r.outcome = outcomeResetUnanswered
	case eof:
		r.outcome = outcomeEOFUnanswered
	default:
		r.outcome = outcomeOtherError
	}
	return r
}

// avatarLogRE matches a process's request-log line for an avatar
// GET or PUT (text log format).
var avatarLogRE = regexp.MustCompile(`msg=request method=(?:GET|PUT) path=/community/avatar\s`)

// loadEvent is one request of the load: when it started and ended.
type loadEvent struct {
	start, at time.Time
	user      string
	method    string
	res       loadResult
}

// refusedGap is the longest time during which connects to the port were
// refused, as seen by a prober connecting every millisecond: from the last
// accepted connect before a run of refusals to the first accepted after it.
type refusedGap struct {
	longest        time.Duration
	start, end     time.Time
	refusedConnect int
}

// probeRefusals connects to port every interval until stop closes and returns
// the longest refused stretch.
func probeRefusals(port int, interval time.Duration, stop <-chan struct{}) refusedGap {
	var g refusedGap
	var lastOK time.Time
	inRun := false
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for {
		select {
		case <-stop:
			return g
		default:
		}
		now := time.Now()
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		switch {
		case err == nil:
			conn.Close()
			if inRun && !lastOK.IsZero() {
				if d := now.Sub(lastOK); d > g.longest {
					g.longest, g.start, g.end = d, lastOK, now
				}
			}
			inRun = false
			lastOK = now
		case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET):
			inRun = true
			g.refusedConnect++
		}
		time.Sleep(interval)
	}
}

// TestDeployHandover is a redeploy on one host: while a load of
// authenticated avatar reads and writes runs, a new process B starts on the
// same data dir and port (it waits for the data dir lock and only binds once
// it has it), the old process A gets SIGTERM, drains, closes the store and
// exits 0, and B takes over. No request that got a response got a 5xx, none
// broke after it was sent, and every acknowledged write is what B serves.
func TestDeployHandover(t *testing.T) {
	root := testbin.Root(t)
	dataDir := filepath.Join(root, "data")
	env := keyedEnv(t, dataDir)

	a := serve(t, "A", root, env, nil)
	a.WaitHealthy(20 * time.Second)
	port, base := a.Port(), a.Base()

	c := oneShotClient(5 * time.Second)
	ids := testbin.Catalogue(t, c, base)
	users := []string{"ada", "bob", "cyd", "dee"}
	cookies := map[string]string{}
	for _, u := range users {
		cookies[u] = testbin.SessionCookie + "=" + testbin.Signup(t, c, base, u, "staple battery horse")
	}

	// The load: one goroutine per user, each alternating PUT (a different
	// avatar each time) and GET. A user's writes are sequential, so after
	// an acknowledged PUT every later successful GET must show that avatar
	// until the next acknowledged PUT, whichever process answers.
	var (
		mu        sync.Mutex
		events    []loadEvent
		lastAck   = map[string]string{}
		ambiguous = map[string]bool{} // a PUT's outcome is unknown
		readBack  []string            // GETs that did not show the last ack
	)
	record := func(ev loadEvent) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}
	stopLoad := make(chan struct{})
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lc := oneShotClient(5 * time.Second)
			current := "default"
			for n := i; ; n++ {
				select {
				case <-stopLoad:
					return
				default:
				}
				next := ids[n%len(ids)]
				if next == current {
					next = ids[(n+1)%len(ids)]
				}
				body, _ := json.Marshal(map[string]string{"avatar": next})
				start := time.Now()
				res := doTraced(lc, http.MethodPut, base+"/community/avatar", cookies[u], body)
				record(loadEvent{start: start, at: time.Now(), user: u, method: "PUT", res: res})
				switch {
				case res.outcome == outcomeOK && res.status == http.StatusOK:
					var got struct{ Avatar string }
					json.Unmarshal(res.body, &got)
					mu.Lock()
					if got.Avatar != next {
						readBack = append(readBack, fmt.Sprintf("%s: PUT %s answered %q", u, next, res.body))
					}
					lastAck[u] = next
					mu.Unlock()
					current = next
				case res.outcome != outcomeOK && res.outcome != outcomeRefused && res.outcome != outcomeNotSent && res.outcome != outcomeResetUnanswered:
					mu.Lock()
					ambiguous[u] = true
					mu.Unlock()
				}

				start = time.Now()
				res = doTraced(lc, http.MethodGet, base+"/community/avatar", cookies[u], nil)
				record(loadEvent{start: start, at: time.Now(), user: u, method: "GET", res: res})
				if res.outcome == outcomeOK && res.status == http.StatusOK {
					var got struct{ Avatar string }
					json.Unmarshal(res.body, &got)
					mu.Lock()
					want, ok := lastAck[u]
					if !ok {
						want = "default"
					}
					if !ambiguous[u] && got.Avatar != want {
						readBack = append(readBack, fmt.Sprintf("%s: GET showed %q after %q was acknowledged", u, got.Avatar, want))
					}
					mu.Unlock()
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	stopProbe := make(chan struct{})
	gapc := make(chan refusedGap, 1)
	go func() { gapc <- probeRefusals(port, time.Millisecond, stopProbe) }()

	time.Sleep(400 * time.Millisecond)

	// B starts on the same data dir and port while A serves: it must wait
	// for the lock, not bind.
	b := serve(t, "B", root, env, nil)
	b.WaitOutput("locked", 15*time.Second)
	time.Sleep(300 * time.Millisecond)
	if strings.Contains(b.Output(), "listening") {
		t.Fatalf("B bound the port while A still held the data dir")
	}

	termAt := time.Now()
	a.Signal(syscall.SIGTERM)
	b.WaitOutput("listening", 30*time.Second)
	b.WaitHealthy(10 * time.Second)
	healthyAt := time.Now()
	if code := a.WaitExit(15 * time.Second); code != 0 {
		t.Errorf("A exited with status %d after SIGTERM, want 0", code)
	}

	time.Sleep(time.Second) // the load keeps running against B
	close(stopLoad)
	wg.Wait()
	close(stopProbe)
	gap := <-gapc

	// Reconcile: every avatar request a process handled (its request log
	// line, written after the handler returned) must have reached the
	// client as a response. Then a reset-before-response cannot be a
	// request some process handled: it was never accepted.
	time.Sleep(500 * time.Millisecond) // B's last log lines (access lines are written at least every 100 ms)
	handled := len(avatarLogRE.FindAllString(a.Output(), -1)) +
		len(avatarLogRE.FindAllString(b.Output(), -1))

	// Tally.
	counts := map[outcome]int{}
	statuses := map[int]int{}
	var failures []string
	for _, ev := range events {
		counts[ev.res.outcome]++
		if ev.res.outcome == outcomeOK {
			statuses[ev.res.status]++
		}
	}
	answered := counts[outcomeOK]
	reconciled := handled == answered
	for _, ev := range events {
		// The handover window: the request overlapped the time between
		// A's SIGTERM and B answering its health check. (A refused
		// connect can only happen after A closed its listener, which is
		// after SIGTERM, and before B bound, which is before healthyAt.)
		inWindow := !ev.at.Before(termAt) && !ev.start.After(healthyAt)
		switch o := ev.res.outcome; {
		case o == outcomeOK && ev.res.status >= 500:
			failures = append(failures, fmt.Sprintf("%s %s %s: status %d: %s", ev.at.Format("15:04:05.000"), ev.user, ev.method, ev.res.status, ev.res.body))
		case o == outcomeOK && ev.res.status != http.StatusOK:
			failures = append(failures, fmt.Sprintf("%s %s %s: status %d (want 200: the session must survive): %s", ev.at.Format("15:04:05.000"), ev.user, ev.method, ev.res.status, ev.res.body))
		case o == outcomeOK:
		case (o == outcomeRefused || o == outcomeNotSent) && inWindow:
		case o == outcomeResetUnanswered && inWindow && reconciled:
		default:
			why := ""
			if !inWindow {
				why = " (outside the handover window)"
			} else if o == outcomeResetUnanswered {
				why = fmt.Sprintf(" (the processes logged %d avatar requests but the client got %d responses)", handled, answered)
			}
			failures = append(failures, fmt.Sprintf("%s %s %s: %s%s: %v", ev.at.Format("15:04:05.000"), ev.user, ev.method, outcomeNames[o], why, ev.res.err))
		}
	}
	if !reconciled {
		failures = append(failures, fmt.Sprintf("the processes logged %d avatar requests, the client got %d responses: a handled request lost its response", handled, answered))
	}
	var tally []string
	for o := outcomeOK; o <= outcomeOtherError; o++ {
		if counts[o] > 0 {
			tally = append(tally, fmt.Sprintf("%s=%d", outcomeNames[o], counts[o]))
		}
	}
	t.Logf("load: %d requests: %s; statuses %v; avatar requests in the processes' logs: %d", len(events), strings.Join(tally, " "), statuses, handled)
	t.Logf("handover: SIGTERM to A -> B healthy in %s", healthyAt.Sub(termAt).Round(time.Millisecond))
	if gap.longest > 0 {
		t.Logf("handover gap (longest time connects to :%d were refused): %d ms (%s -> %s; %d refused probe connects)",
			port, gap.longest.Milliseconds(), gap.start.Format("15:04:05.000"), gap.end.Format("15:04:05.000"), gap.refusedConnect)
	} else {
		t.Logf("handover gap: no refused connect seen by the 1 ms prober")
	}
	if len(failures) > 0 {
		if len(failures) > 20 {
			failures = append(failures[:20], fmt.Sprintf("... and %d more", len(failures)-20))
		}
		t.Errorf("%d failed requests during the handover:\n%s", len(failures), strings.Join(failures, "\n"))
	}
	if len(readBack) > 0 {
		t.Errorf("reads that did not show the last acknowledged write:\n%s", strings.Join(readBack, "\n"))
	}
	if statuses[http.StatusOK] == 0 {
		t.Fatalf("the load got no successful response at all")
	}

	// Every user's last acknowledged avatar is what B serves.
	for _, u := range users {
		res := doTraced(c, http.MethodGet, base+"/community/avatar", cookies[u], nil)
		var got struct{ Avatar string }
		json.Unmarshal(res.body, &got)
		want := lastAck[u]
		if want == "" {
			t.Errorf("%s: no write was acknowledged at all", u)
			continue
		}
		if res.outcome != outcomeOK || res.status != http.StatusOK || got.Avatar != want {
			t.Errorf("%s on B: %s status %d avatar %q, want 200 and the last acknowledged %q", u, outcomeNames[res.outcome], res.status, got.Avatar, want)
		}
	}

	b.Signal(syscall.SIGTERM)
	if code := b.WaitExit(15 * time.Second); code != 0 {
		t.Errorf("B exited with status %d after SIGTERM, want 0", code)
	}
}
