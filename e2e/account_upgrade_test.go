package e2e

// The per-user session index arrives with an upgrade: sessions the previous
// release began (records only, no index entries) are still logged in on
// this build and listed on their owner's account page, because the index
// is built at start-up, before the port is bound; the next start finds it
// built (one read of its marker).

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// releaseBeforeIndex is main just before the per-user session index.
const releaseBeforeIndex = "ac35279e1288ef6470376b8bcb87d2305388be15"

func TestUpgradeListsSessionsFromBeforeTheIndex(t *testing.T) {
	old := testbin.BuildRevision(t, releaseBeforeIndex)
	data := filepath.Join(testbin.Root(t), "data")
	c := testbin.Client(t)
	env := testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": testbin.Key(t)})

	// The previous release: one sign-up, then two clients log in.
	p := testbin.SpawnWith(t, "previous", env, testbin.Options{Binary: old})
	p.WaitHealthy(15 * time.Second)
	testbin.Signup(t, c, p.Base(), "alice", "correct horse battery")
	one := testbin.Form(t, c, p.Base(), "/login", "alice", "correct horse battery")
	two := testbin.Form(t, c, p.Base(), "/login", "alice", "correct horse battery")
	if r := testbin.Must(t, c, http.MethodGet, p.Base()+"/account/sessions", one, "", nil); r.Status == http.StatusOK {
		t.Fatalf("the previous release already lists sessions (%s): the test would prove nothing", r.Body)
	}
	p.Stop()

	type entry struct {
		ID      string `json:"id"`
		Current bool   `json:"current"`
	}
	list := func(base, cookie, who string) (ids map[string]bool, current string) {
		t.Helper()
		r := testbin.Must(t, c, http.MethodGet, base+"/account/sessions", cookie, "", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("%s: GET /account/sessions = %d %s, want 200 (still logged in)", who, r.Status, r.Body)
		}
		var es []entry
		if err := json.Unmarshal([]byte(r.Body), &es); err != nil {
			t.Fatalf("%s: %v: %s", who, err, r.Body)
		}
		ids = map[string]bool{}
		for _, e := range es {
			ids[e.ID] = true
			if e.Current {
				if current != "" {
					t.Fatalf("%s: two sessions marked current: %s", who, r.Body)
				}
				current = e.ID
			}
		}
		if len(es) != 3 || current == "" {
			t.Fatalf("%s: sessions %s, want the sign-up's and both clients', one of them current", who, r.Body)
		}
		return ids, current
	}
	check := func(base, when string) {
		t.Helper()
		ids1, cur1 := list(base, one, when+", client one")
		ids2, cur2 := list(base, two, when+", client two")
		if cur1 == cur2 || !ids1[cur2] || !ids2[cur1] {
			t.Fatalf("%s: client one (current %s) and client two (current %s) do not both appear in both lists", when, cur1, cur2)
		}
	}

	p = testbin.Start(t, "this-build", env)
	check(p.Base(), "this build on the previous release's data")
	p.Stop()
	if !strings.Contains(p.Output(), "built the per-user session index") {
		t.Errorf("the first start did not build the index:\n%s", p.Output())
	}

	// Built once: the next start reads the marker and builds nothing.
	p = testbin.Start(t, "this-build-again", env)
	check(p.Base(), "the second start")
	p.Stop()
	if strings.Contains(p.Output(), "built the per-user session index") {
		t.Errorf("the second start built the index again:\n%s", p.Output())
	}
}
