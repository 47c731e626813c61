package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// A log-in made on an instance whose link to Redis is cut stays logged in
// when the link comes back (the fault test lost such sessions at the end of
// some runs).
func TestLogInOnCutInstanceSurvivesHealing(t *testing.T) {
	c := startFaultCluster(t, testbin.Binary(t), 2)
	hc := testbin.Client(t)
	a, b := c.insts[0], c.insts[1]
	testbin.Signup(t, hc, a.base, "alice", "correct horse battery")
	// B serves alice once, so it has her account.
	testbin.Form(t, hc, b.base, "/login", "alice", "correct horse battery")
	time.Sleep(300 * time.Millisecond)
	for round := range 5 {
		b.proxy.Cut()
		time.Sleep(time.Duration(100*round) * time.Millisecond)
		cookie := testbin.Form(t, hc, b.base, "/login", "alice", "correct horse battery")
		wantStatus(t, hc, b.base, cookie, http.StatusOK, "on B while cut")
		b.proxy.Pass()
		waitFor(t, 10*time.Second, "B's mirror up", func() bool {
			r := testbin.Must(t, hc, http.MethodGet, b.base+"/readyz", "", "", nil)
			return r.Status == http.StatusOK && strings.Contains(r.Body, `"redis":"ok"`) && strings.Contains(r.Body, `"outbox":0`)
		})
		time.Sleep(1200 * time.Millisecond)
		wantStatus(t, hc, b.base, cookie, http.StatusOK, "on B after healing")
		wantStatus(t, hc, a.base, cookie, http.StatusOK, "on A after healing")
	}
}
