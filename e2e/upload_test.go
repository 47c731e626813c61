package e2e

// Uploaded avatars with the real binary: the image survives a crash and a
// restart, and with the Redis mirror every instance serves it.

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testimage"
)

// uploadAvatar uploads data as the session's avatar on base (Accept:
// application/json) and returns the image's URL.
func uploadAvatar(t *testing.T, c *http.Client, base, cookie string, data []byte) string {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", "me.jpg")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(data)
	_ = mw.Close()
	req, err := http.NewRequest(http.MethodPost, base+"/community/avatar/upload", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cookie", testbin.SessionCookie+"="+cookie)
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	defer res.Body.Close()
	var doc struct{ Avatar, URL string }
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil || res.StatusCode != http.StatusOK || doc.Avatar != "custom" {
		t.Fatalf("upload on %s: %d %+v (%v)", base, res.StatusCode, doc, err)
	}
	if !regexp.MustCompile(`^/avatars/[0-9a-f]{64}\.png$`).MatchString(doc.URL) {
		t.Fatalf("upload: url %q", doc.URL)
	}
	return doc.URL
}

// wantImage requires base+url to serve a clean 256×256 PNG and returns it.
func wantImage(t *testing.T, c *http.Client, base, url, when string) []byte {
	t.Helper()
	r := testbin.Must(t, c, http.MethodGet, base+url, "", "", nil)
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("%s: GET %s on %s = %d %q", when, url, base, r.Status, r.Header.Get("Content-Type"))
	}
	if err := testimage.Check([]byte(r.Body), 256); err != nil {
		t.Fatalf("%s: the image %v", when, err)
	}
	return []byte(r.Body)
}

// avatarURL is the url of GET /community/avatar.
func avatarURL(t *testing.T, c *http.Client, base, cookie string) string {
	t.Helper()
	r := testbin.Must(t, c, http.MethodGet, base+"/community/avatar", cookie, "", nil)
	var doc struct{ Avatar, URL string }
	if err := json.Unmarshal([]byte(r.Body), &doc); err != nil || r.Status != http.StatusOK {
		t.Fatalf("GET /community/avatar on %s: %d %s", base, r.Status, r.Body)
	}
	return doc.URL
}

// TestUploadSurvivesCrashAndRestart: an upload acknowledged by the server
// is there after kill -9 and after a clean restart: the same record, the
// same bytes.
func TestUploadSurvivesCrashAndRestart(t *testing.T) {
	testbin.SkipShort(t)
	data := filepath.Join(testbin.Root(t), "data")
	env := keyedEnv(t, data)
	c := testbin.Client(t)
	p := testbin.Start(t, "boot1", env)
	cookie := testbin.Signup(t, c, p.Base(), "alice", "correct horse battery")
	url := uploadAvatar(t, c, p.Base(), cookie, testimage.JPEGWithGPS(1200, 900))
	before := wantImage(t, c, p.Base(), url, "boot 1")
	p.Kill()

	p = testbin.Start(t, "boot2-after-kill", env)
	if got := avatarURL(t, c, p.Base(), cookie); got != url {
		t.Fatalf("after kill -9: avatar url %q, want %q", got, url)
	}
	if after := wantImage(t, c, p.Base(), url, "after kill -9"); !bytes.Equal(after, before) {
		t.Fatal("after kill -9: the image changed")
	}
	p.Stop()

	p = testbin.Start(t, "boot3", env)
	if got := avatarURL(t, c, p.Base(), cookie); got != url {
		t.Fatalf("after restart: avatar url %q, want %q", got, url)
	}
	wantImage(t, c, p.Base(), url, "after restart")
	p.Stop()
}

// TestMirrorServesUploads: an image uploaded on A is served by B (which
// never saw the upload) at once; replaced on B, the old one is gone on
// both.
func TestMirrorServesUploads(t *testing.T) {
	p := startPair(t)
	cookie := testbin.Signup(t, p.c, p.a.Base(), "alice", "correct horse battery")
	url := uploadAvatar(t, p.c, p.a.Base(), cookie, testimage.PNG(800, 600))
	onA := wantImage(t, p.c, p.a.Base(), url, "on A")
	if got := avatarURL(t, p.c, p.b.Base(), cookie); got != url {
		t.Fatalf("B's avatar url %q, want A's upload %q", got, url)
	}
	if onB := wantImage(t, p.c, p.b.Base(), url, "on B"); !bytes.Equal(onA, onB) {
		t.Fatal("B serves other bytes than A")
	}
	time.Sleep(5 * time.Second) // the per-user upload interval
	newURL := uploadAvatar(t, p.c, p.b.Base(), cookie, testimage.GIF(300, 300))
	wantImage(t, p.c, p.a.Base(), newURL, "replacement on A")
	for _, proc := range []*testbin.Proc{p.a, p.b} {
		if r := testbin.Must(t, p.c, http.MethodGet, proc.Base()+url, "", "", nil); r.Status != http.StatusNotFound {
			t.Fatalf("replaced image on %s: %d, want 404", proc.Base(), r.Status)
		}
	}
}
