package e2e

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// loginLoop logs name in on each of bases, over and over on one goroutine
// per base, keeping the session cookie of every log-in that succeeded, until
// stop is called; stop waits for the log-ins in flight and returns the
// cookies and every status seen.
func loginLoop(t *testing.T, c *http.Client, name string, bases ...string) (stop func() (cookies []string, statuses map[int]int)) {
	t.Helper()
	var (
		mu       sync.Mutex
		cookies  []string
		statuses = map[int]int{}
		done     = make(chan struct{})
		wg       sync.WaitGroup
	)
	form := url.Values{"username": {name}, "password": {operatorPassword}}.Encode()
	for _, base := range bases {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				r, err := testbin.Do(c, http.MethodPost, base+"/login", "", "application/x-www-form-urlencoded", strings.NewReader(form))
				mu.Lock()
				if err != nil {
					statuses[-1]++
				} else {
					statuses[r.Status]++
					if ck := r.SessionCookie(); ck != "" {
						cookies = append(cookies, ck)
					}
				}
				mu.Unlock()
			}
		})
	}
	return func() ([]string, map[int]int) {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return cookies, statuses
	}
}

// raceLockWithLogIns runs `users lock` through envA while alice logs in
// over and over on every instance in bases, then requires: the command
// succeeded after some log-ins had; no session made before or during the
// race works on any instance; a new log-in on each gets 403 saying locked.
func raceLockWithLogIns(t *testing.T, c *http.Client, envA testbin.Env, bases ...string) {
	t.Helper()
	before := testbin.Form(t, c, bases[0], "/login", "alice", operatorPassword)
	stop := loginLoop(t, c, "alice", bases...)
	// Let the loop make sessions first, so that log-ins are in flight (some
	// between their password check and their session write) when the lock
	// lands.
	time.Sleep(700 * time.Millisecond)
	runOperator(t, envA, 0, "users", "lock", "alice", "--reason", "race")
	cookies, statuses := stop()
	t.Logf("log-ins during the race: %v (status: count), %d sessions made", statuses, len(cookies))
	if len(cookies) == 0 {
		t.Fatalf("no log-in succeeded before the lock (%v): the race was not run", statuses)
	}
	if statuses[-1] > 0 || statuses[http.StatusInternalServerError] > 0 {
		t.Errorf("log-ins failed during the race: %v", statuses)
	}
	for _, base := range bases {
		for i, ck := range append([]string{before}, cookies...) {
			if s := avatarStatus(t, c, base, ck); s != http.StatusUnauthorized {
				t.Errorf("session %d of %d (made before or during the lock) on %s: %d, want 401", i, len(cookies)+1, base, s)
			}
		}
		if r := operatorLogIn(t, c, base, "alice", operatorPassword); r.Status != http.StatusForbidden || !strings.Contains(r.Body, "locked") {
			t.Errorf("log-in on %s after the lock: %d %s, want 403 saying locked", base, r.Status, r.Body)
		}
	}
}

// TestOperatorLockRacesLogIn: `users lock` against the running binary
// while log-ins of that account run in a loop. Once the command has
// returned, no session made before or during the race works, and a new
// log-in gets 403 "locked".
func TestOperatorLockRacesLogIn(t *testing.T) {
	testbin.SkipShort(t)
	env := keyedEnv(t, filepath.Join(testbin.Root(t), "data"))
	c := testbin.Client(t)
	p := testbin.Start(t, "ops", env)
	testbin.Signup(t, c, p.Base(), "alice", operatorPassword)
	raceLockWithLogIns(t, c, env, p.Base())
}

// TestOperatorLockRacesLogInAcrossInstances: the same race with two
// instances on one Redis, log-ins running on both and the lock made
// through A: at once, no session works on either and both refuse the
// password with 403.
func TestOperatorLockRacesLogInAcrossInstances(t *testing.T) {
	p := startPair(t)
	testbin.Signup(t, p.c, p.a.Base(), "alice", operatorPassword)
	raceLockWithLogIns(t, p.c, p.envA, p.a.Base(), p.b.Base())
}
