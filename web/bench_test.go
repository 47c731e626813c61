package web_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"soulbridge/auth"
	"soulbridge/kv"
	"soulbridge/metrics"
	"soulbridge/session"
	"soulbridge/web"
)

// BenchmarkGetAvatar is authenticated GET /community/avatar end to end
// through the real router and middleware (access log to a JSON handler that
// discards, as production formats it) over a store on disk.
func BenchmarkGetAvatar(b *testing.B) {
	// Without and with metrics (METRICS_ADDR): the cost of counting a
	// request (README, "Metrics"); -count N alternates the two.
	b.Run("metrics=off", func(b *testing.B) { benchGetAvatar(b, nil) })
	b.Run("metrics=on", func(b *testing.B) { benchGetAvatar(b, metrics.New()) })
}

func benchGetAvatar(b *testing.B, m *metrics.Metrics) {
	store, err := kv.Open(context.Background(), kv.Options{Dir: b.TempDir(), Prefix: "soulbridge:", LockTimeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	hasher, err := auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1}, 2)
	if err != nil {
		b.Fatal(err)
	}
	h, err := web.NewSite(store, web.SiteConfig{
		Keys: [][]byte{bytes.Repeat([]byte{0x5b}, 32)}, IdleLifetime: idleLifetime, MaxLifetime: maxLifetime,
		Hasher: hasher, Persistent: true, Version: testVersion,
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Metrics: m,
	})
	if err != nil {
		b.Fatal(err)
	}
	w := httptest.NewRecorder()
	signup := httptest.NewRequest("POST", "/signup", strings.NewReader(url.Values{"username": {"bench"}, "password": {testPassword}}.Encode()))
	signup.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(w, signup)
	var cookie *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == session.CookieName {
			cookie = c
		}
	}
	put := httptest.NewRequest("PUT", "/community/avatar", strings.NewReader(`{"avatar":"owl"}`))
	put.Header.Set("Content-Type", "application/json")
	put.AddCookie(cookie)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, put)
	if w.Code != http.StatusOK {
		b.Fatalf("PUT: %d %s", w.Code, w.Body)
	}
	r := httptest.NewRequest("GET", "/community/avatar", nil)
	r.AddCookie(cookie)
	rw := &discardWriter{header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(rw.header)
		rw.status = 0
		h.ServeHTTP(rw, r)
		if rw.status != http.StatusOK {
			b.Fatalf("GET: %d", rw.status)
		}
	}
}

// discardWriter is a ResponseWriter that keeps the status and headers only
// (so the benchmark measures the site, not a recorder's buffer).
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.header }
func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}
