package browser_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestCheckersCatchProblems shows that the checks every other test relies on
// can fail: a CSP violation, an off-site request, a console error, an
// uncaught exception and low-contrast text are all reported.
func TestCheckersCatchProblems(t *testing.T) {
	srv := startServer(t)
	tb := newTab(t, srv, tabOptions{})
	tb.navigate("/login")
	if got := tb.findProblems(nil); len(got) != 0 {
		t.Fatalf("problems before misbehaving: %q", got)
	}
	if bad := eval[[]string](tb, contrastProbe); len(bad) != 0 {
		t.Fatalf("contrast problems before misbehaving: %q", bad)
	}
	tb.do("misbehave", chromedp.Evaluate[chromedp.Void](`(() => {
		const img = document.createElement('img');
		img.src = 'http://192.0.2.1/tracker.png';
		document.body.append(img);
		const p = document.createElement('p');
		p.textContent = 'pale text';
		p.style.color = '#c8c8c8';
		document.querySelector('main .card').append(p);
		console.error('boom');
		setTimeout(() => { throw new Error('uncaught'); }, 0);
	})()`))
	tb.idle()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(fmt.Sprint(tb.rec.problemList()), "Uncaught Error") {
			break
		}
	}
	all := strings.Join(tb.findProblems(nil), "\n")
	for _, want := range []string{
		"CSP violation: img-src blocked http://192.0.2.1/tracker.png",                // the page probe
		`violates the following Content Security Policy directive: "img-src 'self'"`, // the log domain
		"request outside " + srv.base() + "/: GET http://192.0.2.1/tracker.png",
		"[console.error] boom",
		"Uncaught Error: uncaught",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("problems do not mention %q:\n%s", want, all)
		}
	}
	bad := eval[[]string](tb, contrastProbe)
	if len(bad) != 1 || !strings.Contains(bad[0], `"pale text"`) {
		t.Errorf("contrast probe: %q, want one complaint about the pale text", bad)
	}
}
