package e2e

// Scale out: two instances (real binaries, separate data dirs, one key)
// share sessions and avatars through a real redis-server, and an outage of
// Redis, hung or killed or restarted empty, costs nobody anything.

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testredis"
)

const mirrorPrefix = "sbtest:"

// pair is two instances sharing one Redis.
type pair struct {
	redis *testredis.Server
	a, b  *testbin.Proc
	c     *http.Client
	envA  testbin.Env // A's environment, for commands run beside it
}

func startPair(t *testing.T) *pair {
	t.Helper()
	testbin.SkipShort(t)
	rs := testredis.Start(t)
	root := testbin.Root(t)
	key := testbin.Key(t)
	env := func(name string) testbin.Env {
		return testbin.ServerEnv(t, filepath.Join(root, name), testbin.Env{
			"SECRET_KEY": key, "REDIS_URL": rs.URL(), "SESSION_KEY_PREFIX": mirrorPrefix,
		})
	}
	p := &pair{redis: rs, c: testbin.Client(t), envA: env("a")}
	p.a = testbin.Start(t, "A", p.envA)
	p.b = testbin.Start(t, "B", env("b"))
	p.waitRedis(t, "ok", 5*time.Second)
	return p
}

type readiness struct {
	Status string `json:"status"`
	Redis  string `json:"redis"`
	Outbox int    `json:"outbox"`
}

func (p *pair) ready(t *testing.T, proc *testbin.Proc) readiness {
	t.Helper()
	r := testbin.Must(t, p.c, http.MethodGet, proc.Base()+"/readyz", "", "", nil)
	var rd readiness
	if err := json.Unmarshal([]byte(r.Body), &rd); err != nil {
		t.Fatalf("/readyz: %v in %q", err, r.Body)
	}
	return rd
}

// waitRedis waits until both instances' /readyz say redis is want (and,
// for "ok", that the outbox is empty).
func (p *pair) waitRedis(t *testing.T, want string, within time.Duration) {
	t.Helper()
	waitFor(t, within, "both instances: redis "+want, func() bool {
		for _, proc := range []*testbin.Proc{p.a, p.b} {
			rd := p.ready(t, proc)
			if rd.Redis != want || (want == "ok" && rd.Outbox != 0) {
				return false
			}
		}
		return true
	})
}

func (p *pair) avatar(t *testing.T, proc *testbin.Proc, cookie string) (int, string) {
	t.Helper()
	r := testbin.Must(t, p.c, http.MethodGet, proc.Base()+"/community/avatar", cookie, "", nil)
	var a testbin.Avatar
	_ = json.Unmarshal([]byte(r.Body), &a)
	return r.Status, a.Avatar
}

func (p *pair) put(t *testing.T, proc *testbin.Proc, cookie, id string) {
	t.Helper()
	r, err := testbin.PutAvatar(p.c, proc.Base(), cookie, id)
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("PUT avatar %s on %s: %v %d %s", id, proc.Base(), err, r.Status, r.Body)
	}
}

func (p *pair) logout(t *testing.T, proc *testbin.Proc, cookie string) {
	t.Helper()
	r := testbin.Must(t, p.c, http.MethodPost, proc.Base()+"/logout", cookie, "application/x-www-form-urlencoded", nil)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
}

func (p *pair) wantAvatar(t *testing.T, proc *testbin.Proc, cookie, want, when string) {
	t.Helper()
	if st, got := p.avatar(t, proc, cookie); st != http.StatusOK || got != want {
		t.Fatalf("%s: GET avatar on %s = %d %q, want 200 %q", when, proc.Base(), st, got, want)
	}
}

func (p *pair) wantLoggedOut(t *testing.T, proc *testbin.Proc, cookie, when string) {
	t.Helper()
	if st, _ := p.avatar(t, proc, cookie); st != http.StatusUnauthorized {
		t.Fatalf("%s: GET avatar on %s = %d, want 401", when, proc.Base(), st)
	}
}

// TestMirrorSharesSessionsAndAvatars: a session made on A works on B at
// once, an avatar set on B is what A answers next, a log-out on A is a 401
// on B at once; and write-to-visible latency, for the closing note.
func TestMirrorSharesSessionsAndAvatars(t *testing.T) {
	p := startPair(t)
	cookie := testbin.Signup(t, p.c, p.a.Base(), "alice", "correct horse battery")
	p.wantAvatar(t, p.b, cookie, "default", "session from A on B")
	p.put(t, p.b, cookie, "owl")
	p.wantAvatar(t, p.a, cookie, "owl", "avatar set on B, read on A")

	// Visibility of a write on the other instance: 100 rounds.
	ids := testbin.Catalogue(t, p.c, p.a.Base())
	var lat []time.Duration
	for i := range 100 {
		id := ids[i%len(ids)]
		p.put(t, p.a, cookie, id)
		start := time.Now()
		for {
			if _, got := p.avatar(t, p.b, cookie); got == id {
				break
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("round %d: %s set on A not visible on B within 2s", i, id)
			}
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	t.Logf("write on A → visible on B (100 rounds, incl. one GET): median %s, worst %s", lat[50], lat[99])
	if lat[99] > time.Second {
		t.Errorf("worst visibility %s, want under 1s", lat[99])
	}

	// B has the session in memory (it served it 100 times): the log-out on
	// A must reach it through the invalidation, within a second at most.
	p.logout(t, p.a, cookie)
	p.wantLoggedOut(t, p.a, cookie, "right after log-out on A")
	start := time.Now()
	for {
		st, _ := p.avatar(t, p.b, cookie)
		if st == http.StatusUnauthorized {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("log-out on A: B still answers %d after 1s", st)
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("log-out on A → 401 on B after %s", time.Since(start))
	// A name taken on A is taken on B.
	r := testbin.Must(t, p.c, http.MethodPost, p.b.Base()+"/signup", "", "application/x-www-form-urlencoded",
		strings.NewReader("username=alice&password=another+password"))
	if r.Status != http.StatusConflict {
		t.Fatalf("sign-up of A's name on B: %d, want 409", r.Status)
	}
}

// TestMirrorOutage: Redis hung (SIGSTOP), then killed: reads keep
// answering 200 fast on both instances, writes 200, sign-up 503, /readyz
// says down; Redis back (empty): the outage's writes reach the other
// instance and /readyz says ok with an empty outbox.
func TestMirrorOutage(t *testing.T) {
	p := startPair(t)
	alice := testbin.Signup(t, p.c, p.a.Base(), "alice", "correct horse battery")
	bob := testbin.Signup(t, p.c, p.b.Base(), "bob", "correct horse battery")
	// Dave signs up on B and is never seen on A: not his session, nor his
	// account (which a session's load reads, and so copies).
	testbin.Signup(t, p.c, p.b.Base(), "dave", "correct horse battery")
	// Each instance reads both sessions once, so its local copy has them.
	for _, proc := range []*testbin.Proc{p.a, p.b} {
		p.wantAvatar(t, proc, alice, "default", "before the outage")
		p.wantAvatar(t, proc, bob, "default", "before the outage")
	}
	time.Sleep(300 * time.Millisecond) // local copies are written in the background

	p.redis.Pause()
	var worst time.Duration
	for i := range 10 {
		for _, proc := range []*testbin.Proc{p.a, p.b} {
			start := time.Now()
			p.wantAvatar(t, proc, alice, "default", "redis hung")
			if d := time.Since(start); d > worst {
				worst = d
			}
			_ = i
		}
	}
	t.Logf("slowest read while redis hangs: %s", worst)
	if worst > time.Second {
		t.Errorf("a read took %s while redis hung, want well under 1s", worst)
	}
	p.put(t, p.a, alice, "owl")
	p.waitRedis(t, "down", 3*time.Second)
	p.redis.Kill()
	p.put(t, p.b, bob, "fox")
	p.wantAvatar(t, p.a, alice, "owl", "redis killed, write made on A during the outage")
	r := testbin.Must(t, p.c, http.MethodPost, p.a.Base()+"/signup", "", "application/x-www-form-urlencoded",
		strings.NewReader("username=carol&password=correct+horse+battery"))
	if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, "paused") {
		t.Fatalf("sign-up while redis is down: %d, want 503 'paused'", r.Status)
	}
	// Log-in: an account A has (alice; bob, whose session A served and so
	// whose account it read) works; one A never saw (dave, who signed up on
	// B) is a 503, not "wrong password".
	testbin.Form(t, p.c, p.a.Base(), "/login", "alice", "correct horse battery")
	testbin.Form(t, p.c, p.a.Base(), "/login", "bob", "correct horse battery")
	r = testbin.Must(t, p.c, http.MethodPost, p.a.Base()+"/login", "", "application/x-www-form-urlencoded",
		strings.NewReader("username=dave&password=correct+horse+battery"))
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("log-in on A for an account only B has seen, while redis is down: %d, want 503", r.Status)
	}
	if rd := p.ready(t, p.a); rd.Outbox == 0 || rd.Status != "degraded" {
		t.Fatalf("/readyz on A during the outage: %+v, want degraded with a queued write", rd)
	}

	p.redis.StartAgain()
	p.waitRedis(t, "ok", 10*time.Second)
	p.wantAvatar(t, p.b, alice, "owl", "after the outage, A's write on B")
	p.wantAvatar(t, p.a, bob, "fox", "after the outage, B's write on A")

	// The outage is logged once per state change, never per request or
	// per probe (go-redis' own dial errors included).
	for name, proc := range map[string]*testbin.Proc{"A": p.a, "B": p.b} {
		out := proc.Output()
		if n := strings.Count(out, "redis mirror down"); n != 1 {
			t.Errorf("%s logged 'redis mirror down' %d times during one outage, want once", name, n)
		}
		if strings.Contains(out, "failed to dial") || strings.Contains(out, "connection refused") {
			t.Errorf("%s logged redis dial errors:\n%s", name, out)
		}
	}
	if !strings.Contains(p.a.Output(), "replayed the outbox") {
		t.Errorf("A did not log the replay of its outbox")
	}
}

// TestMirrorRedisRestartedEmpty: every live session works on both
// instances after Redis loses everything, and a session logged out before
// stays out on both.
func TestMirrorRedisRestartedEmpty(t *testing.T) {
	p := startPair(t)
	alice := testbin.Signup(t, p.c, p.a.Base(), "alice", "correct horse battery")
	bob := testbin.Signup(t, p.c, p.b.Base(), "bob", "correct horse battery")
	gone := testbin.Signup(t, p.c, p.a.Base(), "carol", "correct horse battery")
	p.put(t, p.b, alice, "cat")
	for _, proc := range []*testbin.Proc{p.a, p.b} {
		p.wantAvatar(t, proc, gone, "default", "before log-out")
	}
	p.logout(t, p.b, gone)
	time.Sleep(300 * time.Millisecond)

	p.redis.Restart()
	// Both instances notice the lost epoch and push their records back.
	rdb := redis.NewClient(&redis.Options{Addr: p.redis.Addr()})
	defer rdb.Close()
	waitFor(t, 10*time.Second, "records pushed back to the empty redis", func() bool {
		n, err := rdb.Exists(context.Background(), mirrorPrefix+"user:alice", mirrorPrefix+"user:bob", mirrorPrefix+"avatar:alice").Result()
		return err == nil && n == 3
	})
	p.waitRedis(t, "ok", 10*time.Second)
	for _, proc := range []*testbin.Proc{p.a, p.b} {
		p.wantAvatar(t, proc, alice, "cat", "after redis restarted empty")
		p.wantAvatar(t, proc, bob, "default", "after redis restarted empty")
		p.wantLoggedOut(t, proc, gone, "logged out before redis restarted empty")
	}
}

// TestMirrorKeysArePrefixed: every key in Redis carries the prefix, and
// session keys expire.
func TestMirrorKeysArePrefixed(t *testing.T) {
	p := startPair(t)
	cookie := testbin.Signup(t, p.c, p.a.Base(), "alice", "correct horse battery")
	p.put(t, p.b, cookie, "owl")
	p.logout(t, p.a, testbin.Signup(t, p.c, p.b.Base(), "bob", "correct horse battery"))

	rdb := redis.NewClient(&redis.Options{Addr: p.redis.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	var keys []string
	iter := rdb.Scan(ctx, 0, "*", 100).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	sessions := 0
	for _, k := range keys {
		if !strings.HasPrefix(k, mirrorPrefix) {
			t.Errorf("redis key %q lacks the prefix %q", k, mirrorPrefix)
		}
		if strings.HasPrefix(k, mirrorPrefix+"session:") {
			sessions++
			if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 {
				t.Errorf("session key %s has no TTL (%s)", k, ttl)
			}
		}
	}
	if sessions < 2 {
		t.Fatalf("found %d session keys (one live, one tombstone expected) in %q", sessions, keys)
	}
	for _, want := range []string{"user:alice", "user:bob", "avatar:alice", "mirror:epoch"} {
		if !slices.Contains(keys, mirrorPrefix+want) {
			t.Errorf("redis lacks %s%s; keys: %q", mirrorPrefix, want, keys)
		}
	}
}
