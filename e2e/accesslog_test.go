package e2e

// The access log is gathered in memory and written out in batches: its
// lines still appear promptly, one per request, and SIGTERM loses none.

import (
	"net/http"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

var avatarGetLogRE = regexp.MustCompile(`msg=request method=GET path=/community/avatar status=200 `)

// TestAccessLogLinesAppearAndSurviveShutdown: a request's line appears
// within a second while the server runs; a burst answered right before
// SIGTERM is logged in full, one line per request, by the time it exits.
func TestAccessLogLinesAppearAndSurviveShutdown(t *testing.T) {
	root := testbin.Root(t)
	c := testbin.Client(t)
	p := testbin.Start(t, "accesslog", keyedEnv(t, filepath.Join(root, "data")))
	cookie := testbin.Signup(t, c, p.Base(), "lena", "staple battery horse")

	testbin.Must(t, c, http.MethodGet, p.Base()+"/community/avatar", cookie, "", nil)
	start := time.Now()
	waitFor(t, 2*time.Second, "the request's access line", func() bool {
		return len(avatarGetLogRE.FindAllString(p.Output(), -1)) == 1
	})
	if d := time.Since(start); d > time.Second {
		t.Errorf("the access line took %s to appear, want within a second", d)
	}

	const burst = 300
	for range burst {
		if r := testbin.Must(t, c, http.MethodGet, p.Base()+"/community/avatar", cookie, "", nil); r.Status != 200 {
			t.Fatalf("GET: %d %s", r.Status, r.Body)
		}
	}
	p.Signal(syscall.SIGTERM)
	if code := p.WaitExit(15 * time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM:\n%s", code, p.Output())
	}
	if n := len(avatarGetLogRE.FindAllString(p.Output(), -1)); n != burst+1 {
		t.Fatalf("%d access lines for %d answered requests after SIGTERM", n, burst+1)
	}
}
