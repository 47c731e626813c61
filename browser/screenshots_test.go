package browser_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"soulbridge/internal/testbin"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// viewport is one screen size of the screenshots.
type viewport struct {
	name          string
	width, height int64
	mobile        bool
}

var viewports = []viewport{
	{name: "1280x800", width: 1280, height: 800},
	{name: "390x844", width: 390, height: 844, mobile: true},
}

// screenshotDir is $SCREENSHOT_DIR, else <tmp>/soulbridge-screenshots.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "soulbridge-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// seedMember signs a member up over plain HTTP (no Origin header, as a
// script would) and sets their avatar, so the members grid has people in it.
func seedMember(t *testing.T, srv *server, name, avatarID string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	res, err := c.PostForm(srv.base()+"/signup", url.Values{"username": {name}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Request.URL.Path != "/community" {
		t.Fatalf("seed %s: sign-up ended at %s (%d)", name, res.Request.URL, res.StatusCode)
	}
	body, _ := json.Marshal(map[string]string{"avatar": avatarID})
	req, _ := http.NewRequest(http.MethodPut, srv.base()+"/community/avatar", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("seed %s: PUT avatar %s: %d", name, avatarID, res.StatusCode)
	}
}

// shoot sets the viewport, waits for the page to settle and writes a PNG of
// the visible part as <dir>/<page>-<viewport>.png.
func (tb *tab) shoot(dir, pageName string, v viewport) {
	tb.t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulatePortrait}
	if v.mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	tb.do("set the viewport "+v.name,
		chromedp.EmulateViewport(v.width, v.height, opts...),
		chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`),
	)
	tb.idle()
	tb.waitTrue("images loaded", `[...document.images].every((i) => i.complete && i.naturalWidth > 0)`)
	if got := eval[int](tb, `document.documentElement.scrollWidth`); got > int(v.width) {
		tb.t.Errorf("%s at %s: page is %dpx wide, wider than the viewport (horizontal scrolling)", pageName, v.name, got)
	}
	tb.checkContrast(pageName + " at " + v.name)
	buf, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Fatalf("screenshot %s %s: %v", pageName, v.name, err)
	}
	buf = recompress(tb.t, buf)
	file := filepath.Join(dir, fmt.Sprintf("%s-%s.png", pageName, v.name))
	if err := os.WriteFile(file, buf, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// recompress re-encodes a PNG at the best compression, to keep committed
// screenshots small, and checks its size is the viewport's.
func recompress(t *testing.T, buf []byte) []byte {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	var out bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&out, img); err != nil {
		t.Fatal(err)
	}
	if out.Len() < len(buf) {
		return out.Bytes()
	}
	return buf
}

// TestScreenshots writes the landing, sign-up-with-an-error, log-in and
// community and account pages at desktop and phone sizes, and checks along the way that
// errors appear next to their field.
func TestScreenshots(t *testing.T) {
	srv := startServer(t)
	for _, m := range []struct{ name, avatar string }{
		{"mira", "owl"}, {"jonas", "bear"}, {"priya", "cat"}, {"li_wei", "panda"},
		{"sam", "frog"}, {"noor", "whale"}, {"tomasz", "robot"}, {"ines", "rabbit"},
	} {
		seedMember(t, srv, m.name, m.avatar)
	}
	dir := screenshotDir(t)
	tb := newTab(t, srv, tabOptions{})

	for _, v := range viewports {
		if res := tb.navigate("/"); res.Status != 200 {
			t.Fatalf("GET /: %d", res.Status)
		}
		tb.shoot(dir, "landing", v)

		// Sign-up with a name that is taken: 409, the message next to
		// the username field, the name refilled.
		tb.navigate("/signup")
		tb.do("fill in a taken name",
			chromedp.EmulateViewport(v.width, v.height),
			chromedp.SendKeys(chromedp.ID("username"), "mira", chromedp.NodeVisible),
			chromedp.SendKeys(chromedp.ID("password"), password, chromedp.NodeVisible),
		)
		if res := tb.clickAndLoad(`main form[action="/signup"] button[type="submit"]`); res.Status != 409 {
			t.Fatalf("sign-up with a taken name: %d, want 409", res.Status)
		}
		tb.checkFieldError("username", "taken")
		tb.shoot(dir, "signup-error", v)

		if res := tb.navigate("/login"); res.Status != 200 {
			t.Fatalf("GET /login: %d", res.Status)
		}
		tb.shoot(dir, "login", v)
	}

	// A too-short password, past the browser's own minlength check: the
	// server's message appears next to the password field.
	tb.navigate("/signup")
	tb.do("fill in a short password",
		chromedp.RemoveAttribute(chromedp.ID("password"), "minlength"),
		chromedp.SendKeys(chromedp.ID("username"), "newcomer", chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.ID("password"), "short", chromedp.NodeVisible),
	)
	if res := tb.clickAndLoad(`main form[action="/signup"] button[type="submit"]`); res.Status != 400 {
		t.Fatalf("sign-up with a short password: %d, want 400", res.Status)
	}
	tb.checkFieldError("password", "8")
	if got := eval[string](tb, `document.getElementById('username').value`); got != "newcomer" {
		t.Errorf("username not refilled after an error: %q", got)
	}

	// Community: sign up, pick the fox.
	tb.do("desktop viewport", chromedp.EmulateViewport(1280, 800))
	tb.signUp("alex")
	tb.waitExchange(0, "GET", "/community/avatar")
	mark := tb.rec.mark()
	tb.do("pick the fox", chromedp.Click(chromedp.CSS(`label.avatar-option:has(input[value="fox"])`), chromedp.NodeVisible))
	if e := tb.waitExchange(mark, "PUT", "/community/avatar"); e.status != 200 {
		t.Fatalf("PUT /community/avatar: %d", e.status)
	}
	tb.waitAvatarShown("fox", "Fox", "alex")
	if n := eval[int](tb, `document.querySelectorAll('[data-member]').length`); n != 9 {
		t.Errorf("members grid shows %d members, want 9", n)
	}
	if !eval[bool](tb, `(() => { const b = document.querySelector('header .logout-form button');
		const r = b && b.getBoundingClientRect(); return !!r && r.width > 0 && r.height > 0; })()`) {
		t.Error("no visible Log out button in the header")
	}
	tb.do("move focus away from the picker", chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`))
	for _, v := range viewports {
		tb.do("reload at "+v.name, chromedp.EmulateViewport(v.width, v.height))
		tb.reload()
		tb.waitAvatarShown("fox", "Fox", "alex")
		if !eval[bool](tb, `(() => { const b = document.querySelector('header .logout-form button');
			const r = b && b.getBoundingClientRect(); return !!r && r.width > 0 && r.right <= window.innerWidth; })()`) {
			t.Errorf("Log out button not visible at %s", v.name)
		}
		tb.shoot(dir, "community", v)
	}

	// The account page, with a second session from another client.
	testbin.Form(t, testbin.Client(t), srv.base(), "/login", "alex", password)
	for _, v := range viewports {
		tb.do("account at "+v.name, chromedp.EmulateViewport(v.width, v.height))
		if res := tb.navigate("/account"); res.Status != 200 {
			t.Fatalf("GET /account: %d", res.Status)
		}
		tb.shoot(dir, "account", v)
	}

	t.Logf("screenshots written to %s", dir)
	// The two rejected sign-ups are documents answered 409 and 400 on
	// purpose; Chromium logs each as "Failed to load resource", so exactly
	// those are accepted.
	tb.checkClean(allowStatus(srv, "/signup", 409, 400))
}

// checkFieldError requires a visible error next to the field, linked to it
// with aria-describedby and aria-invalid, that contains want.
func (tb *tab) checkFieldError(field, want string) {
	tb.t.Helper()
	got := eval[string](tb, `(() => {
		const input = document.getElementById('`+field+`');
		const err = document.getElementById('`+field+`-error');
		if (!input || !err) return 'no #`+field+`-error';
		if (input.getAttribute('aria-invalid') !== 'true') return 'aria-invalid not set';
		if (!(input.getAttribute('aria-describedby') || '').split(' ').includes(err.id)) return 'not in aria-describedby';
		const r = err.getBoundingClientRect();
		if (r.width === 0 || r.height === 0) return 'error not visible';
		// "next to the field": within the field's own wrapper, right below it.
		if (err.closest('.field') !== input.closest('.field')) return 'error outside the field wrapper';
		return err.textContent;
	})()`)
	if !strings.Contains(got, want) {
		tb.t.Errorf("%s error: %q, want a visible message containing %q", field, got, want)
	}
}
