// Package assets embeds the site's static files (stylesheet, script, favicon
// and the preset avatar illustrations) and serves them under content-hashed
// URLs that can be cached forever.
package assets

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// prefix is the URL path under which hashed files are served.
const prefix = "/assets/"

// hashLen is the number of hex characters of the SHA-256 digest put into a URL.
const hashLen = 10

// file is one embedded file, ready to serve.
type file struct {
	data        []byte
	contentType string
	etag        string
}

// Assets is the embedded static file set with content-hashed URLs.
type Assets struct {
	urls   map[string]string // name relative to static/ → hashed URL
	served map[string]*file  // hashed path relative to /assets/ → file
}

// New hashes every embedded file once (SHA-256, first 10 hex chars) and returns the set.
func New() (*Assets, error) {
	a := &Assets{urls: map[string]string{}, served: map[string]*file{}}
	root, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("assets: %w", err)
	}
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		data, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		full := hex.EncodeToString(sum[:])
		hashed := hashedName(name, full[:hashLen])
		a.urls[name] = prefix + hashed
		a.served[hashed] = &file{
			data:        data,
			contentType: contentType(name),
			etag:        `"` + full[:32] + `"`,
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("assets: %w", err)
	}
	return a, nil
}

// hashedName inserts hash before the extension of name:
// "avatars/owl.svg" → "avatars/owl.<hash>.svg"; a name without an extension
// gets the hash appended ("LICENSE" → "LICENSE.<hash>").
func hashedName(name, hash string) string {
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + hash + ext
}

// contentType returns the Content-Type for name, by extension.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// URL returns the content-hashed URL of a file named relative to static/,
// e.g. URL("app.css") == "/assets/app.3f2a9c1b7d.css", URL("avatars/owl.svg") == "/assets/avatars/owl.<hash>.svg".
// It returns "" for an unknown name.
func (a *Assets) URL(name string) string {
	return a.urls[name]
}

// Handler serves GET/HEAD for hashed URLs under /assets/ (it receives the full request path, e.g. /assets/app.<hash>.css)
// with Cache-Control "public, max-age=31536000, immutable", the right Content-Type (css: text/css; charset=utf-8,
// js: text/javascript; charset=utf-8, svg: image/svg+xml), Content-Length, an ETag, and
// X-Content-Type-Options nosniff. Any path that is not exactly a known hashed URL (unknown file, stale hash,
// unhashed name, "..", encoded traversal, directory) is passed to notFound. Lookup is by exact map key,
// never by touching a filesystem path built from the request.
//
// A known hashed URL requested with a method other than GET or HEAD gets 405
// with an Allow header. Conditional (If-None-Match → 304) and range requests
// are supported.
func (a *Assets) Handler(notFound http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok {
			notFound.ServeHTTP(w, r)
			return
		}
		f, ok := a.served[key]
		if !ok {
			notFound.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("Content-Type", f.contentType)
		h.Set("ETag", f.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		// A zero modification time makes ServeContent skip Last-Modified;
		// validation is by ETag alone. ServeContent sets Content-Length and
		// answers If-None-Match with 304 and Range with 206.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
	})
}
