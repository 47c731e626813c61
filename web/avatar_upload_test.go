package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"soulbridge/avatar"
	"soulbridge/internal/testimage"
)

// multipartBody returns a multipart body with data as a file in field and
// its Content-Type; extra fields come first.
func multipartBody(t *testing.T, field, filename string, data []byte, extra map[string]string) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range extra {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile(field, filename)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(data)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String(), mw.FormDataContentType()
}

// upload posts data as field "file" to the upload path; accept "" is a
// browser's form post.
func (s *site) upload(t *testing.T, cookie *http.Cookie, data []byte, accept string) resp {
	t.Helper()
	body, ct := multipartBody(t, "file", "me.png", data, nil)
	h := map[string]string{"Content-Type": ct}
	if accept != "" {
		h["Accept"] = accept
	}
	return s.do(t, req{method: "POST", path: "/community/avatar/upload", cookie: cookie, header: h, body: body})
}

var imageURL = regexp.MustCompile(`^/avatars/[0-9a-f]{64}\.png$`)

// avatarDoc decodes an avatar document and checks its shape.
func avatarDoc(t *testing.T, what string, res resp) map[string]any {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("%s: %d %s", what, res.status, res.body)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(res.body), &doc); err != nil {
		t.Fatalf("%s: %v: %s", what, err, res.body)
	}
	for _, k := range []string{"username", "avatar", "url", "updated_at"} {
		if _, ok := doc[k]; !ok || len(doc) != 4 {
			t.Fatalf("%s: document %s, want exactly username, avatar, url, updated_at", what, res.body)
		}
	}
	return doc
}

// fetchImage GETs url and checks the response is a stored avatar image
// with its headers.
func (s *site) fetchImage(t *testing.T, url string) []byte {
	t.Helper()
	res := s.do(t, req{method: "GET", path: url})
	if res.status != http.StatusOK {
		t.Fatalf("GET %s: %d", url, res.status)
	}
	hash := strings.TrimSuffix(strings.TrimPrefix(url, "/avatars/"), ".png")
	for k, want := range map[string]string{
		"Content-Type":            "image/png",
		"ETag":                    `"` + hash + `"`,
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "sandbox",
		"Cache-Control":           "public, max-age=31536000, immutable",
	} {
		if got := res.header.Get(k); got != want {
			t.Errorf("GET %s: %s %q, want %q", url, k, got, want)
		}
	}
	if err := testimage.Check([]byte(res.body), avatar.Size); err != nil {
		t.Fatalf("GET %s: the image %v", url, err)
	}
	return []byte(res.body)
}

func TestUploadRoundTrips(t *testing.T) {
	s := newSite(t, siteOptions{})
	for i, tc := range []struct {
		name string
		data []byte
	}{
		{"png", testimage.PNG(500, 300)},
		{"jpeg with exif gps", testimage.JPEGWithGPS(640, 480)},
		{"gif", testimage.GIF(120, 160)},
		{"webp with exif", testimage.WebP("photo-exif.webp")},
		{"webp lossless", testimage.WebP("lossless.webp")},
		{"jpeg/zip polyglot", testimage.Polyglot(300, 300)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := "uploader" + strconv.Itoa(i)
			cookie := s.signup(t, user)
			doc := avatarDoc(t, "upload", s.upload(t, cookie, tc.data, "application/json"))
			url, _ := doc["url"].(string)
			if doc["avatar"] != "custom" || doc["username"] != user || !imageURL.MatchString(url) || doc["updated_at"] == nil {
				t.Fatalf("upload answered %v", doc)
			}
			got := avatarDoc(t, "GET /community/avatar", s.do(t, req{method: "GET", path: "/community/avatar", cookie: cookie}))
			if got["url"] != url || got["avatar"] != "custom" {
				t.Fatalf("GET /community/avatar = %v, want the uploaded %s", got, url)
			}
			s.fetchImage(t, url)
		})
	}
}

// TestUploadFormPost: without JavaScript the upload is a form post: 303 to
// /community, whose page then shows the picture, and identical images
// share one URL.
func TestUploadFormPost(t *testing.T) {
	s := newSite(t, siteOptions{})
	alice, bob := s.signup(t, "alice"), s.signup(t, "bob")
	pic := testimage.JPEGWithGPS(400, 400)
	res := s.upload(t, alice, pic, "")
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/community" {
		t.Fatalf("form upload: %d Location %q: %.300s", res.status, res.header.Get("Location"), res.body)
	}
	a := avatarDoc(t, "GET", s.do(t, req{method: "GET", path: "/community/avatar", cookie: alice}))
	b := avatarDoc(t, "upload", s.upload(t, bob, pic, "application/json"))
	if a["url"] != b["url"] {
		t.Fatalf("identical images got %v and %v", a["url"], b["url"])
	}
	page := s.do(t, req{method: "GET", path: "/community", cookie: alice})
	url := a["url"].(string)
	if page.status != http.StatusOK || !strings.Contains(page.body, `id="current-avatar" class="avatar avatar-xl" src="`+url+`"`) {
		t.Fatalf("community page does not show %s as alice's avatar", url)
	}
	if strings.Count(page.body, url) < 3 { // hers, and both member tiles
		t.Fatalf("community page shows %s %d times, want 3", url, strings.Count(page.body, url))
	}
	if !strings.Contains(page.body, `action="/community/avatar/upload"`) || !strings.Contains(page.body, `enctype="multipart/form-data"`) ||
		!strings.Contains(page.body, `type="file"`) || !strings.Contains(page.body, `name="file"`) {
		t.Fatal("community page has no plain upload form")
	}
}

// TestUploadRefusals checks the refusals that cost no decode and the order
// of the checks: 401, 429, 413, 400 (field), 415 (type); none of them
// counts toward the upload window. (The 422s, which do count, are in
// upload_limits_test.go.)
func TestUploadRefusals(t *testing.T) {
	s := newSite(t, siteOptions{})
	cookie := s.signup(t, "alice")
	big := bytes.Repeat([]byte{0xff}, avatar.MaxUploadBytes+1)
	copy(big, testimage.PNG(10, 10))
	bigFile, bigFileCT := multipartBody(t, "file", "a.png", big, nil)
	tooBig := strings.Repeat("x", avatar.MaxUploadBytes+100<<10)
	wrongField, wrongFieldCT := multipartBody(t, "image", "me.png", testimage.PNG(20, 20), nil)
	bigWrongField, bigWrongFieldCT := multipartBody(t, "image", "me.png", big, nil)
	emptyFile, emptyFileCT := multipartBody(t, "file", "", nil, nil)
	hugeOther, hugeOtherCT := multipartBody(t, "file", "me.png", testimage.PNG(20, 20), map[string]string{"note": strings.Repeat("x", avatar.MaxUploadBytes+1)})
	for _, tc := range []struct {
		name   string
		r      req
		status int
	}{
		{"no session", req{body: wrongField, header: map[string]string{"Content-Type": wrongFieldCT}}, 401},
		{"oversized", req{body: tooBig, header: map[string]string{"Content-Type": "multipart/form-data; boundary=x"}}, 413},
		{"oversized file", req{body: bigFile, header: map[string]string{"Content-Type": bigFileCT}}, 413},
		{"oversized wrong field (413 first)", req{body: bigWrongField, header: map[string]string{"Content-Type": bigWrongFieldCT}}, 413},
		{"oversized other field", req{body: hugeOther, header: map[string]string{"Content-Type": hugeOtherCT}}, 413},
		{"oversized chunked", req{bodyReader: io.MultiReader(strings.NewReader("--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n"), bytes.NewReader(big)),
			header: map[string]string{"Content-Type": "multipart/form-data; boundary=x"}}, 413},
		{"wrong field", req{body: wrongField, header: map[string]string{"Content-Type": wrongFieldCT}}, 400},
		{"not multipart", req{body: "file=abc", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 400},
		{"raw png", req{body: string(testimage.PNG(20, 20)), header: map[string]string{"Content-Type": "image/png"}}, 400},
		{"empty file", req{body: emptyFile, header: map[string]string{"Content-Type": emptyFileCT}}, 400},
		{"svg with a script", uploadReq(t, []byte(testimage.SVG)), 415},
		{"html", uploadReq(t, []byte("<html><script>alert(1)</script></html>")), 415},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			r.method, r.path = "POST", "/community/avatar/upload"
			if tc.status != 401 {
				r.cookie = cookie
			}
			for _, accept := range []string{"", "application/json"} {
				r.header = copyHeader(r.header)
				r.header["Accept"] = accept
				if r.bodyReader != nil && accept != "" {
					continue // a reader is read once
				}
				res := s.do(t, r)
				if res.status != tc.status {
					t.Fatalf("Accept %q: %d, want %d: %.300s", accept, res.status, tc.status, res.body)
				}
				if accept == "" {
					isHTML(t, "form post", res)
				} else {
					jsonError(t, "JSON upload", res)
				}
			}
		})
	}
	// None of those counted: an upload now is stored, and the next one
	// within the window gets 429, before the body is even looked at.
	avatarDoc(t, "upload after refusals", s.upload(t, cookie, testimage.PNG(64, 64), "application/json"))
	for _, tc := range []struct {
		name string
		r    req
	}{
		{"good", uploadReq(t, testimage.PNG(65, 64))},
		{"oversized", req{body: tooBig, header: map[string]string{"Content-Type": "multipart/form-data; boundary=x"}}},
		{"wrong field", req{body: wrongField, header: map[string]string{"Content-Type": wrongFieldCT}}},
	} {
		r := tc.r
		r.method, r.path, r.cookie = "POST", "/community/avatar/upload", cookie
		res := s.do(t, r)
		if res.status != http.StatusTooManyRequests {
			t.Fatalf("%s upload within the window: %d, want 429", tc.name, res.status)
		}
		if ra, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || ra < 1 || ra > 5 {
			t.Fatalf("%s: Retry-After %q, want 1..5", tc.name, res.header.Get("Retry-After"))
		}
		isHTML(t, "429 of a form post", res)
	}
	// Without a session: 401 before 429.
	if res := s.do(t, req{method: "POST", path: "/community/avatar/upload", header: map[string]string{"Accept": "application/json"}}); res.status != 401 {
		t.Fatalf("no session: %d", res.status)
	}
	// The 64 KiB limit still holds everywhere else.
	res := s.do(t, req{method: "POST", path: "/community/avatar", cookie: cookie, body: "avatar=owl&x=" + strings.Repeat("a", 70<<10),
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	if res.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("70 KiB form to /community/avatar: %d, want 413", res.status)
	}
}

func uploadReq(t *testing.T, data []byte) req {
	body, ct := multipartBody(t, "file", "me.png", data, nil)
	return req{body: body, header: map[string]string{"Content-Type": ct}}
}

func copyHeader(h map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		out[k] = v
	}
	return out
}

// TestReplacedImageIsRemoved: a new upload (or a preset) removes the image
// no one uses any more; one still used by another stays.
func TestReplacedImageIsRemoved(t *testing.T) {
	const window = 200 * time.Millisecond
	s := newSite(t, siteOptions{uploadInterval: window})
	alice, bob := s.signup(t, "alice"), s.signup(t, "bob")
	first := avatarDoc(t, "first", s.upload(t, alice, testimage.PNG(100, 100), "application/json"))["url"].(string)
	shared := avatarDoc(t, "bob", s.upload(t, bob, testimage.GIF(90, 90), "application/json"))["url"].(string)
	time.Sleep(window)
	second := avatarDoc(t, "second", s.upload(t, alice, testimage.GIF(90, 90), "application/json"))["url"].(string)
	if second != shared {
		t.Fatalf("identical GIFs: %s and %s", second, shared)
	}
	if res := s.do(t, req{method: "GET", path: first}); res.status != http.StatusNotFound {
		t.Fatalf("replaced image: %d, want 404", res.status)
	}
	// Alice picks a preset: bob still uses the picture.
	if res := s.do(t, req{method: "PUT", path: "/community/avatar", cookie: alice, body: `{"avatar":"owl"}`,
		header: map[string]string{"Content-Type": "application/json"}}); res.status != 200 {
		t.Fatalf("PUT owl: %d", res.status)
	}
	s.fetchImage(t, shared)
	if res := s.do(t, req{method: "POST", path: "/community/avatar", cookie: bob, form: map[string][]string{"avatar": {"fox"}}}); res.status != 303 {
		t.Fatalf("POST fox: %d", res.status)
	}
	if res := s.do(t, req{method: "GET", path: shared}); res.status != http.StatusNotFound {
		t.Fatalf("image no one uses: %d, want 404", res.status)
	}
}

func TestAvatarImageServing(t *testing.T) {
	s := newSite(t, siteOptions{})
	cookie := s.signup(t, "alice")
	url := avatarDoc(t, "upload", s.upload(t, cookie, testimage.PNG(300, 300), "application/json"))["url"].(string)
	body := s.fetchImage(t, url)
	// Revalidation by ETag, HEAD, no session needed (fetchImage sends none).
	etag := `"` + strings.TrimSuffix(strings.TrimPrefix(url, "/avatars/"), ".png") + `"`
	if res := s.do(t, req{method: "GET", path: url, header: map[string]string{"If-None-Match": etag}}); res.status != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d, want 304", res.status)
	}
	if res := s.do(t, req{method: "HEAD", path: url}); res.status != 200 || res.header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Fatalf("HEAD: %d, Content-Length %q", res.status, res.header.Get("Content-Length"))
	}
	hash := strings.TrimSuffix(strings.TrimPrefix(url, "/avatars/"), ".png")
	for _, p := range []string{
		"/avatars/" + strings.Repeat("0", 64) + ".png", // unknown
		"/avatars/" + hash, // no extension
		"/avatars/" + hash + ".svg",
		"/avatars/" + strings.ToUpper(hash) + ".png",
		"/avatars/" + hash[:63] + ".png",
		"/avatars/..%2Favatar:alice.png",
		"/avatars/",
	} {
		res := s.do(t, req{method: "GET", path: p})
		if res.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, res.status)
		}
		if strings.Contains(res.header.Get("Content-Type"), "image") {
			t.Errorf("GET %s: Content-Type %q", p, res.header.Get("Content-Type"))
		}
	}
	if res := s.do(t, req{method: "GET", path: "/avatars/" + strings.Repeat("0", 64) + ".png", header: map[string]string{"Accept": "application/json"}}); res.status != 404 {
		t.Fatalf("unknown image, JSON: %d", res.status)
	} else {
		jsonError(t, "unknown image", res)
	}
}

// TestConcurrentUploadsAreBounded: a burst of uploads from many users at
// many addresses all get an answer (stored, or 503 when too many are in
// flight), and every stored one is served.
func TestConcurrentUploadsAreBounded(t *testing.T) {
	s := newSite(t, siteOptions{trustProxy: true})
	var cookies []*http.Cookie
	for i := range 12 {
		cookies = append(cookies, s.signup(t, "user"+strconv.Itoa(i)))
	}
	pic := testimage.JPEGWithGPS(800, 600)
	var mu sync.Mutex
	statuses := map[int]int{}
	var urls []string
	var wg sync.WaitGroup
	for i, c := range cookies {
		wg.Go(func() {
			r := uploadReq(t, pic)
			r.method, r.path, r.cookie = "POST", "/community/avatar/upload", c
			r.header["Accept"] = "application/json"
			r.header["X-Real-IP"] = "192.0.2." + strconv.Itoa(i+1)
			res := s.do(t, r)
			mu.Lock()
			defer mu.Unlock()
			statuses[res.status]++
			if res.status == 200 {
				var doc map[string]any
				_ = json.Unmarshal([]byte(res.body), &doc)
				urls = append(urls, doc["url"].(string))
			}
		})
	}
	wg.Wait()
	if statuses[200] == 0 || statuses[200]+statuses[503] != len(cookies) {
		t.Fatalf("statuses %v, want 200s and maybe 503s", statuses)
	}
	for _, u := range urls {
		if u != urls[0] {
			t.Fatalf("identical uploads got %s and %s", u, urls[0])
		}
	}
	s.fetchImage(t, urls[0])
}

// TestSweepImagesRemovesUnused: the periodic sweep removes an image no one
// references (left by an upload that died half-way, say) and keeps those
// in use; it stops when its context ends.
func TestSweepImagesRemovesUnused(t *testing.T) {
	s := newSite(t, siteOptions{})
	cookie := s.signup(t, "alice")
	used := avatarDoc(t, "upload", s.upload(t, cookie, testimage.PNG(100, 100), "application/json"))["url"].(string)
	orphan := strings.Repeat("ab", 32)
	if err := s.store.Set(context.Background(), "image:"+orphan, testimage.PNG(3, 3), 0); err != nil {
		t.Fatal(err)
	}
	s.fetchImageStatus(t, "/avatars/"+orphan+".png", http.StatusOK)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.server.SweepImages(ctx, 10*time.Millisecond) }()
	deadline := time.Now().Add(5 * time.Second)
	for s.do(t, req{method: "GET", path: "/avatars/" + orphan + ".png"}).status != http.StatusNotFound {
		if time.Now().After(deadline) {
			t.Fatal("the sweep did not remove the unused image within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("SweepImages did not return after its context ended")
	}
	s.fetchImage(t, used)
}

func (s *site) fetchImageStatus(t *testing.T, url string, want int) {
	t.Helper()
	if res := s.do(t, req{method: "GET", path: url}); res.status != want {
		t.Fatalf("GET %s: %d, want %d", url, res.status, want)
	}
}
