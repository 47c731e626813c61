package browser_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"soulbridge/internal/testbin"
)

// The lines the page's script writes to the console when it loads the
// avatar; the README's troubleshooting tells people to look for them.
const (
	consoleAvatarLoaded   = "avatar loaded from the server: "
	consoleAvatarFellBack = "avatar fell back to the default: the session is not valid (401)"
)

// consoleInfo collects the page's console.info lines.
type consoleInfo struct {
	mu    sync.Mutex
	lines []string
}

// listenConsoleInfo starts collecting tb's console.info lines.
func listenConsoleInfo(tb *tab) *consoleInfo {
	tb.t.Helper()
	c := &consoleInfo{}
	err := chromedp.Listen(tb.ctx, func(ev any) {
		if ev, ok := ev.(*runtime.EventConsoleAPICalled); ok && ev.Type == runtime.ConsoleAPICalledTypeInfo {
			c.mu.Lock()
			c.lines = append(c.lines, consoleText(ev.Args))
			c.mu.Unlock()
		}
	})
	if err != nil {
		tb.t.Fatalf("listen to the console: %v", err)
	}
	return c
}

// wait waits up to 10 s for the line want and fails the test without it.
func (c *consoleInfo) wait(t *testing.T, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		c.mu.Lock()
		lines := append([]string(nil), c.lines...)
		c.mu.Unlock()
		for _, l := range lines {
			if l == want {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("console.info %q never appeared; the console's info lines: %q", want, lines)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestConsoleSaysWhereTheAvatarCameFrom checks, in real Chromium, the
// console lines that tell someone debugging a deploy where the page's avatar
// came from: loaded from the server with a valid session, and the default
// after a 401 (here: the server restarted with another key).
func TestConsoleSaysWhereTheAvatarCameFrom(t *testing.T) {
	if testing.Short() {
		t.Skip("browser suite: skipped by -short")
	}
	srv := startServer(t)
	tb := newTab(t, srv, tabOptions{})
	console := listenConsoleInfo(tb)

	tb.signUp("cleo")
	if e := tb.waitExchange(0, "GET", "/community/avatar"); e.status != 200 {
		t.Fatalf("the page's GET /community/avatar: %d, want 200", e.status)
	}
	console.wait(t, consoleAvatarLoaded+"default")

	mark := tb.rec.mark()
	tb.do("click the owl", chromedp.Click(chromedp.CSS(`label.avatar-option:has(input[value="owl"])`), chromedp.NodeVisible))
	if e := tb.waitExchange(mark, "PUT", "/community/avatar"); e.status != 200 {
		t.Fatalf("PUT /community/avatar: %d, want 200", e.status)
	}
	tb.waitAvatarShown("owl", "Owl", "cleo")
	mark = tb.rec.mark()
	tb.reload()
	if e := tb.waitExchange(mark, "GET", "/community/avatar"); e.status != 200 {
		t.Fatalf("the page's GET /community/avatar after a reload: %d, want 200", e.status)
	}
	console.wait(t, consoleAvatarLoaded+"owl")
	tb.idle()

	// Another key: the cookie no longer verifies, the refetch gets a 401.
	srv.restart(testbin.Key(t))
	mark = tb.rec.mark()
	tb.do("come back to the page", chromedp.Evaluate[chromedp.Void](`document.dispatchEvent(new Event('visibilitychange'))`))
	if e := tb.waitExchange(mark, "GET", "/community/avatar"); e.status != 401 {
		t.Fatalf("the page's GET /community/avatar after the key changed: %d, want 401", e.status)
	}
	console.wait(t, consoleAvatarFellBack)
	if src := eval[string](tb, `document.getElementById('current-avatar').getAttribute('src')`); !strings.Contains(src, "/avatars/default.") {
		t.Errorf("after the 401 the page shows %q, want the default avatar", src)
	}

	tb.checkClean(allowStatus(srv, "/community/avatar", 401))
}
