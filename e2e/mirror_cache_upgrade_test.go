package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testredis"
)

// releaseBeforeMirrorCache is the last commit before the mirror's cache of
// sessions, accounts and avatars (issue 20, kv/mirror_cache.go).
const releaseBeforeMirrorCache = "8eb59aa4d56b53ddfb70d19ab4b1216c36f692fc"

// TestMirrorCacheHearsThePreviousRelease: during a rolling deploy, an
// instance of the previous release and one of this build share a Redis.
// This build holds a session, its account and its avatar in memory; the
// previous release's avatar change and log-out (published by its own
// script, in the same message format) are answered by this build at once,
// and this build's changes by the previous release.
func TestMirrorCacheHearsThePreviousRelease(t *testing.T) {
	old := testbin.BuildRevision(t, releaseBeforeMirrorCache)
	prev, next, c, _ := mixedOnOneRedis(t, old)
	avatarOn := func(p *testbin.Proc, cookie string) (int, string) {
		r := testbin.Must(t, c, http.MethodGet, p.Base()+"/community/avatar", cookie, "", nil)
		var a testbin.Avatar
		_ = json.Unmarshal([]byte(r.Body), &a)
		return r.Status, a.Avatar
	}
	put := func(p *testbin.Proc, cookie, id string) {
		t.Helper()
		if r, err := testbin.PutAvatar(c, p.Base(), cookie, id); err != nil || r.Status != http.StatusOK {
			t.Fatalf("PUT avatar %s on %s: %v %+v", id, p.Base(), err, r)
		}
	}
	// within: the change is answered by the other instance within 100 ms
	// of its acknowledgement (each read is held in memory on this build).
	within := func(what string, cond func() bool) {
		t.Helper()
		start := time.Now()
		waitFor(t, 100*time.Millisecond, what, cond)
		t.Logf("%s after %s", what, time.Since(start).Round(time.Millisecond))
	}

	a1 := testbin.Signup(t, c, next.Base(), "dora", "correct horse battery")
	put(next, a1, "owl")
	for range 3 { // held in memory on this build
		if st, av := avatarOn(next, a1); st != http.StatusOK || av != "owl" {
			t.Fatalf("this build: %d %s, want 200 owl", st, av)
		}
	}
	put(prev, a1, "fox")
	within("this build answers the previous release's avatar change", func() bool { _, av := avatarOn(next, a1); return av == "fox" })
	avatarOn(prev, a1)
	put(next, a1, "cat")
	within("the previous release answers this build's avatar change", func() bool { _, av := avatarOn(prev, a1); return av == "cat" })

	a2 := testbin.Form(t, c, next.Base(), "/login", "dora", "correct horse battery")
	avatarOn(next, a2)
	avatarOn(next, a2)
	if r := testbin.Must(t, c, http.MethodPost, prev.Base()+"/logout", a2, "application/x-www-form-urlencoded", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("log-out on the previous release: %d", r.Status)
	}
	within("this build ends the session logged out on the previous release", func() bool { st, _ := avatarOn(next, a2); return st == http.StatusUnauthorized })
}

// mixedOnOneRedis starts the previous release (binary old) and this build
// on one fresh redis-server, with one key and data dirs of their own, and
// waits until both serve from Redis: a rolling deploy's mixed versions.
func mixedOnOneRedis(t *testing.T, old string) (prev, next *testbin.Proc, c *http.Client, rs *testredis.Server) {
	t.Helper()
	m := startMixed(t, old)
	return m.prev, m.next, m.c, m.rs
}

// mixedPair is what startMixed started, with this build's environment
// (its data dir) for a test that rolls back onto it.
type mixedPair struct {
	prev, next *testbin.Proc
	nextEnv    testbin.Env
	c          *http.Client
	rs         *testredis.Server
}

// startMixed is mixedOnOneRedis, returning this build's environment too.
func startMixed(t *testing.T, old string) mixedPair {
	t.Helper()
	m := mixedPair{rs: testredis.Start(t), c: testbin.Client(t)}
	root := testbin.Root(t)
	key := testbin.Key(t)
	env := func(dir string) testbin.Env {
		return testbin.ServerEnv(t, filepath.Join(root, dir), testbin.Env{"SECRET_KEY": key, "REDIS_URL": m.rs.URL()})
	}
	m.prev = testbin.SpawnWith(t, "previous", env("previous"), testbin.Options{Binary: old})
	m.prev.WaitHealthy(15 * time.Second)
	m.nextEnv = env("this")
	m.next = testbin.Start(t, "this-build", m.nextEnv)
	waitFor(t, 10*time.Second, "both instances: redis ok", func() bool {
		for _, p := range []*testbin.Proc{m.prev, m.next} {
			if r := testbin.Must(t, m.c, http.MethodGet, p.Base()+"/readyz", "", "", nil); !strings.Contains(r.Body, `"redis":"ok"`) {
				return false
			}
		}
		return true
	})
	return m
}
