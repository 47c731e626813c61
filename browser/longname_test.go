package browser_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// longName is a user name of the longest allowed length (32).
const longName = "alexandria_wolfenstein-longnamed"

// nameClipsJS lists, for every text node of the page that holds name and is
// laid out (not display:none), what keeps the whole name from being read:
// any part of it outside the viewport, or outside an ancestor that clips
// its overflow (overflow other than visible), or an ellipsis. It returns
// [] when every shown copy is whole, and the number of shown copies in
// "shown:N" first.
const nameClipsJS = `((name) => {
	const out = [];
	let shown = 0;
	const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
	for (let n = walker.nextNode(); n; n = walker.nextNode()) {
		const at = n.data.indexOf(name);
		if (at < 0) continue;
		const el = n.parentElement;
		if (el.closest('[hidden]') || el.getClientRects().length === 0) continue;
		shown++;
		const r = document.createRange();
		r.setStart(n, at); r.setEnd(n, at + name.length);
		const where = (el.className || el.tagName.toLowerCase());
		for (const box of r.getClientRects()) {
			if (box.left < -0.5 || box.right > window.innerWidth + 0.5) out.push(where + ': outside the viewport');
			for (let a = el; a && a !== document.body; a = a.parentElement) {
				const cs = getComputedStyle(a);
				if (cs.overflowX === 'visible' && cs.overflowY === 'visible') continue;
				const ab = a.getBoundingClientRect();
				if (box.left < ab.left - 0.5 || box.right > ab.right + 0.5 || box.top < ab.top - 0.5 || box.bottom > ab.bottom + 0.5) {
					out.push(where + ': clipped by ' + (a.className || a.tagName.toLowerCase()));
				}
			}
		}
		for (let a = el; a && a !== document.body; a = a.parentElement) {
			const cs = getComputedStyle(a);
			if (cs.textOverflow === 'ellipsis' && a.scrollWidth > a.clientWidth) out.push(where + ': ellipsis on ' + (a.className || a.tagName.toLowerCase()));
		}
	}
	return ['shown:' + shown, ...out];
})`

// TestLongNameShownWhole (issue 18 row 8): a user name of the longest
// allowed length is readable whole, as visible text, wherever the page
// shows it (the header's "Signed in as", the community page's greeting,
// card and members grid, the account page), at 1280 px and on a phone:
// nothing clipped, cut by an ellipsis or pushed off screen; the header
// shows it at both sizes. Screenshots of both pages at both sizes are
// written like TestScreenshots'.
func TestLongNameShownWhole(t *testing.T) {
	srv := startServer(t)
	seedMember(t, srv, "mira", "owl")
	dir := screenshotDir(t)
	tb := newTab(t, srv, tabOptions{})
	tb.do("desktop viewport", chromedp.EmulateViewport(1280, 800))
	tb.signUp(longName)
	// The page's own avatar request, before the next navigation (which
	// would cancel it and leave it pending in the recorder).
	tb.waitExchange(0, "GET", "/community/avatar")
	for _, v := range viewports {
		for _, page := range []struct{ path, name string }{{"/community", "community-long-name"}, {"/account", "account-long-name"}} {
			tb.do(page.path+" at "+v.name, chromedp.EmulateViewport(v.width, v.height))
			if res := tb.navigate(page.path); res.Status != 200 {
				t.Fatalf("GET %s: %d", page.path, res.Status)
			}
			tb.shoot(dir, page.name, v)
			got := eval[[]string](tb, nameClipsJS+`('`+longName+`')`)
			if len(got) == 0 || got[0] == "shown:0" {
				t.Errorf("%s at %s: the name is shown nowhere", page.path, v.name)
			}
			for _, p := range got[1:] {
				t.Errorf("%s at %s: %s", page.path, v.name, p)
			}
			header := eval[string](tb, `(() => { const e = document.querySelector('header .nav-user');
				return e && e.getClientRects().length > 0 ? e.textContent : ''; })()`)
			if !strings.Contains(header, longName) {
				t.Errorf("%s at %s: the header does not show the name (%q)", page.path, v.name, header)
			}
		}
	}
	tb.checkClean(nil)
}
