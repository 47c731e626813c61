package web

import (
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"soulbridge/session"
)

// Helpers that read the request: who sent it, what it accepts, its session,
// its body and form, and the local path it asks to go back to.

// clientIP returns the client's address. With proxy headers trusted:
// X-Real-IP when it holds an IP, else the last address of X-Forwarded-For
// (the one the edge appended; earlier ones are the client's own word), as
// Railway's edge, Caddy and nginx set them. Else, or when neither holds an
// IP, the connection's peer.
func (s *Server) clientIP(r *http.Request) string {
	if s.trustProxy {
		if ip := net.ParseIP(strings.TrimSpace(r.Header.Get("X-Real-IP"))); ip != nil {
			return ip.String()
		}
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip := net.ParseIP(strings.TrimSpace(last)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// wantsJSON reports whether errors for r are answered as JSON: the API paths
// (/community/avatar*, /account/sessions*, /account/activity, as docs/architecture.md names
// them in "Errors: JSON or a page"), except the upload form's
// /community/avatar/upload, which follows Accept like a page; and any
// request that accepts application/json.
func wantsJSON(r *http.Request) bool {
	p := r.URL.Path
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		return true
	}
	if p == uploadPath {
		return false
	}
	return strings.HasPrefix(p, "/community/avatar") || strings.HasPrefix(p, "/account/sessions") || p == "/account/activity" || strings.HasPrefix(p, passkeyPrefix)
}

// requireSession returns the request's session or the 401 error.
func requireSession(r *http.Request) (*session.Session, error) {
	if sess := session.FromContext(r.Context()); sess != nil {
		return sess, nil
	}
	return nil, errUnauthorized
}

// maxBody bounds every request body (JSON and forms): 64 KiB.
const maxBody = 64 << 10

// bodyTooLarge reports whether err came from reading past maxBody.
func bodyTooLarge(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}

var errTooLarge = errorf(http.StatusRequestEntityTooLarge, "request body too large (limit 64 KiB)")

// readJSON reads a JSON request body within the body limit: 415 unless
// Content-Type is application/json, 413 past maxBody, 400 when it cannot
// be read.
func readJSON(r *http.Request) ([]byte, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, errorf(http.StatusUnsupportedMediaType, "send JSON: Content-Type: application/json")
	}
	if r.ContentLength > maxBody {
		return nil, errTooLarge
	}
	body, err := io.ReadAll(r.Body)
	if bodyTooLarge(err) {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "could not read the request body")
	}
	return body, nil
}

// parseForm reads a url-encoded or multipart form body within the body limit.
func parseForm(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(ct, "application/x-www-form-urlencoded") && !strings.HasPrefix(ct, "multipart/form-data") {
		return errorf(http.StatusUnsupportedMediaType, "send the form as application/x-www-form-urlencoded")
	}
	var err error
	if strings.HasPrefix(ct, "multipart/form-data") {
		err = r.ParseMultipartForm(maxBody)
	} else {
		err = r.ParseForm()
	}
	if bodyTooLarge(err) {
		return errTooLarge
	}
	if err != nil {
		return errorf(http.StatusBadRequest, "malformed form")
	}
	return nil
}

// safeNext returns next if it is a local path (to redirect to after log-in),
// else "". It refuses absolute URLs, scheme-relative //host, backslashes
// (which browsers treat as slashes), control characters (C0, DEL and C1)
// and invalid UTF-8 (FuzzSafeNext found both of the latter accepted).
func safeNext(next string) string {
	if next == "" || len(next) > 512 || next[0] != '/' || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\") || !utf8.ValidString(next) || strings.ContainsFunc(next, unicode.IsControl) {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") ||
		strings.HasPrefix(u.Path, "//") || hasDotDot(u.Path) {
		return ""
	}
	return next
}

// hasDotDot reports whether path has a ".." segment.
func hasDotDot(path string) bool {
	for seg := range strings.SplitSeq(path, "/") {
		if seg == ".." {
			return true
		}
	}
	return false
}
