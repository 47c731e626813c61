package e2e

// A rolling deploy of the release that follows the primary through
// failovers (issue 20) over the one before it: for a while instances of
// both share one Redis. Nothing the mirror stores in Redis or publishes
// changed, so each reads what the other writes and hears the other's
// log-outs; and the previous release, rolled back to on a data dir this
// build used (which now holds the local key mirror:primary), serves it as
// before.

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// beforeFailover is the last release before the push-back to a new
// primary and Sentinel URLs.
const beforeFailover = "8eb59aa4d56b53ddfb70d19ab4b1216c36f692fc"

func TestFailoverReleaseSharesRedisWithPrevious(t *testing.T) {
	old := testbin.BuildRevision(t, beforeFailover)
	m := startMixed(t, old)
	prev, this, c, newEnv := m.prev, m.next, m.c, m.nextEnv
	avatar := func(base, cookie string) (int, string) {
		r := testbin.Must(t, c, http.MethodGet, base+"/community/avatar", cookie, "", nil)
		return r.Status, r.Body
	}
	wantAvatar := func(base, cookie, id, what string) {
		t.Helper()
		waitFor(t, 2*time.Second, what, func() bool {
			st, body := avatar(base, cookie)
			return st == http.StatusOK && strings.Contains(body, `"avatar":"`+id+`"`)
		})
	}
	wantEnded := func(base, cookie, what string) {
		t.Helper()
		waitFor(t, 2*time.Second, what, func() bool {
			st, _ := avatar(base, cookie)
			return st == http.StatusUnauthorized
		})
	}
	put := func(base, cookie, id string) {
		t.Helper()
		if r, err := testbin.PutAvatar(c, base, cookie, id); err != nil || r.Status != http.StatusOK {
			t.Fatalf("PUT avatar %s on %s: %v %d", id, base, err, r.Status)
		}
	}
	logout := func(base, cookie string) {
		t.Helper()
		if r := testbin.Must(t, c, http.MethodPost, base+"/logout", cookie, "", nil); r.Status != http.StatusSeeOther {
			t.Fatalf("log-out on %s: %d", base, r.Status)
		}
	}

	// Written by the previous release, read by this one, and back.
	alice := testbin.Signup(t, c, prev.Base(), "alice", "correct horse battery")
	put(prev.Base(), alice, "owl")
	wantAvatar(this.Base(), alice, "owl", "this build reads the previous release's session and avatar")
	put(this.Base(), alice, "fox")
	wantAvatar(prev.Base(), alice, "fox", "the previous release reads this build's avatar change")
	bob := testbin.Signup(t, c, this.Base(), "bob", "correct horse battery")
	bobLater := testbin.Form(t, c, prev.Base(), "/login", "bob", "correct horse battery")
	put(prev.Base(), bob, "cat")
	wantAvatar(this.Base(), bob, "cat", "this build reads an avatar the previous release wrote for its account")
	// Log-outs honoured by the other release (its cache hears them).
	avatar(prev.Base(), bob) // cached on the previous release
	logout(this.Base(), bob)
	wantEnded(prev.Base(), bob, "the previous release honours this build's log-out")
	avatar(this.Base(), alice)
	logout(prev.Base(), alice)
	wantEnded(this.Base(), alice, "this build honours the previous release's log-out")

	// Rolled back: the previous release on this build's data dir.
	this.Stop()
	back := testbin.SpawnWith(t, "rolled-back", newEnv, testbin.Options{Binary: old})
	back.WaitHealthy(15 * time.Second)
	wantAvatar(back.Base(), bobLater, "cat", "the previous release on this build's data dir")
	wantEnded(back.Base(), bob, "a log-out on the previous release on this build's data dir")
}
