package e2e

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testredis"
)

// TestThrottleKillsLeaveNoCount: issue 16, row 6, as the fault run found
// it. An instance on Redis is killed -9 five times while two log-ins with
// the right password are hashing; each kill lost two give-backs, and the
// first design then answered the right password with 429 and
// Retry-After: 899 for everyone behind the address, for the rest of the
// window. Now a reservation without a verdict ends by itself after its
// hold (30 s): until then the address may be throttled for at most that
// long, and then the right password logs in.
func TestThrottleKillsLeaveNoCount(t *testing.T) {
	testbin.SkipShort(t)
	rs := testredis.Start(t)
	root := testbin.Root(t)
	env := testbin.ServerEnv(t, filepath.Join(root, "a"), testbin.Env{
		"SECRET_KEY": testbin.Key(t), "REDIS_URL": rs.URL(), "SESSION_KEY_PREFIX": mirrorPrefix,
	})
	c := testbin.Client(t)
	start := func() *testbin.Proc {
		p := testbin.Start(t, "A", env)
		waitFor(t, 10*time.Second, "A's mirror up", func() bool {
			r, err := testbin.Do(c, http.MethodGet, p.Base()+"/readyz", "", "", nil)
			return err == nil && strings.Contains(r.Body, `"redis":"ok"`)
		})
		return p
	}
	a := start()
	const pass = "correct horse battery"
	testbin.Signup(t, c, a.Base(), "alice", pass)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	t.Cleanup(func() { rdb.Close() })

	login := func(p *testbin.Proc) (testbin.Response, error) {
		form := url.Values{"username": {"alice"}, "password": {pass}}
		return testbin.Do(c, http.MethodPost, p.Base()+"/login", "", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	}
	const kills = 5
	for round := 1; round <= kills; round++ {
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() { _, _ = login(a) }) // killed mid-request: no answer
		}
		// Kill once both attempts are counted in Redis, which is before
		// their hashes end (a hash takes tens of milliseconds).
		waitFor(t, 5*time.Second, "two more attempts counted", func() bool {
			return addrCount(t, rdb) >= 2*round
		})
		a.Kill()
		wg.Wait()
		a = start()
	}

	deadline := time.Now().Add(45 * time.Second)
	for {
		r, err := login(a)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == http.StatusSeeOther {
			break
		}
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("right password after %d kills: %d, want 303 or, for at most 30 s, 429", kills, r.Status)
		}
		wait, _ := strconv.Atoi(r.Header.Get("Retry-After"))
		if wait < 1 || wait > 30 {
			t.Fatalf("right password after %d kills with 2 log-ins hashing: 429 Retry-After %q, want at most 30 s (a reservation's hold): the kills left counts behind", kills, r.Header.Get("Retry-After"))
		}
		if time.Now().After(deadline) {
			t.Fatal("right password still throttled 45 s after the kills")
		}
		time.Sleep(time.Duration(wait) * time.Second)
	}
}

// addrCount is what Redis counts for the loopback address, in either
// design: the first one's INCR string, or the attempts' sorted set.
func addrCount(t *testing.T, rdb *redis.Client) int {
	t.Helper()
	ctx := context.Background()
	for _, key := range []string{mirrorPrefix + "throttle:ip:127.0.0.1", mirrorPrefix + "attempts:ip:127.0.0.1"} {
		switch typ := rdb.Type(ctx, key).Val(); typ {
		case "string":
			n, _ := rdb.Get(ctx, key).Int()
			return n
		case "zset":
			return int(rdb.ZCard(ctx, key).Val())
		}
	}
	return 0
}
