package browser_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"soulbridge/internal/testimage"
)

// pictureFile writes a JPEG with EXIF GPS to a temporary file for the
// browser's file input.
func pictureFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "holiday.jpg")
	if err := os.WriteFile(path, testimage.JPEGWithGPS(900, 600), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitUploadShown waits until the page shows an uploaded picture (an
// /avatars/<hash>.png URL) as the user's avatar and member tile, loaded,
// and returns its URL.
func (tb *tab) waitUploadShown(user string) string {
	tb.t.Helper()
	tb.waitTrue("the uploaded picture is shown", `(() => {
		const img = document.getElementById('current-avatar');
		const tile = document.querySelector('[data-member="`+user+`"] img');
		const src = img.getAttribute('src');
		return /^\/avatars\/[0-9a-f]{64}\.png$/.test(src) && img.complete && img.naturalWidth === 256 &&
			tile !== null && tile.getAttribute('src') === src &&
			document.querySelector('input[name="avatar"]:checked') === null;
	})()`)
	return eval[string](tb, `document.getElementById('current-avatar').getAttribute('src')`)
}

// TestUploadWithJavaScript: choosing a file shows a square preview; the
// upload is a fetch (no navigation) and the page then shows the picture.
func TestUploadWithJavaScript(t *testing.T) {
	srv := startServer(t)
	tb := newTab(t, srv, tabOptions{})
	user := "erin"
	tb.signUp(user)
	tb.waitExchange(0, "GET", "/community/avatar")
	tb.do("choose a picture", chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{pictureFile(t)}, chromedp.NodeVisible))
	tb.waitTrue("the preview is drawn", `(() => {
		const c = document.getElementById('upload-preview');
		if (!c || c.hidden || c.getBoundingClientRect().width === 0) return false;
		const d = c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data;
		return d[3] === 255 && d[0] > 200 && d[1] > 150 && d[2] < 90; // the picture's yellow disc
	})()`)
	mark := tb.rec.mark()
	tb.do("press Upload", chromedp.Click(chromedp.CSS(`#upload-form button[type="submit"]`), chromedp.NodeVisible))
	if e := tb.waitExchange(mark, "POST", "/community/avatar/upload"); e.status != 200 {
		t.Fatalf("POST /community/avatar/upload: %d", e.status)
	}
	url := tb.waitUploadShown(user)
	if docs := tb.documentLoads(mark); len(docs) != 0 {
		t.Errorf("the upload navigated: %v", docs)
	}
	if got := eval[string](tb, `document.getElementById('current-avatar-name').textContent.trim()`); got != "Your picture" {
		t.Errorf("avatar name %q, want Your picture", got)
	}
	// After a reload the server renders it the same.
	tb.reload()
	if got := tb.waitUploadShown(user); got != url {
		t.Errorf("after reload: %s, want %s", got, url)
	}
	tb.checkClean(nil)
}

// TestUploadWithoutJavaScript: the upload control is a plain multipart form
// that posts, gets 303 and shows the picture.
func TestUploadWithoutJavaScript(t *testing.T) {
	srv := startServer(t)
	tb := newTab(t, srv, tabOptions{noScript: true})
	user := "finn"
	tb.signUp(user)
	tb.do("choose a picture", chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{pictureFile(t)}, chromedp.NodeVisible))
	mark := tb.rec.mark()
	res := tb.clickAndLoad(`#upload-form button[type="submit"]`)
	if res.Status != 200 || tb.path() != "/community" {
		t.Fatalf("after Upload: %d at %s, want 200 at /community", res.Status, tb.path())
	}
	post := false
	for _, e := range tb.documentLoads(mark) {
		if e.method == "POST" && e.path() == "/community/avatar/upload" {
			post = true
			if e.status != 303 {
				t.Errorf("POST /community/avatar/upload: %d, want 303", e.status)
			}
		}
	}
	if !post {
		t.Fatalf("no form POST /community/avatar/upload: %v", tb.documentLoads(mark))
	}
	url := tb.waitUploadShown(user)
	if !strings.HasPrefix(url, "/avatars/") {
		t.Fatalf("current avatar %q", url)
	}
	tb.checkClean(nil)
}
