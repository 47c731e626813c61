package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"soulbridge/metrics"
	"soulbridge/session"
)

// contentSecurityPolicy allows only this origin's own scripts, styles and
// images: no inline code, no framing, forms post only here.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// hsts is the Strict-Transport-Security value sent over HTTPS: two years
// (the length hstspreload.org asks for, so a browser that saw the site once
// never tries plain HTTP again, which Go's cross-origin protection relies
// on). Neither includeSubDomains nor preload: soulbridge owns one host, not
// the domain tree under it (a self-hoster may serve other names under it
// over plain HTTP), and the __Host- cookie prefix already keeps other
// subdomains from setting the session cookie.
const hsts = "max-age=63072000"

// securityHeaders sets the headers every response carries (Cache-Control:
// no-store unless the handler replaces it), and HSTS on
// those over HTTPS (never over plain HTTP, where browsers ignore it and
// localhost would be pinned to HTTPS).
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if session.IsHTTPS(r, s.trustProxy) {
			h["Strict-Transport-Security"] = hstsValue
		}
		// Assigned, not Set: one shared slice per value instead of one
		// allocation per header per response (net/http only reads them;
		// a later Set or Add replaces or copies the slice).
		for _, kv := range securityHeaderValues {
			h[kv.name] = kv.value
		}
		// Nothing is cached unless its handler says so (the hashed assets
		// do): responses carry sessions, cookies and personal data.
		h["Cache-Control"] = noStoreValue
		next.ServeHTTP(w, r)
	})
}

// securityHeaderValues are the headers every response carries, their names
// in canonical form.
var securityHeaderValues = []struct {
	name  string
	value []string
}{
	{"Content-Security-Policy", []string{contentSecurityPolicy}},
	{"X-Content-Type-Options", []string{"nosniff"}},
	{"Referrer-Policy", []string{"same-origin"}},
	{"X-Frame-Options", []string{"DENY"}},
	{"Cross-Origin-Opener-Policy", []string{"same-origin"}},
	{"Permissions-Policy", []string{"camera=(), microphone=(), geolocation=()"}},
}

var (
	hstsValue    = []string{hsts}
	noStoreValue = []string{"no-store"}
)

// limitBody caps request bodies at maxBody (an avatar upload's at
// maxUploadBody); a declared larger body is refused before it is read.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			limit := int64(maxBody)
			if r.URL.Path == uploadPath && r.Method == http.MethodPost {
				limit = maxUploadBody
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter records the status and size of a response for the log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	// route is the request's route pattern, set by the router (noteRoute)
	// when requests are counted.
	route metrics.Route
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// noteRoute records pattern in the route holder of logRequests' writer,
// found through w and the writers that wrap it (Unwrap); nothing when
// there is none.
func noteRoute(w http.ResponseWriter, pattern string) {
	for {
		switch x := w.(type) {
		case *statusWriter:
			x.route.Set(pattern)
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return
		}
	}
}

// RequestLogMessage is the message of the access log's lines (one per
// request, written by logRequests).
const RequestLogMessage = "request"

// logRequests logs one line per request: method, path (both cut to
// maxLogValue), status, duration, size. Never headers, cookies or query
// strings (a next= may be long, and nothing secret belongs in a log); no
// route carries a token in its path (session ids in paths are public ids,
// session.PublicIDOf).
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := statusWriters.Get().(*statusWriter)
		*sw = statusWriter{ResponseWriter: w}
		defer func() {
			*sw = statusWriter{}
			statusWriters.Put(sw)
		}()
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		if s.metrics != nil {
			s.metrics.Request(sw.route.Label(), r.Method, sw.status, time.Since(start))
		}
		if r.URL.Path == "/healthz" && sw.status == http.StatusOK {
			return // platform health probes would drown the log
		}
		// What s.log.Info would log, without its per-call costs (the
		// caller's PC, which no handler here shows; boxing each value).
		h := s.log.Handler()
		ctx := context.Background()
		if !h.Enabled(ctx, slog.LevelInfo) {
			return
		}
		end := time.Now()
		rec := slog.NewRecord(end, slog.LevelInfo, RequestLogMessage, 0)
		rec.AddAttrs(slog.String("method", logValue(r.Method)), slog.String("path", logValue(r.URL.Path)), slog.Int("status", sw.status),
			slog.Float64("duration_ms", float64(end.Sub(start).Microseconds())/1000), slog.Int64("bytes", sw.bytes))
		_ = h.Handle(ctx, rec)
	})
}

// statusWriters recycles logRequests' writers (one per request otherwise).
var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

// recoverPanics turns a panic in a handler into a logged 500.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			s.writeError(w, r, fmt.Errorf("panic: %v", v))
		}()
		next.ServeHTTP(w, r)
	})
}

// crossOrigin rejects cross-origin state-changing requests (browsers send
// Origin or Sec-Fetch-Site); requests without those headers, such as curl
// and scripts, pass.
func (s *Server) crossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(s.handle(func(http.ResponseWriter, *http.Request) error {
		return errorf(http.StatusForbidden, "cross-origin request refused")
	}))
	return cop.Handler(next)
}
