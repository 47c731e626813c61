package session_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"soulbridge/internal/testclock"
	"soulbridge/internal/testredis"
	"soulbridge/internal/testwait"
	"soulbridge/kv"
	"soulbridge/kv/kvtest"
	"soulbridge/session"
)

// instance is one soulbridge process's store and sessions over a shared
// redis-server: its Badger (read directly to see the local copy), the
// mirror over it and a Manager.
type instance struct {
	dir   string
	local *kv.Badger
	store *kv.Mirror
	m     *session.Manager
}

// openInstance opens (or reopens) an instance on dir; it does not wait for
// Redis.
func openInstance(t *testing.T, dir, url string, clk *testclock.Clock) *instance {
	t.Helper()
	b := kvtest.Dir(t, dir)
	m, err := kv.OpenMirror(b, kv.MirrorOptions{URL: url, Persistent: true, CachePrefixes: []string{session.KeyPrefix}})
	if err != nil {
		b.Close()
		t.Fatalf("kv.OpenMirror: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return &instance{dir: dir, local: b, store: m, m: newManager(t, m, clk)}
}

func (in *instance) waitSynced(t *testing.T, name string) {
	t.Helper()
	testwait.Until(t, 15*time.Second, name+" up with its outbox replayed", func() bool {
		return in.store.Status() == "ok" && in.store.OutboxLen() == 0
	})
}

// TestRenewalNeverRevivesAfterOutage (issue 16 row 2): log out on A during
// a Redis outage, the same cookie renewed on B, Redis back: the session is
// ended on both instances and in Redis, whichever instance replays first,
// whether Redis kept its data (paused) or lost it (restarted empty).
func TestRenewalNeverRevivesAfterOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	for _, c := range []struct {
		name    string
		restart bool // Redis restarts empty (else it is paused and resumed)
		bFirst  bool // B replays its outbox before A does
	}{
		{"paused/A replays first", false, false},
		{"paused/B replays first", false, true},
		{"restarted empty/A replays first", true, false},
		{"restarted empty/B replays first", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := testredis.Start(t)
			clk := newClock()
			ctx := context.Background()
			a := openInstance(t, t.TempDir(), srv.URL(), clk)
			b := openInstance(t, t.TempDir(), srv.URL(), clk)
			a.waitSynced(t, "A")
			b.waitSynced(t, "B")

			s, cookie := start(t, a.m, plainHTTP)
			key := session.KeyPrefix + s.ID
			if out := serve(b.m, plainHTTP, cookie); out.sess == nil {
				t.Fatalf("B does not load the session begun on A: %+v", out)
			}
			testwait.Until(t, 5*time.Second, "B's local copy of the session", func() bool {
				_, err := b.local.Get(ctx, key)
				return err == nil
			})

			if c.restart {
				srv.Kill()
			} else {
				srv.Pause()
			}
			resumed := false
			defer func() {
				if !c.restart && !resumed {
					srv.Resume()
				}
			}()
			for _, in := range []*instance{a, b} {
				testwait.Until(t, 10*time.Second, "the mirror down", func() bool { return in.store.Status() != "ok" })
			}

			// Log out on A: a tombstone, queued.
			w := httptest.NewRecorder()
			if err := a.m.End(ctx, w, newRequest(http.MethodPost, plainHTTP, cookie)); err != nil {
				t.Fatalf("log-out on A during the outage: %v", err)
			}
			// The renewal is due on B, which has not heard of the log-out.
			clk.Advance(testTouch + time.Second)
			before := b.store.OutboxLen()
			if out := serve(b.m, plainHTTP, cookie); out.sess == nil {
				t.Fatalf("B during the outage: %+v, want the session (B cannot know of the log-out yet)", out)
			}
			if b.store.OutboxLen() <= before {
				t.Fatal("B did not renew the session: the test does not exercise the race")
			}

			// One instance is stopped while the other replays, so the
			// order is the one the case names.
			first, second := a, b
			if c.bFirst {
				first, second = b, a
			}
			second.store.Close()
			if c.restart {
				srv.StartAgain()
			} else {
				srv.Resume()
				resumed = true
			}
			first.waitSynced(t, "the first instance")
			*second = *openInstance(t, second.dir, srv.URL(), clk)
			second.waitSynced(t, "the second instance")

			rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			defer rc.Close()
			for name, in := range map[string]*instance{"A": a, "B": b} {
				testwait.Until(t, 3*time.Second, "the session refused on "+name, func() bool {
					_, _, err := load(in.m, cookie)
					return errors.Is(err, session.ErrNoSession)
				})
				clk.Advance(testTouch + time.Second)
				if out := serve(in.m, plainHTTP, cookie); out.sess != nil {
					t.Fatalf("the logged-out session serves on %s after the outage", name)
				}
				// The local copy follows (the tombstone heard on Pub/Sub,
				// or copied from the read just made, in the background).
				testwait.Until(t, 3*time.Second, name+"'s local copy of the session ended", func() bool {
					_, err := in.local.Get(ctx, key)
					return errors.Is(err, kv.ErrNotFound)
				})
			}
			if v, err := rc.Get(ctx, "t:"+key).Result(); err == nil && len(v) > 30 && v[30] == 'v' {
				t.Fatalf("Redis holds a live record for the logged-out session: %.60q", v)
			}
		})
	}
}

// TestSessionKeysAreFinal: the store keeps the tombstones of session
// records and index entries final (kv.IsFinal), which the renewal rule and
// TestRenewalNeverRevivesAfterOutage rely on; a change of either prefix
// must change kv's list too.
func TestSessionKeysAreFinal(t *testing.T) {
	for _, key := range []string{session.KeyPrefix + "0123abcd", session.IndexPrefix + "alice:0123abcd"} {
		if !kv.IsFinal(key) {
			t.Errorf("kv.IsFinal(%q) = false: a deleted session key could be revived", key)
		}
	}
	if kv.IsFinal("avatar:alice") || kv.IsFinal("user:alice") {
		t.Error("kv.IsFinal holds for a key outside the session prefixes")
	}
}

// TestEndSessionsBegunElsewhereWhileDown (issue 16 row 7, in the session
// package): instance A heard of alice's sessions begun on B (their index
// entries reach every instance's local copy) but never read their records.
// With Redis down, A lists neither (nothing to show) yet keeps their
// entries, ends one by its public id and the others with EndOthers; an id
// A has no entry for is ErrUnavailable, and ends nothing. When Redis is
// back the ends reach B.
func TestEndSessionsBegunElsewhereWhileDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	srv := testredis.Start(t)
	clk := newClock()
	ctx := context.Background()
	a := openInstance(t, t.TempDir(), srv.URL(), clk)
	b := openInstance(t, t.TempDir(), srv.URL(), clk)
	a.waitSynced(t, "A")
	b.waitSynced(t, "B")

	keep, _ := startAs(t, a.m, "alice")
	var onB []*session.Session
	var cookies []*http.Cookie
	for range 3 {
		s, c := startAs(t, b.m, "alice")
		onB = append(onB, s)
		cookies = append(cookies, c)
	}
	entry := func(s *session.Session) string { return session.IndexPrefix + "alice:" + s.PublicID() }
	for _, s := range onB {
		testwait.Until(t, 5*time.Second, "A's local copy of an index entry written on B", func() bool {
			_, err := a.local.Get(ctx, entry(s))
			return err == nil
		})
		if _, err := a.local.Get(ctx, session.KeyPrefix+s.ID); err == nil {
			t.Fatal("A has the record of a session it never read: the test would not exercise the end by id")
		}
	}

	srv.Kill()
	restarted := false
	defer func() {
		if !restarted {
			srv.StartAgain()
		}
	}()
	for _, in := range []*instance{a, b} {
		testwait.Until(t, 10*time.Second, "the mirror down", func() bool { return in.store.Status() != "ok" })
	}
	list, err := a.m.List(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].PublicID != keep.PublicID() {
		t.Fatalf("A lists %d sessions while down, want only its own", len(list))
	}
	for _, s := range onB {
		if _, err := a.local.Get(ctx, entry(s)); err != nil {
			t.Fatalf("List while down removed the entry of a session whose record is elsewhere: %v", err)
		}
	}
	if _, err := a.m.EndByPublicID(ctx, "alice", onB[0].PublicID()); err != nil {
		t.Fatalf("EndByPublicID of a session begun on B, Redis down: %v", err)
	}
	if _, err := a.m.EndByPublicID(ctx, "alice", onB[0].PublicID()); !errors.Is(err, session.ErrUnknownSession) {
		t.Fatalf("EndByPublicID of the session just ended: %v, want ErrUnknownSession", err)
	}
	if _, err := a.m.EndByPublicID(ctx, "alice", strings.Repeat("cd", 16)); !errors.Is(err, kv.ErrUnavailable) {
		t.Fatalf("EndByPublicID of an id unknown here, Redis down: %v, want ErrUnavailable", err)
	}
	if _, err := a.m.EndOthers(ctx, "alice", keep.ID); err != nil {
		t.Fatalf("EndOthers, Redis down: %v", err)
	}

	srv.StartAgain()
	restarted = true
	a.waitSynced(t, "A")
	b.waitSynced(t, "B")
	for i, c := range cookies {
		testwait.Until(t, 3*time.Second, "the ended session refused on B", func() bool {
			_, _, err := load(b.m, c)
			return errors.Is(err, session.ErrNoSession)
		})
		testwait.Until(t, 3*time.Second, "B's local record of an ended session gone", func() bool {
			_, err := b.local.Get(ctx, session.KeyPrefix+onB[i].ID)
			return errors.Is(err, kv.ErrNotFound)
		})
	}
	for name, in := range map[string]*instance{"A": a, "B": b} {
		if list, err := in.m.List(ctx, "alice"); err != nil || len(list) != 1 || list[0].PublicID != keep.PublicID() {
			t.Errorf("%s lists %d sessions (%v) after the outage, want only the one kept", name, len(list), err)
		}
	}
}
