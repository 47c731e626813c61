package assets

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// avatarIDs is the preset catalogue the other packages rely on.
var avatarIDs = []string{
	"default", "owl", "fox", "cat", "bear", "panda", "frog", "rabbit",
	"penguin", "koala", "tiger", "whale", "robot", "octopus", "hedgehog",
}

func newAssets(t *testing.T) *Assets {
	t.Helper()
	a, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func embedded(t *testing.T, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(static, "static/"+name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

func TestAvatarsAreSafeSVG(t *testing.T) {
	a := newAssets(t)
	for _, id := range avatarIDs {
		t.Run(id, func(t *testing.T) {
			name := "avatars/" + id + ".svg"
			if a.URL(name) == "" {
				t.Fatalf("URL(%q) is empty: not embedded", name)
			}
			checkSVG(t, embedded(t, name), 3*1024)
		})
	}
	t.Run("favicon", func(t *testing.T) { checkSVG(t, embedded(t, "favicon.svg"), 3*1024) })
}

func TestAvatarsAreExactlyTheCatalogue(t *testing.T) {
	want := map[string]bool{}
	for _, id := range avatarIDs {
		want[id+".svg"] = true
	}
	entries, err := fs.ReadDir(static, "static/avatars")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !want[e.Name()] {
			t.Errorf("unexpected file avatars/%s", e.Name())
		}
		delete(want, e.Name())
	}
	for name := range want {
		t.Errorf("missing avatars/%s", name)
	}
}

// checkSVG asserts that b is well-formed XML with an <svg> root in the SVG
// namespace, has a <title>, and contains nothing a strict CSP would block or
// that could reach outside the file.
func checkSVG(t *testing.T, b []byte, maxSize int) {
	t.Helper()
	if len(b) > maxSize {
		t.Errorf("size %d > %d bytes", len(b), maxSize)
	}
	lower := strings.ToLower(string(b))
	for _, bad := range []string{"<style", "style=", "<script", "href", "javascript:", "url(", "<foreignobject", "<!entity", " on"} {
		if bad == " on" {
			if regexp.MustCompile(`\son[a-z]+\s*=`).MatchString(lower) {
				t.Errorf("contains an event handler attribute")
			}
			continue
		}
		if strings.Contains(lower, bad) {
			t.Errorf("contains %q", bad)
		}
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var root *xml.StartElement
	title := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("invalid XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == nil {
				se := se.Copy()
				root = &se
			}
			if se.Name.Local == "title" {
				title = true
			}
		}
	}
	if root == nil || root.Name.Local != "svg" || root.Name.Space != "http://www.w3.org/2000/svg" {
		t.Fatalf("root element = %v, want svg in the SVG namespace", root)
	}
	if !title {
		t.Error("no <title>")
	}
}

func TestAvatarsHaveTheSharedViewBox(t *testing.T) {
	for _, id := range avatarIDs {
		b := embedded(t, "avatars/"+id+".svg")
		if !bytes.Contains(b, []byte(`viewBox="0 0 128 128"`)) {
			t.Errorf("%s: viewBox is not 0 0 128 128", id)
		}
	}
}

func TestURL(t *testing.T) {
	a, b := newAssets(t), newAssets(t)
	tests := []struct {
		name string
		re   string
	}{
		{"app.css", `^/assets/app\.[0-9a-f]{10}\.css$`},
		{"app.js", `^/assets/app\.[0-9a-f]{10}\.js$`},
		{"favicon.svg", `^/assets/favicon\.[0-9a-f]{10}\.svg$`},
		{"avatars/owl.svg", `^/assets/avatars/owl\.[0-9a-f]{10}\.svg$`},
		{"avatars/default.svg", `^/assets/avatars/default\.[0-9a-f]{10}\.svg$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := a.URL(tt.name)
			if !regexp.MustCompile(tt.re).MatchString(u) {
				t.Fatalf("URL(%q) = %q, want match for %s", tt.name, u, tt.re)
			}
			if u2 := b.URL(tt.name); u2 != u {
				t.Errorf("URL not stable across New: %q vs %q", u, u2)
			}
			sum := sha256.Sum256(embedded(t, tt.name))
			if want := hex.EncodeToString(sum[:])[:10]; !strings.Contains(u, "."+want+".") {
				t.Errorf("URL(%q) = %q, want content hash %s", tt.name, u, want)
			}
		})
	}
	if a.URL("app.css") == a.URL("app.js") {
		t.Error("different files share a URL")
	}
	for _, name := range []string{"", "nope.css", "static/app.css", "/app.css", "avatars", "avatars/", "avatars/unicorn.svg", "../go.mod"} {
		if u := a.URL(name); u != "" {
			t.Errorf("URL(%q) = %q, want empty", name, u)
		}
	}
}

// notFoundMarker is a notFound handler that is easy to recognise in tests.
var notFoundMarker = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Test-Not-Found", "1")
	w.WriteHeader(http.StatusTeapot)
})

func TestHandlerServes(t *testing.T) {
	a := newAssets(t)
	h := a.Handler(notFoundMarker)
	tests := []struct {
		name, contentType string
	}{
		{"app.css", "text/css; charset=utf-8"},
		{"app.js", "text/javascript; charset=utf-8"},
		{"favicon.svg", "image/svg+xml"},
		{"avatars/owl.svg", "image/svg+xml"},
		{"avatars/hedgehog.svg", "image/svg+xml"},
	}
	for _, tt := range tests {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			t.Run(method+" "+tt.name, func(t *testing.T) {
				want := embedded(t, tt.name)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(method, a.URL(tt.name), nil))
				if rec.Code != http.StatusOK {
					t.Fatalf("status = %d, want 200", rec.Code)
				}
				hdr := rec.Header()
				checks := map[string]string{
					"Cache-Control":          "public, max-age=31536000, immutable",
					"Content-Type":           tt.contentType,
					"X-Content-Type-Options": "nosniff",
					"Content-Length":         strconv.Itoa(len(want)),
				}
				for k, v := range checks {
					if got := hdr.Get(k); got != v {
						t.Errorf("%s = %q, want %q", k, got, v)
					}
				}
				if etag := hdr.Get("ETag"); !regexp.MustCompile(`^"[0-9a-f]+"$`).MatchString(etag) {
					t.Errorf("ETag = %q, want a quoted hex digest", etag)
				}
				if method == http.MethodGet && !bytes.Equal(rec.Body.Bytes(), want) {
					t.Errorf("body differs from the embedded file (%d vs %d bytes)", rec.Body.Len(), len(want))
				}
				if method == http.MethodHead && rec.Body.Len() != 0 {
					t.Errorf("HEAD body has %d bytes", rec.Body.Len())
				}
			})
		}
	}
}

func TestHandlerNotFound(t *testing.T) {
	a := newAssets(t)
	h := a.Handler(notFoundMarker)
	css := a.URL("app.css")
	owl := a.URL("avatars/owl.svg")
	paths := []string{
		"/assets/../go.mod",
		"/assets/%2e%2e/go.mod",
		"/assets/%2E%2E/%2E%2E/go.mod",
		"/assets/..%2fgo.mod",
		"/assets/app.css",
		"/assets/avatars/owl.svg",
		"/assets/app.0000000000.css",
		"/assets/",
		"/assets",
		"/assets/avatars/",
		"/assets/avatars",
		"/assets/static/app.css",
		"/assets//" + strings.TrimPrefix(css, "/assets/"),
		css + "/",
		strings.ToUpper(css),
		strings.TrimPrefix(css, "/assets"),
		strings.Replace(owl, "/avatars/", "/avatars/../avatars/", 1),
		"/other" + css,
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
			if rec.Code != http.StatusTeapot || rec.Header().Get("X-Test-Not-Found") != "1" {
				t.Fatalf("GET %s: status %d, want the notFound handler", p, rec.Code)
			}
			if rec.Header().Get("Cache-Control") != "" {
				t.Errorf("GET %s: notFound answer got Cache-Control %q", p, rec.Header().Get("Cache-Control"))
			}
		})
	}
}

func TestHandlerConditional(t *testing.T) {
	a := newAssets(t)
	h := a.Handler(notFoundMarker)
	u := a.URL("app.css")

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u, nil))
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}

	tests := []struct {
		name, ifNoneMatch string
		want              int
	}{
		{"same etag", etag, http.StatusNotModified},
		{"in a list", `"abc", ` + etag, http.StatusNotModified},
		{"weak form", "W/" + etag, http.StatusNotModified},
		{"other etag", `"0123456789"`, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, u, nil)
			req.Header.Set("If-None-Match", tt.ifNoneMatch)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("status = %d, want %d", rec.Code, tt.want)
			}
			if tt.want == http.StatusNotModified {
				if rec.Body.Len() != 0 {
					t.Errorf("304 with a %d-byte body", rec.Body.Len())
				}
				if rec.Header().Get("ETag") != etag {
					t.Errorf("304 ETag = %q, want %q", rec.Header().Get("ETag"), etag)
				}
			}
		})
	}
}

func TestHandlerMethods(t *testing.T) {
	a := newAssets(t)
	h := a.Handler(notFoundMarker)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(m, a.URL("app.js"), nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: status = %d, want 405", m, rec.Code)
		}
		if got := rec.Header().Get("Allow"); got != "GET, HEAD" {
			t.Errorf("%s: Allow = %q", m, got)
		}
	}
}
