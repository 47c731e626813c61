package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"soulbridge/auth"
	"soulbridge/kv"
	"soulbridge/kv/kvtest"
	"soulbridge/metrics"
	"soulbridge/session"
	"soulbridge/web"
)

// Lifetimes the test sites run with (the production defaults).
const (
	idleLifetime = 720 * time.Hour
	maxLifetime  = 2160 * time.Hour

	testVersion  = "test-version"
	testPassword = "correct horse battery"
)

// site is the real router over a real in-memory Badger, served over real HTTP.
type site struct {
	server *web.Server
	srv    *httptest.Server
	store  *kv.Badger
	key    []byte
	client *http.Client // follows no redirects, keeps no cookies
}

// siteOptions adjusts the Deps a test site is built from.
type siteOptions struct {
	trustProxy bool
	// realHasher hashes at auth.DefaultParams, one hash per CPU at a time
	// (as in production), instead of the fast test parameters.
	realHasher bool
	// logger receives the site's log; nil discards it.
	logger *slog.Logger
	// uploadInterval is the avatar upload limit's window; 0: the default.
	uploadInterval time.Duration
	// mailer and publicURL enable the optional e-mail (web/mail.go).
	mailer    web.Mailer
	publicURL string
	// metrics, if set, counts what the site does (metrics_test.go).
	metrics *metrics.Metrics
}

// newSite wires the site over an in-memory store with web.NewSite, as
// serve.go's newHandler does, with a fast password hasher, and serves it with httptest.NewServer.
func newSite(t *testing.T, opts siteOptions) *site {
	t.Helper()
	store, err := kv.Open(context.Background(), kv.Options{InMemory: true, Prefix: "soulbridge:", LockTimeout: time.Second})
	if err != nil {
		t.Fatalf("kv.Open: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })

	key := bytes.Repeat([]byte{0x5b}, 32)
	hasher, err := auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1}, 2)
	if opts.realHasher {
		hasher, err = auth.NewHasher(auth.DefaultParams, runtime.GOMAXPROCS(0))
	}
	if err != nil {
		t.Fatalf("auth.NewHasher: %v", err)
	}
	h, err := web.NewSite(store, web.SiteConfig{
		Keys:              [][]byte{key},
		IdleLifetime:      idleLifetime,
		MaxLifetime:       maxLifetime,
		Hasher:            hasher,
		TrustProxyHeaders: opts.trustProxy,
		Persistent:        true,
		Version:           testVersion,
		Logger:            opts.logger,
		UploadInterval:    opts.uploadInterval,
		Mailer:            opts.mailer,
		PublicURL:         opts.publicURL,
		Metrics:           opts.metrics,
	})
	if err != nil {
		t.Fatalf("web.NewSite: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &site{
		server: h,
		srv:    srv,
		store:  store,
		key:    key,
		client: &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// newSessions returns a session manager over store signing with key.
func newSessions(t *testing.T, store session.Store, key []byte) *session.Manager {
	t.Helper()
	m, err := session.New(store, session.Config{
		Keys:        [][]byte{key},
		IdleTimeout: idleLifetime,
		MaxLifetime: maxLifetime,
	})
	if err != nil {
		t.Fatalf("session.New: %v", err)
	}
	return m
}

// foreignCookie returns a session cookie value minted by a manager that
// signs with key over a store of its own: well-formed, but naming no record
// in the site's store (and, with another key, carrying a foreign signature).
func foreignCookie(t *testing.T, key []byte) string {
	t.Helper()
	m := newSessions(t, kvtest.Memory(t), key)
	rec := httptest.NewRecorder()
	if _, err := m.Start(context.Background(), rec, httptest.NewRequest("POST", "/login", nil), "alice", "192.0.2.1", ""); err != nil {
		t.Fatalf("Start: %v", err)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == session.CookieName {
			return c.Value
		}
	}
	t.Fatal("Start set no sb_session cookie")
	return ""
}

// req describes one request to a site.
type req struct {
	method, path string
	header       map[string]string // "Cookie" here is sent raw
	form         url.Values        // sent as application/x-www-form-urlencoded
	body         string            // sent as is (with the Content-Type in header)
	bodyReader   io.Reader         // sent chunked, length unknown
	cookie       *http.Cookie      // a session cookie to present
}

// resp is a response with its body read.
type resp struct {
	status int
	header http.Header
	body   string
}

// forbiddenInBody are words no response may ever show: stack traces and
// internal error texts.
var forbiddenInBody = []string{"panic", "goroutine", "badger", "kv:", "runtime/", ".go:"}

// do sends r and reads the whole response. It fails the test if the body
// shows a stack trace or an internal error text.
func (s *site) do(t *testing.T, r req) resp {
	t.Helper()
	var body io.Reader
	switch {
	case r.bodyReader != nil:
		body = r.bodyReader
	case r.form != nil:
		body = strings.NewReader(r.form.Encode())
	case r.body != "":
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, s.srv.URL+r.path, body)
	if err != nil {
		t.Fatalf("NewRequest %s %s: %v", r.method, r.path, err)
	}
	if r.form != nil {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range r.header {
		if k == "Host" {
			hr.Host = v
			continue
		}
		hr.Header.Set(k, v)
	}
	if r.cookie != nil {
		hr.AddCookie(r.cookie)
	}
	res, err := s.client.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", r.method, r.path, err)
	}
	out := resp{status: res.StatusCode, header: res.Header, body: string(b)}
	checkNoLeak(t, r.method+" "+r.path, out.body)
	return out
}

func checkNoLeak(t *testing.T, what, body string) {
	t.Helper()
	lower := strings.ToLower(body)
	for _, w := range forbiddenInBody {
		if strings.Contains(lower, w) {
			t.Errorf("%s: body contains %q: %.300s", what, w, body)
		}
	}
}

// sessionCookie returns the session cookie res sets (either name), or nil.
func sessionCookie(res resp) *http.Cookie {
	for _, line := range res.header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err == nil && (c.Name == session.CookieName || c.Name == session.SecureCookieName) {
			return c
		}
	}
	return nil
}

// setCookieLine returns the raw Set-Cookie header for name, or "".
func setCookieLine(res resp, name string) string {
	for _, line := range res.header.Values("Set-Cookie") {
		if strings.HasPrefix(line, name+"=") {
			return line
		}
	}
	return ""
}

// signup creates an account and returns its session cookie.
func (s *site) signup(t *testing.T, username string) *http.Cookie {
	t.Helper()
	res := s.do(t, req{method: "POST", path: "/signup", form: url.Values{"username": {username}, "password": {testPassword}}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/community" {
		t.Fatalf("sign-up %s: %d Location %q, want 303 /community; body %.300s", username, res.status, res.header.Get("Location"), res.body)
	}
	c := sessionCookie(res)
	if c == nil || c.Value == "" {
		t.Fatalf("sign-up %s: no session cookie in %q", username, res.header.Values("Set-Cookie"))
	}
	return &http.Cookie{Name: c.Name, Value: c.Value}
}

// login logs username in with the test password and returns the response.
func (s *site) login(t *testing.T, username string, cookie *http.Cookie) resp {
	t.Helper()
	return s.do(t, req{method: "POST", path: "/login", cookie: cookie,
		form: url.Values{"username": {username}, "password": {testPassword}}})
}

// jsonError checks that res is a JSON error body {"error": "..."} with a
// non-empty, human-readable message and returns the message.
func jsonError(t *testing.T, what string, res resp) string {
	t.Helper()
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(res.body), &body); err != nil {
		t.Errorf("%s: body is not JSON: %v: %.300s", what, err, res.body)
		return ""
	}
	msg, ok := body["error"].(string)
	if !ok || strings.TrimSpace(msg) == "" || len(body) != 1 {
		t.Errorf(`%s: body %s, want exactly {"error": "<message>"}`, what, res.body)
		return msg
	}
	// Go error texts start with a lower-case package name ("json: cannot
	// unmarshal…", "kv: not found"); a message for people says "JSON".
	for _, leak := range []string{"json:", "kv:", "session:", "auth:", "avatar:", "http:", "cannot unmarshal", "unexpected end", "invalid character"} {
		if strings.Contains(msg, leak) {
			t.Errorf("%s: error message %q contains internal text %q", what, msg, leak)
		}
	}
	if strings.Contains(strings.ToLower(msg), "badger") {
		t.Errorf("%s: error message %q names the store", what, msg)
	}
	return msg
}

// isHTML checks that res is an HTML page.
func isHTML(t *testing.T, what string, res resp) {
	t.Helper()
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("%s: Content-Type %q, want text/html", what, ct)
	}
	if !strings.Contains(strings.ToLower(res.body), "<html") {
		t.Errorf("%s: body is not an HTML page: %.200s", what, res.body)
	}
}

// checkSecurityHeaders checks the headers every response carries.
func checkSecurityHeaders(t *testing.T, what string, res resp) {
	t.Helper()
	if csp := res.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") ||
		!strings.Contains(csp, "default-src 'self'") {
		t.Errorf("%s: Content-Security-Policy %q, want default-src 'self' and frame-ancestors 'none'", what, csp)
	}
	if v := res.header.Get("X-Content-Type-Options"); v != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q, want nosniff", what, v)
	}
	if v := res.header.Get("Referrer-Policy"); v == "" || strings.Contains(v, "unsafe-url") {
		t.Errorf("%s: Referrer-Policy %q, want a restrictive policy", what, v)
	}
}
