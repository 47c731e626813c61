package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testredis"
	"soulbridge/internal/testwait"
	"soulbridge/kv"
	"soulbridge/kv/kvtest"
	"soulbridge/web"
)

// TestEndListedSessionsWhileMirrorDown (issue 16 row 7): an instance with a
// persistent data dir whose Redis mirror is down ends every session its
// list showed, wherever it was begun: DELETE /account/sessions/{id} 204,
// the form twin 303, log-out 303, revoke-others 200, never 503; an id it cannot tell
// from another user's (never listed nor heard of here) is 503 with
// Retry-After, and nothing is ended. When Redis is back the ends reach
// every instance.
func TestEndListedSessionsWhileMirrorDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	redis := testredis.Start(t)
	key := []byte(strings.Repeat("k", 32))
	opts := kv.MirrorOptions{URL: redis.URL(), Persistent: true, CachePrefixes: []string{"session:"}}
	ma := kvtest.Mirror(t, "soulbridge:", opts)
	mb := kvtest.Mirror(t, "soulbridge:", opts)
	a := newSiteOver(t, ma, key, func(c *web.SiteConfig) { c.Mirror = ma; c.Counter = ma })
	b := newSiteOver(t, mb, key, func(c *web.SiteConfig) { c.Mirror = mb; c.Counter = mb })

	onA := a.signup(t, "alice")
	currentID := func(s *site, c *http.Cookie) string {
		t.Helper()
		for _, e := range s.sessionsOf(t, c) {
			if e.Current {
				return e.ID
			}
		}
		t.Fatal("no current session in the list")
		return ""
	}
	// Four sessions begun on B; A shows the list (read from Redis).
	var onB []*http.Cookie
	var ids []string
	for range 4 {
		c := b.loginAs(t, "alice", testPassword, safariIPhone)
		onB = append(onB, c)
		ids = append(ids, currentID(b, c))
	}
	if list := a.sessionsOf(t, onA); len(list) != 5 {
		t.Fatalf("A lists %d sessions, want 5: %+v", len(list), list)
	}

	redis.Kill()
	restarted := false
	defer func() {
		if !restarted {
			redis.StartAgain()
		}
	}()
	for _, m := range []*kv.Mirror{ma, mb} {
		testwait.Until(t, 10*time.Second, "the mirror down", func() bool { return m.Status() != "ok" })
	}

	if res := a.do(t, req{method: "DELETE", path: "/account/sessions/" + ids[0], cookie: onA}); res.status != http.StatusNoContent {
		t.Fatalf("DELETE of a listed session begun on B, mirror down: %d %s; want 204", res.status, res.body)
	}
	if res := a.do(t, req{method: "DELETE", path: "/account/sessions/" + ids[0], cookie: onA}); res.status != http.StatusNotFound {
		t.Fatalf("DELETE of a session just ended, mirror down: %d %s; want 404", res.status, res.body)
	}
	res := a.do(t, req{method: "POST", path: "/account/sessions/" + ids[1] + "/end", cookie: onA})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/account" {
		t.Fatalf("form twin, mirror down: %d Location %q %s; want 303 /account", res.status, res.header.Get("Location"), res.body)
	}
	// An id this instance never listed nor heard of: it may be a session
	// of alice's begun elsewhere, or another user's. It cannot be told
	// until Redis is back: 503 with Retry-After, nothing ended.
	unknown := strings.Repeat("ab", 16)
	res = a.do(t, req{method: "DELETE", path: "/account/sessions/" + unknown, cookie: onA})
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Fatalf("DELETE of an id unknown here, mirror down: %d Retry-After %q; want 503 with Retry-After", res.status, res.header.Get("Retry-After"))
	}
	// Log-out on A of a session begun on B.
	if res := a.do(t, req{method: "POST", path: "/logout", cookie: onB[2]}); res.status != http.StatusSeeOther {
		t.Fatalf("log-out on A of a session begun on B, mirror down: %d %s; want 303", res.status, res.body)
	}
	res = a.do(t, req{method: "POST", path: "/account/sessions/revoke-others", cookie: onA, header: map[string]string{"Accept": "application/json"}})
	if res.status != http.StatusOK {
		t.Fatalf("revoke-others, mirror down: %d %s; want 200", res.status, res.body)
	}
	// A refuses them at once.
	for i, c := range onB {
		if got := a.avatarStatus(t, c); got != http.StatusUnauthorized {
			t.Errorf("session %d on A right after its end, mirror down: %d, want 401", i, got)
		}
	}

	redis.StartAgain()
	restarted = true
	for _, m := range []*kv.Mirror{ma, mb} {
		testwait.Until(t, 15*time.Second, "the mirror up with its outbox replayed", func() bool { return m.Status() == "ok" && m.OutboxLen() == 0 })
	}
	for _, c := range onB {
		for name, s := range map[string]*site{"A": a, "B": b} {
			testwait.Until(t, 3*time.Second, "the ended session refused on "+name, func() bool { return s.avatarStatus(t, c) == http.StatusUnauthorized })
		}
	}
	for name, s := range map[string]*site{"A": a, "B": b} {
		if got := s.avatarStatus(t, onA); got != http.StatusOK {
			t.Errorf("the session that ended the others, on %s: %d, want 200", name, got)
		}
		if list := s.sessionsOf(t, onA); len(list) != 1 || !list[0].Current {
			t.Errorf("%s lists %+v, want only the current session", name, list)
		}
	}
}
