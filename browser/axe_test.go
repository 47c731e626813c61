package browser_test

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// axeSource is the vendored axe-core script (testdata/axe-core/README.md
// says which version and how to update it), read once per test binary.
var axeSource = sync.OnceValues(func() ([]byte, error) {
	return os.ReadFile("testdata/axe-core/axe.min.js")
})

// axeRun runs axe-core on the whole document with the WCAG 2.0, 2.1 and 2.2
// level A and AA rules and resolves to its violations, each cut down to
// what a test failure needs.
const axeRun = `axe.run(document, {
  runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
  resultTypes: ['violations'],
}).then((r) => JSON.stringify(r.violations.map((v) => ({
  id: v.id,
  impact: v.impact,
  help: v.help,
  nodes: v.nodes.map((n) => ({ target: n.target.map(String).join(' '), summary: n.failureSummary })),
}))))`

// axeViolation is one axe-core rule the page breaks, with the elements that
// break it.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  string `json:"target"`
		Summary string `json:"summary"`
	} `json:"nodes"`
}

// checkAxe is the accessibility check for any page a test has loaded: it
// injects axe-core into the current page, runs its WCAG 2.x level A and AA
// rules on the whole document as it is now, and fails the test (without
// stopping it) with one error per violating element: the rule id, its
// impact, the element's CSS target and axe's summary of what to fix. what
// names the page in those errors ("recover, wrong code").
//
// It works in tabs with JavaScript off too: the page's own scripts did not
// run when it loaded and still do not (nothing is reloaded), but axe needs
// script execution while it runs, so the check switches it on for its own
// run and off again. The script is injected through DevTools, which the
// page's Content Security Policy does not govern, so the page needs no
// exception for it. Call it once the page shows the state to check (after
// tb.idle() or a waitTrue for the part that matters).
func (tb *tab) checkAxe(what string) {
	tb.t.Helper()
	for _, v := range tb.axeViolations() {
		for _, n := range v.Nodes {
			tb.t.Errorf("axe on %s: %s (%s) at %s: %s\n%s", what, v.ID, v.Impact, n.Target, v.Help, n.Summary)
		}
	}
}

// axeViolations runs axe-core on the current page (see checkAxe).
func (tb *tab) axeViolations() []axeViolation {
	tb.t.Helper()
	src, err := axeSource()
	if err != nil {
		tb.t.Fatalf("read axe-core: %v", err)
	}
	if tb.noScript {
		tb.setScripts(true)
		defer tb.setScripts(false)
	}
	// Loaded once per document: a page that already has axe keeps it.
	if !eval[bool](tb, `typeof window.axe === 'object'`) {
		tb.do("inject axe-core", chromedp.Evaluate[chromedp.Void](string(src)))
	}
	raw, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("run axe-core: %v", err)
	}
	var out []axeViolation
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		tb.t.Fatalf("axe-core's answer %.200q: %v", raw, err)
	}
	return out
}

// setScripts switches the page's script execution on or off (a tab made
// with noScript has it off).
func (tb *tab) setScripts(on bool) {
	tb.t.Helper()
	if _, err := chromedp.Call(tb.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on}); err != nil {
		tb.t.Fatalf("switch scripts on=%v: %v", on, err)
	}
}

// TestAxeCatchesViolations shows that checkAxe's check can fail, with
// JavaScript on and off: /login has no violation, and after the test adds an
// image without alternative text and an input without a label, axe names
// both rules.
func TestAxeCatchesViolations(t *testing.T) {
	srv := startServer(t)
	for _, noScript := range []bool{false, true} {
		t.Run(fmt.Sprintf("noScript=%v", noScript), func(t *testing.T) {
			tb := newTab(t, srv, tabOptions{noScript: noScript})
			tb.navigate("/login")
			if got := tb.axeViolations(); len(got) != 0 {
				t.Fatalf("violations on /login before breaking it: %+v", got)
			}
			tb.setScripts(true)
			tb.do("break the page", chromedp.Evaluate[chromedp.Void](`(() => {
				const img = document.createElement('img');
				img.id = 'no-alt';
				img.src = '/favicon.ico';
				document.querySelector('main').append(img);
				const input = document.createElement('input');
				input.id = 'unlabelled';
				document.querySelector('main').append(input);
			})()`))
			tb.setScripts(!noScript)
			ids := map[string]string{}
			for _, v := range tb.axeViolations() {
				for _, n := range v.Nodes {
					ids[v.ID] += n.Target
				}
			}
			if ids["image-alt"] != "#no-alt" || ids["label"] != "#unlabelled" {
				t.Errorf("axe found %v, want image-alt at #no-alt and label at #unlabelled", ids)
			}
		})
	}
}
