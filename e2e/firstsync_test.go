package e2e

// The first sync after start (issue 18 row 5): start-up never waits for
// Redis, so /healthz answers 200 before the mirror's first probe has
// brought it up. A sign-up, or a log-in of an account this instance has
// not seen, in that window waits a bounded time (kv.FirstSyncWait, 2 s)
// for the first sync instead of answering 503 at once.

import (
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testproxy"
	"soulbridge/internal/testredis"
)

// firstSyncEnv starts a proxy to rs that refuses connections (Cut) and
// returns it with a server env whose REDIS_URL goes through it.
func firstSyncEnv(t *testing.T, rs *testredis.Server, dataDir, key string) (*testproxy.Proxy, testbin.Env) {
	t.Helper()
	px, err := testproxy.New(rs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	px.Cut()
	return px, testbin.ServerEnv(t, dataDir, testbin.Env{
		"SECRET_KEY": key, "REDIS_URL": "redis://" + px.Addr() + "/0", "SESSION_KEY_PREFIX": mirrorPrefix,
		"LOG_FORMAT": "text",
	})
}

// postForm posts form to u without following redirects and returns the
// status and how long the answer took.
func postForm(t *testing.T, u string, form url.Values) (int, time.Duration) {
	t.Helper()
	c := oneShotClient(10 * time.Second)
	start := time.Now()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// TestFirstSignUpWaitsForTheFirstSync: with Redis reachable only 700 ms
// after /healthz answered 200 (a proxy refusing connections until then), a
// sign-up sent at once answers 303, not 503; so does a log-in on a second
// fresh instance of the account made on the first. With Redis out of
// reach for good, a sign-up answers 503 after about FirstSyncWait (not at
// once, and not later than a few seconds), and start-up itself did not
// wait for Redis.
func TestFirstSignUpWaitsForTheFirstSync(t *testing.T) {
	testbin.SkipShort(t)
	rs := testredis.Start(t)
	root := testbin.Root(t)
	key := testbin.Key(t)
	const password = "staple battery horse"
	const reachableAfter = 700 * time.Millisecond

	pxA, envA := firstSyncEnv(t, rs, filepath.Join(root, "a"), key)
	a := testbin.Start(t, "A", envA)
	time.AfterFunc(reachableAfter, pxA.Pass)
	status, took := postForm(t, a.Base()+"/signup", url.Values{"username": {"first"}, "password": {password}})
	if status != http.StatusSeeOther {
		t.Fatalf("the first sign-up right after /healthz 200, Redis reachable %s later: %d after %s, want 303\n%s",
			reachableAfter, status, took, a.Output())
	}
	t.Logf("sign-up answered 303 after %s", took.Round(time.Millisecond))

	// A log-in on a fresh instance of an account it has never seen.
	pxB, envB := firstSyncEnv(t, rs, filepath.Join(root, "b"), key)
	b := testbin.Start(t, "B", envB)
	time.AfterFunc(reachableAfter, pxB.Pass)
	status, took = postForm(t, b.Base()+"/login", url.Values{"username": {"first"}, "password": {password}})
	if status != http.StatusSeeOther {
		t.Fatalf("log-in of an account B has not seen, right after /healthz 200: %d after %s, want 303\n%s", status, took, b.Output())
	}

	// Redis never reachable: start-up does not wait for it (its own
	// reads never wait for the first sync), and a sign-up's wait is
	// bounded, then 503.
	_, envC := firstSyncEnv(t, rs, filepath.Join(root, "c"), key)
	c := testbin.Start(t, "C", envC)
	m := regexp.MustCompile(`msg=listening .*startup=(\S+)`).FindStringSubmatch(c.Output())
	if m == nil {
		t.Fatalf("no listening line with startup=:\n%s", c.Output())
	}
	if d, err := time.ParseDuration(m[1]); err != nil || d > time.Second {
		t.Errorf("start-up with Redis out of reach took %s (%v), want well under kv.FirstSyncWait: start-up never waits for Redis", m[1], err)
	}
	status, took = postForm(t, c.Base()+"/signup", url.Values{"username": {"second"}, "password": {password}})
	if status != http.StatusServiceUnavailable {
		t.Fatalf("sign-up with Redis out of reach: %d after %s, want 503", status, took)
	}
	if took < 1500*time.Millisecond || took > 6*time.Second {
		t.Errorf("sign-up with Redis out of reach answered 503 after %s, want about 2 s (the first-sync wait)", took)
	}
	if out := c.Output(); strings.Contains(out, "level=ERROR") {
		t.Errorf("the 503 was logged as an error (an expected condition: WARN):\n%s", out)
	}
}
