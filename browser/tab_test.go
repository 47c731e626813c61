package browser_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"soulbridge/internal/testbin"
)

// testTimeout bounds one test's browser session.
const testTimeout = 90 * time.Second

// chromiumPath finds Debian's chromium. Without it a local run skips; with
// CI set the test fails, so CI cannot pass without having run the browser.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/usr/bin/chromium"); err == nil && !fi.IsDir() {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	const msg = "chromium not found (looked for /usr/bin/chromium and chromium in PATH): apt-get install chromium"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// cspProbe runs before every document's own scripts and reports CSP
// violations as console errors, which the recorder collects (the log domain
// reports them too; this catches them even if it did not).
const cspProbe = `document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline code') +
    ' in ' + e.sourceFile + ':' + e.lineNumber);
});`

// tab is one headless Chromium with one page, recording everything the page
// does on the network and every console error.
type tab struct {
	t   *testing.T
	srv *server
	ctx context.Context
	rec *recorder
	// noScript: the tab was made with JavaScript off.
	noScript bool
}

type tabOptions struct {
	noScript bool // JavaScript disabled (emulation.setScriptExecutionDisabled)
}

// withAndWithoutScript runs test as two subtests, "without JavaScript"
// (noScript true: give it to tabOptions) and "with JavaScript".
func withAndWithoutScript(t *testing.T, test func(t *testing.T, noScript bool)) {
	for _, noScript := range []bool{true, false} {
		name := "with JavaScript"
		if noScript {
			name = "without JavaScript"
		}
		t.Run(name, func(t *testing.T) { test(t, noScript) })
	}
}

// newTab starts a fresh Chromium (its own user-data dir) for srv.
func newTab(t *testing.T, srv *server, o tabOptions) *tab {
	t.Helper()
	exe := chromiumPath(t)
	profile := t.TempDir() // removed after the browser below has exited
	chromeOut := &testbin.Buffer{}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 800),
		chromedp.CombinedOutput(chromeOut),
	)
	base, cancelBase := context.WithTimeout(context.Background(), testTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	// The recorder sees every event of the tab from its first command on.
	// Attaching, chromedp enables the Runtime, Log and Network domains, so
	// console calls, exceptions, log entries (failed loads, CSP violations)
	// and network events all reach it.
	rec := newRecorder()
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithListener(rec.handle))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelBase()
		if out := chromeOut.String(); t.Failed() {
			if len(out) > 4000 {
				out = "…" + out[len(out)-4000:]
			}
			t.Logf("chromium output:\n%s", out)
		}
	})

	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v\n%s", err, chromeOut.String())
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe}); err != nil {
		t.Fatalf("install the CSP probe: %v", err)
	}
	if o.noScript {
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatalf("disable JavaScript: %v", err)
		}
	}
	return &tab{t: t, srv: srv, ctx: ctx, rec: rec, noScript: o.noScript}
}

// do runs actions, failing the test on error.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// loadTimeout bounds one page load, so a click that loads nothing (say, a
// form the browser refuses to submit) fails fast instead of at testTimeout.
const loadTimeout = 15 * time.Second

// navigate loads path and returns the document's final response.
func (tb *tab) navigate(path string) *network.Response {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, loadTimeout)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(tb.srv.base()+path))
	if err != nil {
		tb.t.Fatalf("navigate to %s: %v", path, err)
	}
	return res
}

// reload reloads the page and returns the document's final response.
func (tb *tab) reload() *network.Response {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, loadTimeout)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Reload())
	if err != nil {
		tb.t.Fatalf("reload: %v", err)
	}
	return res
}

// clickAndLoad clicks the element (a submit button or a link) and waits for
// the page it leads to; it returns that document's final response.
func (tb *tab) clickAndLoad(sel string) *network.Response {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, loadTimeout)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		tb.t.Fatalf("click %s and wait for the next page: %v", sel, err)
	}
	return res
}

// logOut clicks the header's "Log out" and requires landing on /.
func (tb *tab) logOut() {
	tb.t.Helper()
	res := tb.clickAndLoad(`header .logout-form button[type="submit"]`)
	if res.Status != 200 || tb.path() != "/" {
		tb.t.Fatalf("log out: %d at %s", res.Status, tb.path())
	}
}

// path is the current page's URL path and query.
func (tb *tab) path() string {
	tb.t.Helper()
	loc, err := chromedp.Run(tb.ctx, chromedp.Location())
	if err != nil {
		tb.t.Fatalf("location: %v", err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		tb.t.Fatalf("location %q: %v", loc, err)
	}
	return u.RequestURI()
}

// eval evaluates a JavaScript expression in the page (DevTools evaluation
// works with the page's scripts disabled too).
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitTrue polls expr until it is true, for at most 10 s.
func (tb *tab) waitTrue(what, expr string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("%s: %s still not true after 10s (last error: %v)", what, expr, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// waitExchange waits for the page's own request (method and path) after mark
// to be answered, and returns it.
func (tb *tab) waitExchange(mark int, method, path string) exchange {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	e, err := tb.rec.waitExchange(ctx, mark, method, path)
	if err != nil {
		tb.t.Fatal(err)
	}
	return e
}

// idle waits until the page's network has been quiet for a moment.
func (tb *tab) idle() {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	if err := tb.rec.waitIdle(ctx, 150*time.Millisecond); err != nil {
		tb.t.Fatal(err)
	}
}

// documentLoads returns the page loads (document requests) after mark.
func (tb *tab) documentLoads(mark int) []exchange {
	var out []exchange
	for _, e := range tb.rec.since(mark) {
		if e.kind == network.ResourceTypeDocument {
			out = append(out, e)
		}
	}
	return out
}

// checkClean fails the test for each of findProblems.
func (tb *tab) checkClean(allow func(problem) bool) {
	tb.t.Helper()
	tb.idle()
	for _, p := range tb.findProblems(allow) {
		tb.t.Error(p)
	}
}

// findProblems lists every console error, uncaught exception, CSP violation
// or error log entry (except those allow accepts), every request that left
// 127.0.0.1:PORT, every failed request and every 5xx answer.
func (tb *tab) findProblems(allow func(problem) bool) []string {
	var out []string
	for _, p := range tb.rec.problemList() {
		if allow != nil && allow(p) {
			continue
		}
		out = append(out, "console/CSP problem: "+p.String())
	}
	origin := tb.srv.base() + "/"
	for _, e := range tb.rec.all() {
		if !strings.HasPrefix(e.url, origin) {
			out = append(out, "request outside "+origin+": "+e.method+" "+e.url)
		}
		if e.status >= 500 {
			out = append(out, "server error: "+e.String())
		}
		// ERR_ABORTED is a load that a navigation cut short, not a failure.
		if e.failed != "" && !strings.Contains(e.failed, "ERR_ABORTED") {
			out = append(out, "failed request: "+e.method+" "+e.url+": "+e.failed)
		}
	}
	return out
}
