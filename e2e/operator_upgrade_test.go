package e2e

// The operator's fields on the account (the lock, uploads off, the note)
// survive an instance of the previous release, which knows none of them,
// rewriting the account during a rolling deploy; and a session that
// release makes for a locked account grants nothing on this build.

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// releaseBeforeOperator is main just before the operator commands.
const releaseBeforeOperator = "26ed4ef7e192386881263b2a754302c78cb43ded"

func TestOperatorLockSurvivesPreviousRelease(t *testing.T) {
	old := testbin.BuildRevision(t, releaseBeforeOperator)
	data := filepath.Join(testbin.Root(t), "data")
	c := testbin.Client(t)
	env := testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": testbin.Key(t), "LOG_FORMAT": "text"})

	p := testbin.Start(t, "this-build", env)
	testbin.Signup(t, c, p.Base(), "alice", operatorPassword)
	runOperator(t, env, 0, "users", "lock", "alice", "--reason", "spam")
	p.Stop()

	// The previous release knows no lock: alice logs in there, and
	// changes her password, which rewrites the account.
	prev := testbin.SpawnWith(t, "previous", env, testbin.Options{Binary: old})
	prev.WaitHealthy(15 * time.Second)
	cookie := testbin.Form(t, c, prev.Base(), "/login", "alice", operatorPassword)
	const newPassword = "staple violet quarry"
	cookie = changePassword(t, c, prev.Base(), cookie, operatorPassword, newPassword)
	prev.Stop()

	p = testbin.Start(t, "this-build-again", env)
	wantStatus(t, c, p.Base(), cookie, http.StatusUnauthorized, "a session the previous release made for a locked account")
	if r := operatorLogIn(t, c, p.Base(), "alice", newPassword); r.Status != http.StatusForbidden {
		t.Errorf("log-in after the previous release rewrote the locked account: %d %s, want 403 (the lock kept)", r.Status, r.Body)
	}
	if out, _ := runOperator(t, env, 0, "users", "show", "alice"); !strings.Contains(out, "locked:    yes: spam") {
		t.Errorf("users show after the previous release's rewrite:\n%s\nwant locked with its reason", out)
	}
	runOperator(t, env, 0, "users", "unlock", "alice")
	wantStatus(t, c, p.Base(), cookie, http.StatusUnauthorized, "the previous release's session after unlock")
	testbin.Form(t, c, p.Base(), "/login", "alice", newPassword)
}
