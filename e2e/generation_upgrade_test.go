package e2e

// Account generations arrive with an upgrade (docs/architecture.md,
// "Account generation"): the previous release's sessions and accounts carry
// none. A deploy onto its data dir logs nobody out, a session it ended
// stays ended, and from the first password change on this build, nothing
// made before it survives. During a rolling deploy, an instance of the
// previous release and one of this build share one Redis: each honours what
// the other writes, and neither's rewrite of an account lets a session
// outlive the password change that ended it.

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"soulbridge/internal/testbin"
)

// releaseBeforeGenerations is main just before account generations.
const releaseBeforeGenerations = "5d9b1b21b6bcfabdf2f2261c11d47ccd4d2e7fff"

// changePassword changes the password with cookie and returns the session
// cookie the change re-issues.
func changePassword(t *testing.T, c *http.Client, base, cookie, current, next string) string {
	t.Helper()
	form := url.Values{"current_password": {current}, "new_password": {next}}
	r := testbin.Must(t, c, http.MethodPost, base+"/account/password", cookie, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if r.Status != http.StatusSeeOther || r.SessionCookie() == "" {
		t.Fatalf("password change on %s: %d (cookie %q), want 303 with a new cookie; %.300s", base, r.Status, r.SessionCookie(), r.Body)
	}
	return r.SessionCookie()
}

// wantStatus requires GET /community/avatar with cookie on base to answer want.
func wantStatus(t *testing.T, c *http.Client, base, cookie string, want int, what string) {
	t.Helper()
	if r := testbin.Must(t, c, http.MethodGet, base+"/community/avatar", cookie, "", nil); r.Status != want {
		t.Fatalf("%s: GET /community/avatar on %s = %d %s, want %d", what, base, r.Status, r.Body, want)
	}
}

func TestUpgradeKeepsSessionsAndAddsGenerations(t *testing.T) {
	old := testbin.BuildRevision(t, releaseBeforeGenerations)
	data := filepath.Join(testbin.Root(t), "data")
	c := testbin.Client(t)
	env := testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": testbin.Key(t)})
	const pw, pw2, pw3 = "correct horse battery", "staple violet quarry", "quarry staple violet"

	// The previous release: alice with two sessions and an avatar; bob
	// changes his password, which rotates one session and ends the other.
	p := testbin.SpawnWith(t, "previous", env, testbin.Options{Binary: old})
	p.WaitHealthy(15 * time.Second)
	a1 := testbin.Signup(t, c, p.Base(), "alice", pw)
	a2 := testbin.Form(t, c, p.Base(), "/login", "alice", pw)
	if r, err := testbin.PutAvatar(c, p.Base(), a1, "owl"); err != nil || r.Status != http.StatusOK {
		t.Fatalf("previous release: PUT avatar: %v %d", err, r.Status)
	}
	b0 := testbin.Signup(t, c, p.Base(), "bob", pw)
	b1 := testbin.Form(t, c, p.Base(), "/login", "bob", pw)
	b1 = changePassword(t, c, p.Base(), b1, pw, pw2)
	wantStatus(t, c, p.Base(), b0, http.StatusUnauthorized, "previous release, bob's other session after his change")
	p.Stop()

	// This build on that data dir: everyone still logged in, with the avatar.
	p = testbin.Start(t, "this-build", env)
	for what, cookie := range map[string]string{"alice's first session": a1, "alice's second session": a2, "bob's session rotated at his change": b1} {
		wantStatus(t, c, p.Base(), cookie, http.StatusOK, "after the upgrade, "+what)
	}
	if a, _ := testbin.GetAvatar(t, c, p.Base(), a1); a.Avatar != "owl" {
		t.Fatalf("after the upgrade alice's avatar is %q, want owl", a.Avatar)
	}
	wantStatus(t, c, p.Base(), b0, http.StatusUnauthorized, "after the upgrade, bob's session ended before it")
	testbin.Form(t, c, p.Base(), "/login", "bob", pw2)
	// The first password change on this build ends every earlier session.
	a1 = changePassword(t, c, p.Base(), a1, pw, pw2)
	wantStatus(t, c, p.Base(), a2, http.StatusUnauthorized, "alice's other session after her change on this build")
	wantStatus(t, c, p.Base(), a1, http.StatusOK, "alice's own session after her change on this build")
	p.Stop()
}

func TestRollingDeployWithThePreviousReleaseOnOneRedis(t *testing.T) {
	old := testbin.BuildRevision(t, releaseBeforeGenerations)
	const pw, pw2, pw3 = "correct horse battery", "staple violet quarry", "quarry staple violet"
	prev, next, c, rs := mixedOnOneRedis(t, old)

	// Signed up on this build: the session works on both.
	c1 := testbin.Signup(t, c, next.Base(), "carol", pw)
	c2 := testbin.Form(t, c, next.Base(), "/login", "carol", pw)
	wantStatus(t, c, prev.Base(), c1, http.StatusOK, "a session of this build on the previous release")

	// The previous release changes the password: it rewrites the account
	// without the fields it does not know and rotates c1 without a
	// generation. This build honours the rotated session and not c2.
	c1 = changePassword(t, c, prev.Base(), c1, pw, pw2)
	wantStatus(t, c, next.Base(), c1, http.StatusOK, "the session the previous release rotated at its password change, on this build")
	wantStatus(t, c, next.Base(), c2, http.StatusUnauthorized, "a session of this build from before the previous release's password change")
	c3 := testbin.Form(t, c, prev.Base(), "/login", "carol", pw2)
	wantStatus(t, c, next.Base(), c3, http.StatusOK, "a log-in on the previous release after the change, on this build")

	// This build changes it again: the account gets a generation back, the
	// previous release still reads it, and what was made before is ended on
	// both.
	c1 = changePassword(t, c, next.Base(), c1, pw2, pw3)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer rdb.Close()
	raw, err := rdb.Get(context.Background(), "soulbridge:user:carol").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "generation") || !strings.Contains(string(raw), "sessions_since") {
		t.Fatalf("the account in Redis after this build's change has no generation: %s", raw)
	}
	for _, p := range []*testbin.Proc{prev, next} {
		wantStatus(t, c, p.Base(), c3, http.StatusUnauthorized, "a session from before this build's password change")
		wantStatus(t, c, p.Base(), c1, http.StatusOK, "the session that changed the password")
	}
	c4 := testbin.Form(t, c, prev.Base(), "/login", "carol", pw3)
	wantStatus(t, c, next.Base(), c4, http.StatusOK, "a log-in on the previous release with the newest password, on this build")
}
