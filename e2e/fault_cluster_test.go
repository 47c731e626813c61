package e2e

// The fault test's cluster: one real redis-server and three instances of
// the real binary, each on its own persistent data dir and reaching Redis
// only through its own proxy (internal/testproxy), so that its link can be
// cut, hung or stalled while the others' pass. The chaos goroutine
// (fault_chaos_test.go) breaks it; heal puts everything back.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testproxy"
	"soulbridge/internal/testredis"
)

// faultPrefix is SESSION_KEY_PREFIX of the fault test's instances.
const faultPrefix = "sbfault:"

// faultCluster is Redis and the instances of one fault run.
type faultCluster struct {
	t     *testing.T
	bin   string
	redis *testredis.Server
	insts []*faultInstance
	// probe answers /healthz and /readyz; its own client so that a slow
	// answer there never waits behind the users' connections.
	probe *http.Client

	// redisMu guards the state of Redis as the chaos goroutine left it.
	redisMu     sync.Mutex
	redisPaused bool
	redisDown   bool

	// primary, when set, names the current primary of a cluster whose
	// instances reach Redis through Sentinels (redis is nil then, and so
	// are the instances' proxies).
	primary func() string
}

// faultInstance is one instance: its environment (fixed across restarts:
// same port, data dir and key), its proxy to Redis and its current process.
type faultInstance struct {
	name  string
	env   testbin.Env
	base  string
	proxy *testproxy.Proxy

	mu    sync.Mutex
	proc  *testbin.Proc   // the current process
	procs []*testbin.Proc // every process, in start order
}

// startFaultCluster starts Redis and n instances behind their proxies and
// waits until every instance is healthy and sees Redis.
func startFaultCluster(t *testing.T, bin string, n int) *faultCluster {
	t.Helper()
	rs := testredis.Start(t)
	c := &faultCluster{t: t, bin: bin, redis: rs, probe: oneShotClient(2 * time.Second)}
	c.startInstances(n, func() (string, *testproxy.Proxy) {
		px, err := testproxy.New(rs.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { px.Close() })
		return "redis://" + px.Addr() + "/0", px
	})
	return c
}

// startInstances starts n instances, each with the REDIS_URL (and the
// proxy, if any) redisFor returns, and waits until every one is healthy
// and sees Redis.
func (c *faultCluster) startInstances(n int, redisFor func() (string, *testproxy.Proxy)) {
	t := c.t
	t.Helper()
	root := testbin.Root(t)
	key := testbin.Key(t)
	for i := range n {
		name := string(rune('A' + i))
		redisURL, px := redisFor()
		env := testbin.ServerEnv(t, filepath.Join(root, strings.ToLower(name)), testbin.Env{
			"SECRET_KEY":          key,
			"REDIS_URL":           redisURL,
			"SESSION_KEY_PREFIX":  faultPrefix,
			"TRUST_PROXY_HEADERS": "true",
			"LOG_FORMAT":          "text",
			"DATA_LOCK_TIMEOUT":   "30s",
			// One passkey relying party for all, as behind one edge.
			"PUBLIC_URL": faultOrigin,
		})
		in := &faultInstance{name: name, env: env, base: "http://127.0.0.1:" + env["PORT"], proxy: px}
		c.insts = append(c.insts, in)
		if err := c.start(in); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.waitReady(30 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// redisAddr is the address of the Redis that holds the shared data: the
// cluster's one redis-server, or the primary its Sentinels name
// (fault_sentinel_test.go).
func (c *faultCluster) redisAddr() string {
	if c.primary != nil {
		return c.primary()
	}
	return c.redis.Addr()
}

// omitPerRequestLines leaves the lines logged for every request (the
// request log, message web.RequestLogMessage; the auth events; avatar
// changes) out of a failed run's output: thousands of lines that would
// bury the mirror's own and the errors.
func omitPerRequestLines(line string) bool {
	return strings.Contains(line, " msg=request ") || strings.Contains(line, ` msg="auth event" `) ||
		strings.Contains(line, ` msg="avatar changed" `)
}

// start starts in's process (again, on the same data dir) and waits up to
// 30 s for /healthz; it returns an error instead of failing the test, so
// that the chaos goroutine can call it.
func (c *faultCluster) start(in *faultInstance) error {
	in.mu.Lock()
	name := fmt.Sprintf("%s#%d", in.name, len(in.procs)+1)
	in.mu.Unlock()
	p := testbin.SpawnWith(c.t, name, in.env, testbin.Options{Binary: c.bin, OmitFromLog: omitPerRequestLines})
	in.mu.Lock()
	in.proc = p
	in.procs = append(in.procs, p)
	in.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if p.Exited() {
			return fmt.Errorf("instance %s exited while starting:\n%s", name, p.Output())
		}
		if st, _, err := c.get(in.base + "/healthz"); err == nil && st == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("instance %s not healthy within 30s", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill kills in's process with SIGKILL (kill -9) and waits for it to end.
func (c *faultCluster) kill(in *faultInstance) {
	in.mu.Lock()
	p := in.proc
	in.mu.Unlock()
	p.Kill()
}

// running reports whether in's process is up.
func (in *faultInstance) running() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.proc != nil && !in.proc.Exited()
}

func (c *faultCluster) get(u string) (int, string, error) {
	resp, err := c.probe.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// setRedis records Redis' state as the chaos left it, for heal.
func (c *faultCluster) setRedis(paused, down bool) {
	c.redisMu.Lock()
	c.redisPaused, c.redisDown = paused, down
	c.redisMu.Unlock()
}

// heal undoes every fault: all links pass, Redis runs (resumed, or started
// again empty), every instance runs. The chaos goroutine has stopped.
func (c *faultCluster) heal() error {
	for _, in := range c.insts {
		if in.proxy != nil {
			in.proxy.Pass()
		}
	}
	c.redisMu.Lock()
	if c.redisPaused {
		c.redis.Resume()
	}
	if c.redisDown {
		c.redis.StartAgain()
	}
	c.redisPaused, c.redisDown = false, false
	c.redisMu.Unlock()
	for _, in := range c.insts {
		if !in.running() {
			if err := c.start(in); err != nil {
				return err
			}
		}
	}
	return nil
}

// faultReadiness is what the fault test reads of /readyz.
type faultReadiness struct {
	Redis  string `json:"redis"`
	Outbox int    `json:"outbox"`
}

// waitReady waits until every instance's /readyz says redis ok with an
// empty outbox.
func (c *faultCluster) waitReady(within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	last := map[string]string{}
	for {
		ready := 0
		for _, in := range c.insts {
			st, body, err := c.get(in.base + "/readyz")
			var rd faultReadiness
			_ = json.Unmarshal([]byte(body), &rd)
			if err == nil && st == http.StatusOK && rd.Redis == "ok" && rd.Outbox == 0 {
				ready++
			}
			last[in.name] = fmt.Sprintf("%d %s %v", st, strings.TrimSpace(body), err)
		}
		if ready == len(c.insts) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("instances not ready (redis ok, outbox empty) within %s; last /readyz: %v", within, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// mirrorDown returns the spans (since began) in which in's processes said
// their Redis mirror was down: from the start of each process (the mirror
// starts down) or its "redis mirror down" line to its next "redis mirror
// up" line, or to the process's end. Read from the text logs' time=
// fields, after the run.
func (in *faultInstance) mirrorDown(began time.Time) []span {
	in.mu.Lock()
	procs := slices.Clone(in.procs)
	in.mu.Unlock()
	var out []span
	for _, p := range procs {
		down, from := true, p.Started()
		var last time.Time
		for line := range strings.Lines(p.Output()) {
			at, ok := logTime(line)
			if !ok {
				continue
			}
			last = at
			switch {
			case !down && strings.Contains(line, `msg="redis mirror down`):
				down, from = true, at
			case down && strings.Contains(line, `msg="redis mirror up"`):
				down = false
				out = append(out, span{from.Sub(began), at.Sub(began)})
			}
		}
		if down { // killed while down: until its last line
			if last.Before(from) {
				last = from
			}
			out = append(out, span{from.Sub(began), last.Sub(began) + time.Second})
		}
	}
	return out
}

// span is a stretch of the run, since it began.
type span struct{ from, to time.Duration }

// logTime reads the time= field of a text log line.
func logTime(line string) (time.Time, bool) {
	v, ok := strings.CutPrefix(line, "time=")
	if !ok {
		return time.Time{}, false
	}
	v, _, _ = strings.Cut(v, " ")
	t, err := time.Parse(time.RFC3339Nano, v)
	return t, err == nil
}
