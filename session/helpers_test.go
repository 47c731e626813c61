package session_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"soulbridge/internal/testclock"
	"soulbridge/kv"
	"soulbridge/kv/kvtest"
	"soulbridge/session"
)

// newClock starts at the real time: records also carry Badger TTLs.
func newClock() *testclock.Clock { return testclock.NewAt(time.Now().UTC().Truncate(time.Second)) }

// countingStore is the real Badger store, counting writes.
type countingStore struct {
	*kv.Badger
	sets    atomic.Int64
	deletes atomic.Int64
}

func (s *countingStore) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	s.sets.Add(1)
	return s.Badger.Set(ctx, key, val, ttl)
}

func (s *countingStore) Renew(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	s.sets.Add(1)
	return s.Badger.Renew(ctx, key, val, ttl)
}

func (s *countingStore) Delete(ctx context.Context, key string) error {
	s.deletes.Add(1)
	return s.Badger.Delete(ctx, key)
}

func openStore(t *testing.T) *kv.Badger { return kvtest.Memory(t) }

var (
	keyA = []byte("key-A-0123456789abcdef0123456789abcdef")
	keyB = []byte("key-B-0123456789abcdef0123456789abcdef")
	keyC = []byte("key-C-0123456789abcdef0123456789abcdef")
)

const (
	testIdle  = time.Hour
	testMax   = 3 * time.Hour
	testTouch = 5 * time.Minute
)

func newManager(t *testing.T, store session.Store, clk *testclock.Clock, keys ...[]byte) *session.Manager {
	t.Helper()
	if len(keys) == 0 {
		keys = [][]byte{keyA}
	}
	m, err := session.New(store, session.Config{
		Keys:          keys,
		IdleTimeout:   testIdle,
		MaxLifetime:   testMax,
		TouchInterval: testTouch,
		Now:           clk.Now,

		TrustProxyHeaders: true,
	})
	if err != nil {
		t.Fatalf("session.New: %v", err)
	}
	return m
}

type scheme int

const (
	plainHTTP scheme = iota
	directTLS
	forwardedHTTPS
)

func newRequest(method string, sch scheme, cookies ...*http.Cookie) *http.Request {
	r := httptest.NewRequest(method, "http://example.test/community", nil)
	r.Header.Set("User-Agent", "session-test/1.0")
	switch sch {
	case directTLS:
		r.TLS = &tls.ConnectionState{}
	case forwardedHTTPS:
		r.Header.Set("X-Forwarded-Proto", "https")
	}
	for _, c := range cookies {
		r.AddCookie(c)
	}
	return r
}

// start logs alice in and returns the session and the cookie set.
func start(t *testing.T, m *session.Manager, sch scheme, presented ...*http.Cookie) (*session.Session, *http.Cookie) {
	t.Helper()
	w := httptest.NewRecorder()
	s, err := m.Start(context.Background(), w, newRequest(http.MethodPost, sch, presented...), "alice", "203.0.113.7", "")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("Start set %d cookies, want 1: %v", len(cs), w.Header().Values("Set-Cookie"))
	}
	return s, cs[0]
}

// load loads the session a plain-HTTP request with c carries.
func load(m *session.Manager, c *http.Cookie) (*session.Session, bool, error) {
	var cs []*http.Cookie
	if c != nil {
		cs = append(cs, c)
	}
	return m.Load(context.Background(), newRequest(http.MethodGet, plainHTTP, cs...))
}

// sessionKeys returns every key under "session:" in store.
func sessionKeys(t *testing.T, store *kv.Badger) map[string][]byte {
	t.Helper()
	got := map[string][]byte{}
	err := store.Scan(context.Background(), kv.Range{Prefix: "session:"}, func(k string, v []byte) error {
		got[k] = v
		return nil
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return got
}

// serve runs one request with c through m's middleware and reports the
// session the handler saw, the cookies set and whether onErr ran.
type served struct {
	called  bool
	sess    *session.Session
	cookies []*http.Cookie
	errRan  bool
	err     error
}

func serve(m *session.Manager, sch scheme, cs ...*http.Cookie) served {
	var out served
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out.called = true
		out.sess = session.FromContext(r.Context())
	}), func(w http.ResponseWriter, r *http.Request, err error) {
		out.errRan, out.err = true, err
		http.Error(w, "store down", http.StatusServiceUnavailable)
	})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, newRequest(http.MethodGet, sch, cs...))
	out.cookies = w.Result().Cookies()
	return out
}
