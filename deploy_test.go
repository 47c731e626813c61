package main

// Deploy tests: the real binary started the way Railway and `docker run`
// start it (as root, on a root-owned data dir, SIGTERM on redeploy), and the
// deploy files (Dockerfile, railway.json, .railway/railway.ts) checked
// against each other, the README and the binary.
//
// The binary is internal/testbin's build, made with the Dockerfile's flags.
// Tests run as root here and in CI, and the binary started as root drops to
// uid 65532, so every directory the binary touches sits inside a 0755
// testbin.Root directory (t.TempDir's parents are 0700, which 65532 cannot
// traverse). Every helper here is prefixed with "deploy".

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// deployUID is the uid/gid the binary drops to (privileges.go's unprivileged).
const deployUID = 65532

// deployEnv is the binary's whole environment (testbin.Env inherits
// nothing, so no RAILWAY_*, SECRET_KEY or DATA_DIR of the machine running the
// tests leaks in): a fresh port and key, dataDir, text logs.
func deployEnv(t *testing.T, dataDir string) testbin.Env {
	t.Helper()
	return testbin.ServerEnv(t, dataDir, testbin.Env{
		"SECRET_KEY":        testbin.Key(t),
		"LOG_FORMAT":        "text",
		"DATA_LOCK_TIMEOUT": "30s",
	})
}

// deployStart starts `soulbridge serve` as the platform does: with exactly
// env, in workDir (not this repository, so no deploy file is at hand), as the
// user attr names (nil: the test's own, root).
func deployStart(t *testing.T, name, workDir string, env testbin.Env, attr *syscall.SysProcAttr) *testbin.Proc {
	t.Helper()
	return testbin.SpawnWith(t, name, env, testbin.Options{Dir: workDir, SysProcAttr: attr}, "serve")
}

// deployClient is an HTTP client that follows no redirects and opens a new
// connection for every request, so that each request's transport error can
// be pinned on the process that was (or was not) listening when it was sent.
func deployClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// deployOutcome classifies one request of the handover load. Every request
// goes on a new connection, so how far it got (connected, request written,
// first response byte: an httptrace) and how it failed (the error's errno
// and text) say who, if anyone, could have acted on it.
type deployOutcome int

const (
	// deployOK: a complete response (any status) was read.
	deployOK deployOutcome = iota
	// deployRefused: no connection: the connect was refused (or reset
	// during the handshake) because no process was listening on the port.
	// The request never left the client. This is the expected gap between
	// the old process closing its listener and the new one binding; a
	// client, or Railway's edge, retries it safely.
	deployRefused
	// deployNotSent: connected, but the connection failed before the whole
	// request was written. No server can act on an incomplete request, so
	// this too is safe to retry.
	deployNotSent
	// deployResetUnanswered: the whole request was written, then the
	// connection was reset (RST) before any response byte. The client
	// cannot tell whether a server acted on it. It is what the kernel does
	// to connections still waiting in a listener's accept queue when the
	// listener closes: they were never accepted, so no process read them.
	// It counts as that (and not as a failure) only inside the handover
	// window and only if the processes' request logs show that every
	// avatar request they handled got its response to the client; anything
	// else makes it a failure.
	deployResetUnanswered
	// deployEOFUnanswered: the whole request was written, then the server
	// closed the connection (EOF) without a response byte. Only a process
	// that accepted the connection can close it gracefully, so a server
	// dropped a request it had taken: a failure.
	deployEOFUnanswered
	// deployMidResponse: a response had begun and the connection broke
	// before it was complete: a failure.
	deployMidResponse
	// deployOtherError: anything else (a timeout, another dial error): a
	// failure.
	deployOtherError
)

var deployOutcomeNames = map[deployOutcome]string{
	deployOK:              "ok",
	deployRefused:         "refused",
	deployNotSent:         "failed while sending",
	deployResetUnanswered: "reset after the request, before a response",
	deployEOFUnanswered:   "closed (EOF) after the request, before a response",
	deployMidResponse:     "broken mid-response",
	deployOtherError:      "other error",
}

// deployResult is one request's outcome.
type deployResult struct {
	outcome deployOutcome
	status  int
	body    []byte
	err     error
}

// deployDo sends one request on a new connection and classifies what
// happened.
func deployDo(c *http.Client, method, url, cookie string, body []byte) deployResult {
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
		return deployResult{outcome: deployOtherError, err: err}
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
		return deployResult{outcome: deployOK, status: resp.StatusCode, body: data}
	}
	r := deployResult{err: err}
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
		r.outcome = deployRefused
	case !connected:
		r.outcome = deployOtherError
	case firstByte || resp != nil:
		r.outcome = deployMidResponse
	case (reset || eof) && !wrote:
		r.outcome = deployNotSent
	case reset:
		r.outcome = deployResetUnanswered
	case eof:
		r.outcome = deployEOFUnanswered
	default:
		r.outcome = deployOtherError
	}
	return r
}

// deployAvatarLogRE matches a process's request-log line for an avatar
// GET or PUT (text log format).
var deployAvatarLogRE = regexp.MustCompile(`msg=request method=(?:GET|PUT) path=/community/avatar\s`)

// deployEvent is one request of the load: when it started and ended.
type deployEvent struct {
	start, at time.Time
	user      string
	method    string
	res       deployResult
}

// deployGap is the longest time during which connects to the port were
// refused, as seen by a prober connecting every millisecond: from the last
// accepted connect before a run of refusals to the first accepted after it.
type deployGap struct {
	longest        time.Duration
	start, end     time.Time
	refusedConnect int
}

// deployProbe connects to port every interval until stop closes and returns
// the longest refused stretch.
func deployProbe(port int, interval time.Duration, stop <-chan struct{}) deployGap {
	var g deployGap
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
	env := deployEnv(t, dataDir)

	a := deployStart(t, "A", root, env, nil)
	a.WaitHealthy(20 * time.Second)
	port, base := a.Port(), a.Base()

	c := deployClient(5 * time.Second)
	ids := testbin.Catalogue(t, c, base)
	users := []string{"ada", "bob", "cyd", "dee"}
	cookies := map[string]string{}
	for _, u := range users {
		cookies[u] = testbin.SessionCookie + "=" + testbin.Signup(t, c, base, u, u+"-password")
	}

	// The load: one goroutine per user, each alternating PUT (a different
	// avatar each time) and GET. A user's writes are sequential, so after
	// an acknowledged PUT every later successful GET must show that avatar
	// until the next acknowledged PUT, whichever process answers.
	var (
		mu        sync.Mutex
		events    []deployEvent
		lastAck   = map[string]string{}
		ambiguous = map[string]bool{} // a PUT's outcome is unknown
		readBack  []string            // GETs that did not show the last ack
	)
	record := func(ev deployEvent) {
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
			lc := deployClient(5 * time.Second)
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
				res := deployDo(lc, http.MethodPut, base+"/community/avatar", cookies[u], body)
				record(deployEvent{start: start, at: time.Now(), user: u, method: "PUT", res: res})
				switch {
				case res.outcome == deployOK && res.status == http.StatusOK:
					var got struct{ Avatar string }
					json.Unmarshal(res.body, &got)
					mu.Lock()
					if got.Avatar != next {
						readBack = append(readBack, fmt.Sprintf("%s: PUT %s answered %q", u, next, res.body))
					}
					lastAck[u] = next
					mu.Unlock()
					current = next
				case res.outcome != deployOK && res.outcome != deployRefused && res.outcome != deployNotSent && res.outcome != deployResetUnanswered:
					mu.Lock()
					ambiguous[u] = true
					mu.Unlock()
				}

				start = time.Now()
				res = deployDo(lc, http.MethodGet, base+"/community/avatar", cookies[u], nil)
				record(deployEvent{start: start, at: time.Now(), user: u, method: "GET", res: res})
				if res.outcome == deployOK && res.status == http.StatusOK {
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
	gapc := make(chan deployGap, 1)
	go func() { gapc <- deployProbe(port, time.Millisecond, stopProbe) }()

	time.Sleep(400 * time.Millisecond)

	// B starts on the same data dir and port while A serves: it must wait
	// for the lock, not bind.
	b := deployStart(t, "B", root, env, nil)
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
	time.Sleep(200 * time.Millisecond) // B's last log lines
	handled := len(deployAvatarLogRE.FindAllString(a.Output(), -1)) +
		len(deployAvatarLogRE.FindAllString(b.Output(), -1))

	// Tally.
	counts := map[deployOutcome]int{}
	statuses := map[int]int{}
	var failures []string
	for _, ev := range events {
		counts[ev.res.outcome]++
		if ev.res.outcome == deployOK {
			statuses[ev.res.status]++
		}
	}
	answered := counts[deployOK]
	reconciled := handled == answered
	for _, ev := range events {
		// The handover window: the request overlapped the time between
		// A's SIGTERM and B answering its health check. (A refused
		// connect can only happen after A closed its listener, which is
		// after SIGTERM, and before B bound, which is before healthyAt.)
		inWindow := !ev.at.Before(termAt) && !ev.start.After(healthyAt)
		switch o := ev.res.outcome; {
		case o == deployOK && ev.res.status >= 500:
			failures = append(failures, fmt.Sprintf("%s %s %s: status %d: %s", ev.at.Format("15:04:05.000"), ev.user, ev.method, ev.res.status, ev.res.body))
		case o == deployOK && ev.res.status != http.StatusOK:
			failures = append(failures, fmt.Sprintf("%s %s %s: status %d (want 200: the session must survive): %s", ev.at.Format("15:04:05.000"), ev.user, ev.method, ev.res.status, ev.res.body))
		case o == deployOK:
		case (o == deployRefused || o == deployNotSent) && inWindow:
		case o == deployResetUnanswered && inWindow && reconciled:
		default:
			why := ""
			if !inWindow {
				why = " (outside the handover window)"
			} else if o == deployResetUnanswered {
				why = fmt.Sprintf(" (the processes logged %d avatar requests but the client got %d responses)", handled, answered)
			}
			failures = append(failures, fmt.Sprintf("%s %s %s: %s%s: %v", ev.at.Format("15:04:05.000"), ev.user, ev.method, deployOutcomeNames[o], why, ev.res.err))
		}
	}
	if !reconciled {
		failures = append(failures, fmt.Sprintf("the processes logged %d avatar requests, the client got %d responses: a handled request lost its response", handled, answered))
	}
	var tally []string
	for o := deployOK; o <= deployOtherError; o++ {
		if counts[o] > 0 {
			tally = append(tally, fmt.Sprintf("%s=%d", deployOutcomeNames[o], counts[o]))
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
		res := deployDo(c, http.MethodGet, base+"/community/avatar", cookies[u], nil)
		var got struct{ Avatar string }
		json.Unmarshal(res.body, &got)
		want := lastAck[u]
		if want == "" {
			t.Errorf("%s: no write was acknowledged at all", u)
			continue
		}
		if res.outcome != deployOK || res.status != http.StatusOK || got.Avatar != want {
			t.Errorf("%s on B: %s status %d avatar %q, want 200 and the last acknowledged %q", u, deployOutcomeNames[res.outcome], res.status, got.Avatar, want)
		}
	}

	b.Signal(syscall.SIGTERM)
	if code := b.WaitExit(15 * time.Second); code != 0 {
		t.Errorf("B exited with status %d after SIGTERM, want 0", code)
	}
}

// deployRequireRoot skips a test that needs root, except in CI (CI set),
// where running without root would silently drop the check, so it fails.
func deployRequireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("this test must run as root in CI (euid %d)", os.Geteuid())
	}
	t.Skipf("needs root to start the binary as root / as another uid (euid %d)", os.Geteuid())
}

// deployProcIDs reads the Uid:, Gid: and Groups: lines of /proc/PID/status.
func deployProcIDs(t *testing.T, pid int) (uids, gids, groups []string) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch k {
		case "Uid":
			uids = strings.Fields(v)
		case "Gid":
			gids = strings.Fields(v)
		case "Groups":
			groups = strings.Fields(v)
		}
	}
	return uids, gids, groups
}

// TestPrivilegeDropAsRoot: started as root on a root-owned data dir (as on
// Railway), the serving process runs as 65532 (real, effective, saved and
// filesystem ids, and no other groups) and everything in the data dir
// belongs to 65532.
func TestPrivilegeDropAsRoot(t *testing.T) {
	deployRequireRoot(t)
	root := testbin.Root(t)
	dataDir := filepath.Join(root, "data")
	if err := os.Mkdir(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A root-owned file already in the volume must be handed over too.
	if err := os.WriteFile(filepath.Join(dataDir, "left-by-root"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := deployStart(t, "root-start", root, deployEnv(t, dataDir), nil)
	p.WaitHealthy(20 * time.Second)

	want := strconv.Itoa(deployUID)
	uids, gids, groups := deployProcIDs(t, p.PID())
	if len(uids) != 4 || slices.ContainsFunc(uids, func(s string) bool { return s != want }) {
		t.Errorf("/proc/%d/status Uid: %v, want %s for real, effective, saved and filesystem", p.PID(), uids, want)
	}
	if len(gids) != 4 || slices.ContainsFunc(gids, func(s string) bool { return s != want }) {
		t.Errorf("/proc/%d/status Gid: %v, want %s for all four", p.PID(), gids, want)
	}
	if slices.ContainsFunc(groups, func(s string) bool { return s != want }) {
		t.Errorf("/proc/%d/status Groups: %v, want none but %s (root's groups must be dropped)", p.PID(), groups, want)
	}

	testbin.Signup(t, deployClient(5*time.Second), p.Base(), "rootless", "rootless-password")

	var files int
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != deployUID || st.Gid != deployUID {
			t.Errorf("%s is owned by %d:%d, want %d:%d", path, st.Uid, st.Gid, deployUID, deployUID)
		}
		files++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Errorf("walked only %d entries in the data dir; the store's files are missing", files)
	}

	p.Signal(syscall.SIGTERM)
	if code := p.WaitExit(15 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
}

// TestUnwritableDataDir: started as an unprivileged uid (as with
// RAILWAY_RUN_UID or docker run --user) on a root-owned data dir, the binary
// exits non-zero at once, without binding, and says how to fix it.
func TestUnwritableDataDir(t *testing.T) {
	deployRequireRoot(t)
	root := testbin.Root(t)
	dataDir := filepath.Join(root, "data")
	if err := os.Mkdir(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	attr := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65533, Gid: 65533}}
	p := deployStart(t, "uid-65533", root, deployEnv(t, dataDir), attr)
	code := p.WaitExit(10 * time.Second)
	out := p.Output()
	if code == 0 {
		t.Fatalf("exit status 0 on an unwritable data dir; output:\n%s", out)
	}
	for _, want := range []string{dataDir, "DATA_DIR"} {
		if !strings.Contains(out, want) {
			t.Errorf("the error does not mention %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "chown") && !strings.Contains(out, "RAILWAY_RUN_UID") {
		t.Errorf("the error names no fix (chown or RAILWAY_RUN_UID):\n%s", out)
	}
	if strings.Contains(out, "listening") {
		t.Errorf("the binary bound the port before failing:\n%s", out)
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) > 0 {
		t.Errorf("the unwritable data dir got %d entries", len(entries))
	}
}

// deployReadRepoFile reads a file of this repository (tests run in the
// package directory, the repository root).
func deployReadRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// deployStripTSComments removes // comments (whole-line and trailing) so
// that only code is matched.
func deployStripTSComments(src string) string {
	src = regexp.MustCompile(`(?m)^\s*//.*$`).ReplaceAllString(src, "")
	return regexp.MustCompile(`(?m)\s+//.*$`).ReplaceAllString(src, "")
}

// TestRailwayJSON checks railway.json's fields and types, that the binary
// answers its healthcheck path with 200 (started from a directory with no
// railway.json and with no RAILWAY_* variables: neither deploy file is
// needed to run), and that .railway/railway.ts carries the same settings.
func TestRailwayJSON(t *testing.T) {
	dec := json.NewDecoder(strings.NewReader(deployReadRepoFile(t, "railway.json")))
	dec.UseNumber()
	var rj struct {
		Schema string                     `json:"$schema"`
		Build  map[string]any             `json:"build"`
		Deploy map[string]json.RawMessage `json:"deploy"`
	}
	if err := dec.Decode(&rj); err != nil {
		t.Fatalf("railway.json: %v", err)
	}
	if rj.Schema != "https://railway.com/railway.schema.json" {
		t.Errorf("$schema = %q", rj.Schema)
	}
	if rj.Build["builder"] != "DOCKERFILE" {
		t.Errorf("build.builder = %v, want DOCKERFILE", rj.Build["builder"])
	}
	if p, _ := rj.Build["dockerfilePath"].(string); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("build.dockerfilePath %q: %v", p, err)
		}
	}
	str := func(k string) string {
		var s string
		if err := json.Unmarshal(rj.Deploy[k], &s); err != nil {
			t.Errorf("deploy.%s = %s: want a string", k, rj.Deploy[k])
		}
		return s
	}
	// num insists on a JSON number: Railway rejects "20" (a string) with
	// "Expected number, received string".
	num := func(k string) float64 {
		raw := strings.TrimSpace(string(rj.Deploy[k]))
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			t.Errorf("deploy.%s = %s: want a JSON number", k, raw)
		}
		return f
	}
	healthPath := str("healthcheckPath")
	if healthPath != "/healthz" {
		t.Errorf("deploy.healthcheckPath = %q, want /healthz", healthPath)
	}
	healthTimeout := num("healthcheckTimeout")
	if healthTimeout <= 0 {
		t.Errorf("deploy.healthcheckTimeout = %v, want > 0", healthTimeout)
	}
	if got := str("restartPolicyType"); got != "ON_FAILURE" {
		t.Errorf("deploy.restartPolicyType = %q, want ON_FAILURE", got)
	}
	if got := num("restartPolicyMaxRetries"); got <= 0 {
		t.Errorf("deploy.restartPolicyMaxRetries = %v, want > 0", got)
	}
	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatalf("default config: %v", err)
	}
	draining := num("drainingSeconds")
	if draining < 10 || draining <= cfg.ShutdownTimeout.Seconds() {
		t.Errorf("deploy.drainingSeconds = %v, want >= 10 and > the default SHUTDOWN_TIMEOUT (%s), or Railway's SIGKILL cuts the drain short",
			draining, cfg.ShutdownTimeout)
	}
	if got := str("requiredMountPath"); got != "/data" {
		t.Errorf("deploy.requiredMountPath = %q, want /data", got)
	}

	// The binary answers the healthcheck path, run with no deploy files.
	root := testbin.Root(t)
	for _, f := range []string{"railway.json", "railway.toml", ".railway"} {
		if _, err := os.Stat(filepath.Join(root, f)); err == nil {
			t.Fatalf("%s exists in the fresh working dir", f)
		}
	}
	p := deployStart(t, "no-deploy-files", root, deployEnv(t, filepath.Join(root, "data")), nil)
	p.WaitHealthy(20 * time.Second)
	c := deployClient(5 * time.Second)
	for _, path := range []string{healthPath, "/readyz"} {
		resp, err := c.Get(p.Base() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d %s, want 200", path, resp.StatusCode, body)
		}
		if path == "/readyz" && !strings.Contains(string(body), `"version":"`+testbin.Version+`"`) {
			t.Errorf("GET /readyz = %s, want the linker-stamped version %s", body, testbin.Version)
		}
	}
	p.Signal(syscall.SIGTERM)
	if code := p.WaitExit(15 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}

	// .railway/railway.ts names the same settings (read as text, comments
	// removed).
	ts := deployStripTSComments(deployReadRepoFile(t, filepath.Join(".railway", "railway.ts")))
	checks := []struct {
		what string
		re   string
	}{
		{"the railway/iac import", `from\s+["']railway/iac["']`},
		{"defineRailway", `export\s+default\s+defineRailway\(`},
		{"the Dockerfile builder", `builder\s*:\s*["']DOCKERFILE["']`},
		{"the healthcheck path " + healthPath, `healthcheck(?:Path)?\s*:\s*["']` + regexp.QuoteMeta(healthPath) + `["']`},
		{"the healthcheck timeout", `healthcheckTimeout\s*:\s*` + strconv.FormatFloat(healthTimeout, 'f', -1, 64) + `\b`},
		{"restart ON_FAILURE", `restartPolicyType\s*:\s*["']ON_FAILURE["']`},
		{"drainingSeconds " + strconv.FormatFloat(draining, 'f', -1, 64), `drainingSeconds\s*:\s*` + strconv.FormatFloat(draining, 'f', -1, 64) + `\b`},
		{"requiredMountPath /data", `requiredMountPath\s*:\s*["']/data["']`},
		{"a volume mounted at /data", `volumeMounts\s*:\s*\{[^}]*["']/data["']\s*:\s*\w+`},
		{"a volume(...) resource", `\bvolume\(\s*["'][^"']+["']`},
		{"SECRET_KEY kept in Railway", `SECRET_KEY\s*:\s*preserve\(\)`},
		{"REDIS_URL from a redis() service", `REDIS_URL\s*:\s*\w+\.env\.REDIS_URL`},
	}
	for _, c := range checks {
		if !regexp.MustCompile(c.re).MatchString(ts) {
			t.Errorf(".railway/railway.ts does not name %s (want a match for %s)", c.what, c.re)
		}
	}
	if regexp.MustCompile("SECRET_KEY\\s*:\\s*[\"'`]").MatchString(ts) {
		t.Errorf(".railway/railway.ts sets SECRET_KEY to a literal: a key must never be committed")
	}
}

// deployInstruction is one Dockerfile instruction (continuation lines
// joined).
type deployInstruction struct {
	line    int
	keyword string // upper case
	args    string
}

// deployParseDockerfile splits a Dockerfile into instructions and its
// comment text.
func deployParseDockerfile(src string) (ins []deployInstruction, comments string) {
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			comments += trimmed + "\n"
			continue
		}
		if trimmed == "" && cur.Len() == 0 {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		kw, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		ins = append(ins, deployInstruction{line: start, keyword: strings.ToUpper(kw), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return ins, comments
}

// deployShellWords splits a command line into words, honouring single and
// double quotes (enough for a go build line).
func deployShellWords(s string) []string {
	var words []string
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// deployBuildFlags returns the flags of the first `go build` in cmd, in a
// comparable form: flag names, with -ldflags expanded into its own flags and
// every -X reduced to the variable it sets (values such as the version
// differ between the README and the Dockerfile). -o and its path are left
// out. env reports whether CGO_ENABLED=0 precedes the command.
func deployBuildFlags(cmd string) (flags []string, cgoOff bool, ok bool) {
	words := deployShellWords(cmd)
	i := slices.Index(words, "build")
	if i < 1 || words[i-1] != "go" {
		return nil, false, false
	}
	for j := i - 2; j >= 0 && strings.Contains(words[j], "="); j-- {
		if words[j] == "CGO_ENABLED=0" {
			cgoOff = true
		}
	}
	for j := i + 1; j < len(words); j++ {
		w := words[j]
		switch {
		case w == "-o":
			j++
		case w == "-ldflags" && j+1 < len(words):
			j++
			ld := deployLdFields(words[j])
			for k := 0; k < len(ld); k++ {
				if ld[k] == "-X" && k+1 < len(ld) {
					k++
					name, _, _ := strings.Cut(ld[k], "=")
					flags = append(flags, "-ldflags:-X "+name)
					continue
				}
				flags = append(flags, "-ldflags:"+ld[k])
			}
		case strings.HasPrefix(w, "-"):
			flags = append(flags, w)
		case w == "&&" || w == ";" || w == "|":
			j = len(words)
		}
	}
	sort.Strings(flags)
	return flags, cgoOff, true
}

// deployLdFields splits an -ldflags value on blanks, keeping a shell
// command substitution such as $(git rev-parse --short HEAD) in one field.
func deployLdFields(s string) []string {
	var fields []string
	var cur strings.Builder
	depth := 0
	for i, r := range s {
		switch {
		case r == '(' && i > 0 && s[i-1] == '$':
			depth++
		case r == ')' && depth > 0:
			depth--
		case (r == ' ' || r == '\t') && depth == 0:
			if cur.Len() > 0 {
				fields = append(fields, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteRune(r)
	}
	if cur.Len() > 0 {
		fields = append(fields, cur.String())
	}
	return fields
}

// TestDockerfile checks the Dockerfile (no container engine runs in CI, so
// the image itself is not built there).
func TestDockerfile(t *testing.T) {
	ins, comments := deployParseDockerfile(deployReadRepoFile(t, "Dockerfile"))
	if len(ins) == 0 {
		t.Fatal("Dockerfile has no instructions")
	}
	var froms []int
	for i, in := range ins {
		if in.keyword == "FROM" {
			froms = append(froms, i)
		}
		if in.keyword == "VOLUME" {
			t.Errorf("Dockerfile:%d: VOLUME %s: Railway's builder rejects VOLUME; attach a volume at /data instead", in.line, in.args)
		}
	}
	if len(froms) < 2 {
		t.Errorf("Dockerfile has %d FROM lines, want a multi-stage build", len(froms))
	}
	final := ins[froms[len(froms)-1]:]

	// The builder uses the toolchain go.mod names.
	goLine := regexp.MustCompile(`(?m)^go\s+(\d+\.\d+)`).FindStringSubmatch(deployReadRepoFile(t, "go.mod"))
	if goLine == nil {
		t.Fatal("go.mod has no go line")
	}
	fromGo := regexp.MustCompile(`^golang:` + regexp.QuoteMeta(goLine[1]) + `(?:[.\-@ ]|$)`)
	if !slices.ContainsFunc(ins, func(in deployInstruction) bool { return in.keyword == "FROM" && fromGo.MatchString(in.args) }) {
		t.Errorf("no build stage FROM golang:%s (go.mod's go line)", goLine[1])
	}
	if strings.HasPrefix(final[0].args, "golang:") {
		t.Errorf("the final stage is %s: want a minimal runtime image", final[0].args)
	}

	// Exec-form ENTRYPOINT in the final stage: the binary is PID 1 and gets SIGTERM.
	var entry []string
	var env, expose, health []string
	var user string
	for _, in := range final {
		switch in.keyword {
		case "ENTRYPOINT":
			entry = nil
			if err := json.Unmarshal([]byte(in.args), &entry); err != nil {
				t.Errorf("Dockerfile:%d: ENTRYPOINT %s is not exec form (a JSON array): %v", in.line, in.args, err)
			}
		case "ENV":
			env = append(env, in.args)
		case "EXPOSE":
			expose = append(expose, strings.Fields(in.args)...)
		case "HEALTHCHECK":
			health = append(health, in.args)
		case "USER":
			user = in.args
		}
	}
	if len(entry) == 0 || !strings.HasSuffix(entry[0], "soulbridge") {
		t.Errorf("ENTRYPOINT = %q, want the exec form [\"/soulbridge\", ...]", entry)
	}

	// The build: static, trimmed, and the same flags as README's command.
	var build string
	for _, in := range ins {
		if in.keyword == "RUN" && strings.Contains(in.args, "go build") {
			build = in.args
		}
	}
	if build == "" {
		t.Fatal("no RUN ... go build in the Dockerfile")
	}
	dflags, dcgo, _ := deployBuildFlags(build)
	if !dcgo && !slices.ContainsFunc(ins, func(in deployInstruction) bool {
		return in.keyword == "ENV" && strings.Contains(in.args, "CGO_ENABLED=0")
	}) {
		t.Errorf("the Dockerfile's go build is not CGO_ENABLED=0: %s", build)
	}
	if !slices.Contains(dflags, "-trimpath") {
		t.Errorf("the Dockerfile's go build lacks -trimpath: %s", build)
	}
	readmeBuild := regexp.MustCompile("`((?:CGO_ENABLED=0 )?go build [^`]+)`").FindStringSubmatch(deployReadRepoFile(t, "README.md"))
	if readmeBuild == nil {
		t.Fatal("README.md documents no `go build ...` command")
	}
	rflags, rcgo, _ := deployBuildFlags(readmeBuild[1])
	if !rcgo {
		t.Errorf("README's build command %q is not CGO_ENABLED=0", readmeBuild[1])
	}
	if !slices.Equal(rflags, dflags) {
		t.Errorf("build flags differ:\n  README:     %q -> %v\n  Dockerfile: %q -> %v", readmeBuild[1], rflags, build, dflags)
	}

	// Runtime settings.
	dataDir := regexp.MustCompile(`(?:^|\s)DATA_DIR(?:=|\s+)/data(?:\s|$)`)
	if !slices.ContainsFunc(env, dataDir.MatchString) {
		t.Errorf("final stage ENV %q does not set DATA_DIR=/data", env)
	}
	if !slices.Contains(expose, "8080") && !slices.Contains(expose, "8080/tcp") {
		t.Errorf("final stage EXPOSE %q, want 8080", expose)
	}
	if len(health) == 0 {
		t.Errorf("no HEALTHCHECK in the final stage")
	} else {
		h := health[len(health)-1]
		_, cmd, ok := strings.Cut(h, "CMD ")
		var argv []string
		if !ok || json.Unmarshal([]byte(strings.TrimSpace(cmd)), &argv) != nil || !slices.Contains(argv, "healthcheck") {
			t.Errorf("HEALTHCHECK %s: want exec-form CMD [\"/soulbridge\", \"healthcheck\"] (the image has no shell)", h)
		}
	}

	// Privileges: a non-root final USER, or the documented drop.
	root := user == "" || slices.Contains([]string{"0", "root", "0:0", "root:root"}, user)
	documented := strings.Contains(comments, strconv.Itoa(deployUID)) &&
		regexp.MustCompile(`(?i)drop`).MatchString(comments) && strings.Contains(comments, "root")
	if root && !documented {
		t.Errorf("the final stage runs as root (USER %q) and no comment documents the privilege drop to %d", user, deployUID)
	}
}
