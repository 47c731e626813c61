package e2e

// Upgrades are deploys too: the previous release writes accounts, sessions
// and avatars, then this build starts on the same data dir, first alone,
// then with the Redis mirror on (the first start writes the data dir marker,
// the second finds it current), and a second instance with an empty data dir
// joins: everyone is still logged in with their avatar, and a session logged
// out before the upgrade stays out.

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testredis"
)

// previousRelease is the last release before stored values became
// versioned records (kv/record.go): it wrote plain JSON values.
const previousRelease = "dc5863c5574811b56673cdc5905342f7f100740a"

func TestUpgradeFromPreviousRelease(t *testing.T) {
	old := testbin.BuildRevision(t, previousRelease)
	root := testbin.Root(t)
	data := filepath.Join(root, "data")
	key := testbin.Key(t)
	c := testbin.Client(t)
	env := testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": key})

	// The previous release: three users, two avatars, one log-out.
	p := testbin.SpawnWith(t, "previous", env, testbin.Options{Binary: old})
	p.WaitHealthy(15 * time.Second)
	alice := testbin.Signup(t, c, p.Base(), "alice", "correct horse battery")
	bob := testbin.Signup(t, c, p.Base(), "bob", "correct horse battery")
	gone := testbin.Signup(t, c, p.Base(), "carol", "correct horse battery")
	for cookie, id := range map[string]string{alice: "owl", bob: "fox"} {
		if r, err := testbin.PutAvatar(c, p.Base(), cookie, id); err != nil || r.Status != http.StatusOK {
			t.Fatalf("previous release: PUT avatar %s: %v %d", id, err, r.Status)
		}
	}
	if r := testbin.Must(t, c, http.MethodPost, p.Base()+"/logout", gone, "", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("previous release: logout %d", r.Status)
	}
	p.Stop()
	if _, err := os.Stat(filepath.Join(data, markerFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the previous release left a marker (%v): it should predate the marker", err)
	}

	check := func(base, when string) {
		t.Helper()
		for cookie, want := range map[string]string{alice: "owl", bob: "fox"} {
			r := testbin.Must(t, c, http.MethodGet, base+"/community/avatar", cookie, "", nil)
			if r.Status != http.StatusOK || !strings.Contains(r.Body, `"avatar":"`+want+`"`) {
				t.Fatalf("%s: GET avatar = %d %s, want 200 with %s", when, r.Status, r.Body, want)
			}
		}
		if r := testbin.Must(t, c, http.MethodGet, base+"/community/avatar", gone, "", nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("%s: logged-out session answered %d, want 401", when, r.Status)
		}
		r := testbin.Must(t, c, http.MethodPost, base+"/signup", "", "application/x-www-form-urlencoded",
			strings.NewReader("username=alice&password=another+password"))
		if r.Status != http.StatusConflict {
			t.Fatalf("%s: sign-up of an existing name answered %d, want 409", when, r.Status)
		}
		testbin.Form(t, c, base, "/login", "bob", "correct horse battery")
	}

	// This build, mirror off. A store without a marker is format 1: read as
	// it is, and the marker (format 2) is written.
	p = testbin.Start(t, "this-build", env)
	check(p.Base(), "this build on the previous release's data dir")
	p.Stop()
	if !strings.Contains(p.Output(), "store format 1") {
		t.Errorf("the first start of this build did not log the format 1 store:\n%s", p.Output())
	}
	if m := readMarkerFile(t, data); m.App != "soulbridge" || m.Format != 2 || m.Prefix != "soulbridge:" {
		t.Errorf("marker after the upgrade = %+v", m)
	}
	marked, err := os.Stat(filepath.Join(data, markerFile))
	if err != nil {
		t.Fatal(err)
	}

	// This build, mirror on: the old records are pushed to Redis, so a new
	// instance with an empty data dir serves them too.
	rs := testredis.Start(t)
	withRedis := testbin.Env{"REDIS_URL": rs.URL()}
	p = testbin.Start(t, "this-build-mirror", env.With(withRedis))
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer rdb.Close()
	waitFor(t, 10*time.Second, "old records pushed to redis", func() bool {
		n, err := rdb.Exists(context.Background(), "soulbridge:user:alice", "soulbridge:avatar:bob").Result()
		return err == nil && n == 2
	})
	check(p.Base(), "this build with the mirror on")
	// The second start found a current marker: no migration, no rewrite.
	if again, err := os.Stat(filepath.Join(data, markerFile)); err != nil || !again.ModTime().Equal(marked.ModTime()) {
		t.Errorf("the second start rewrote the marker (%v)", err)
	}
	if out := p.Output(); strings.Contains(out, "store format 1") || strings.Contains(out, "writing the marker") {
		t.Errorf("the second start migrated or rewrote the marker:\n%s", out)
	}
	fresh := testbin.Start(t, "fresh-instance", testbin.ServerEnv(t, filepath.Join(root, "fresh"),
		testbin.Env{"SECRET_KEY": key}.With(withRedis)))
	waitFor(t, 5*time.Second, "fresh instance: redis ok", func() bool {
		r := testbin.Must(t, c, http.MethodGet, fresh.Base()+"/readyz", "", "", nil)
		return strings.Contains(r.Body, `"redis":"ok"`)
	})
	check(fresh.Base(), "a new instance with an empty data dir")
}
