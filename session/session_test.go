package session_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"soulbridge/kv"
	"soulbridge/kv/kvtest"
	"soulbridge/session"
)

func TestNewValidatesConfig(t *testing.T) {
	store := openStore(t)
	ok := session.Config{Keys: [][]byte{keyA}, IdleTimeout: time.Hour, MaxLifetime: 2 * time.Hour}
	tests := []struct {
		name   string
		mutate func(*session.Config)
	}{
		{"no keys", func(c *session.Config) { c.Keys = nil }},
		{"zero idle", func(c *session.Config) { c.IdleTimeout = 0 }},
		{"negative max", func(c *session.Config) { c.MaxLifetime = -time.Hour }},
	}
	if _, err := session.New(store, ok); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mutate(&cfg)
			if m, err := session.New(store, cfg); err == nil {
				t.Fatalf("New accepted it: %v", m)
			}
		})
	}
}

func TestStartCookieAttributes(t *testing.T) {
	tests := []struct {
		name     string
		scheme   scheme
		wantName string
		secure   bool
	}{
		{"plain http", plainHTTP, "sb_session", false},
		{"direct TLS", directTLS, "__Host-sb_session", true},
		{"X-Forwarded-Proto https", forwardedHTTPS, "__Host-sb_session", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			m := newManager(t, openStore(t), clk)
			w := httptest.NewRecorder()
			s, err := m.Start(context.Background(), w, newRequest(http.MethodPost, tt.scheme), "alice", "203.0.113.7", "")
			if err != nil {
				t.Fatal(err)
			}
			raw := w.Header().Values("Set-Cookie")
			if len(raw) != 1 {
				t.Fatalf("Set-Cookie headers = %q, want exactly one", raw)
			}
			if strings.Contains(strings.ToLower(raw[0]), "domain=") {
				t.Errorf("cookie has a Domain: %s", raw[0])
			}
			c := w.Result().Cookies()[0]
			if c.Name != tt.wantName {
				t.Errorf("Name = %q, want %q", c.Name, tt.wantName)
			}
			if c.Secure != tt.secure {
				t.Errorf("Secure = %v, want %v", c.Secure, tt.secure)
			}
			if !c.HttpOnly {
				t.Error("not HttpOnly")
			}
			if c.SameSite != http.SameSiteLaxMode {
				t.Errorf("SameSite = %v, want Lax", c.SameSite)
			}
			if c.Path != "/" {
				t.Errorf("Path = %q, want /", c.Path)
			}
			if c.Domain != "" {
				t.Errorf("Domain = %q, want none", c.Domain)
			}
			if want := int(testMax / time.Second); c.MaxAge < want-2 || c.MaxAge > want {
				t.Errorf("Max-Age = %d, want about %d (the absolute lifetime)", c.MaxAge, want)
			}
			if c.Value == "" || strings.Contains(c.Value, s.ID) {
				t.Errorf("cookie value %q is empty or holds the record id", c.Value)
			}
			if s.Username != "alice" || s.IP != "203.0.113.7" || s.UserAgent != "session-test/1.0" {
				t.Errorf("session = %+v", s.Record)
			}
			if !s.ExpiresAt.Equal(clk.Now().Add(testMax)) {
				t.Errorf("ExpiresAt = %v, want now+%v", s.ExpiresAt, testMax)
			}
			// The cookie value loads back, whatever scheme it arrives over
			// under that scheme's name: it is signed under one logical name.
			for _, sch := range []scheme{plainHTTP, directTLS} {
				name := session.CookieName
				if sch == directTLS {
					name = session.SecureCookieName
				}
				as := &http.Cookie{Name: name, Value: c.Value}
				got, oldKey, err := m.Load(context.Background(), newRequest(http.MethodGet, sch, as))
				if err != nil || got.ID != s.ID || got.Username != "alice" || oldKey {
					t.Fatalf("Load over scheme %d = %+v, %v, %v", sch, got, oldKey, err)
				}
			}
			// Presented under the other name it still decodes.
			other := &http.Cookie{Name: "sb_session", Value: c.Value}
			if c.Name == other.Name {
				other.Name = "__Host-sb_session"
			}
			if got, _, err := load(m, other); err != nil || got.ID != s.ID {
				t.Fatalf("Load under name %s: %v", other.Name, err)
			}
		})
	}
}

func TestStartStoresRecordUnderHash(t *testing.T) {
	clk := newClock()
	store := openStore(t)
	m := newManager(t, store, clk)
	s, c := start(t, m, plainHTTP)

	recs := sessionKeys(t, store)
	if len(recs) != 1 {
		t.Fatalf("%d session records, want 1", len(recs))
	}
	for k, v := range recs {
		id := strings.TrimPrefix(k, "session:")
		if len(id) != 64 {
			t.Fatalf("record key %q: id is %d chars, want 64 hex", k, len(id))
		}
		if _, err := hex.DecodeString(id); err != nil || id != strings.ToLower(id) {
			t.Fatalf("record key %q is not lower-case hex", k)
		}
		if id != s.ID {
			t.Fatalf("record key id %s, session ID %s", id, s.ID)
		}
		if strings.Contains(c.Value, id) {
			t.Fatal("the cookie holds the record key")
		}
		var fields map[string]any
		if err := json.Unmarshal(v, &fields); err != nil {
			t.Fatalf("record is not JSON: %v", err)
		}
		for _, f := range []string{"username", "created_at", "last_seen", "expires_at", "user_agent", "ip", "updated_at"} {
			if _, ok := fields[f]; !ok {
				t.Errorf("record lacks %q: %s", f, v)
			}
		}
		if fields["username"] != "alice" || fields["ip"] != "203.0.113.7" || fields["user_agent"] != "session-test/1.0" {
			t.Errorf("record = %s", v)
		}
		var rec session.Record
		if err := json.Unmarshal(v, &rec); err != nil {
			t.Fatal(err)
		}
		now := clk.Now()
		if !rec.CreatedAt.Equal(now) || !rec.LastSeen.Equal(now) || !rec.UpdatedAt.Equal(now) || !rec.ExpiresAt.Equal(now.Add(testMax)) {
			t.Errorf("record times = %+v, want created=last_seen=updated=%v, expires=+%v", rec, now, testMax)
		}
	}
}

func TestStartBoundsUserAgent(t *testing.T) {
	store := openStore(t)
	m := newManager(t, store, newClock())
	r := newRequest(http.MethodPost, plainHTTP)
	r.Header.Set("User-Agent", strings.Repeat("x", 10_000))
	s, err := m.Start(context.Background(), httptest.NewRecorder(), r, "alice", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.UserAgent); n == 0 || n > 1024 {
		t.Fatalf("stored user agent is %d bytes, want a bounded prefix", n)
	}
}

func TestLoadBadCookiesMeanNoSession(t *testing.T) {
	clk := newClock()
	store := openStore(t)
	m := newManager(t, store, clk)
	_, good := start(t, m, plainHTTP)

	// A cookie of a session whose record was deleted.
	deleted, deletedCookie := start(t, m, plainHTTP)
	if err := store.Delete(context.Background(), "session:"+deleted.ID); err != nil {
		t.Fatal(err)
	}
	// A cookie whose record is not readable JSON.
	broken, brokenCookie := start(t, m, plainHTTP)
	if err := store.Set(context.Background(), "session:"+broken.ID, []byte("{not json"), time.Hour); err != nil {
		t.Fatal(err)
	}
	// A cookie signed with a key this manager does not know.
	_, foreign := start(t, newManager(t, openStore(t), clk, keyC), plainHTTP)

	tampered := []byte(good.Value)
	mid := len(tampered) / 2
	if tampered[mid] == 'A' {
		tampered[mid] = 'B'
	} else {
		tampered[mid] = 'A'
	}

	tests := []struct {
		name   string
		cookie *http.Cookie
	}{
		{"no cookie", nil},
		{"empty value", &http.Cookie{Name: "sb_session", Value: ""}},
		{"garbage", &http.Cookie{Name: "sb_session", Value: "garbage-not-a-session"}},
		{"garbage under __Host- name", &http.Cookie{Name: "__Host-sb_session", Value: "Zm9vYmFy"}},
		{"tampered", &http.Cookie{Name: "sb_session", Value: string(tampered)}},
		{"truncated", &http.Cookie{Name: "sb_session", Value: good.Value[:len(good.Value)-4]}},
		{"unknown key", &http.Cookie{Name: "sb_session", Value: foreign.Value}},
		{"oversized 8 KB", &http.Cookie{Name: "sb_session", Value: strings.Repeat("A", 8<<10)}},
		{"oversized valid prefix", &http.Cookie{Name: "sb_session", Value: good.Value + strings.Repeat("A", 8<<10)}},
		{"deleted record", deletedCookie},
		{"unreadable record", brokenCookie},
		{"other cookie name", &http.Cookie{Name: "session", Value: good.Value}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, oldKey, err := load(m, tt.cookie)
			if !errors.Is(err, session.ErrNoSession) {
				t.Fatalf("Load err = %v, want exactly ErrNoSession", err)
			}
			if s != nil || oldKey {
				t.Fatalf("Load = %+v, oldKey=%v; want nil, false", s, oldKey)
			}
			// The middleware treats it as anonymous, never as an error.
			out := serve(m, plainHTTP, cookiesOf(tt.cookie)...)
			if !out.called || out.errRan || out.sess != nil {
				t.Fatalf("middleware: called=%v onErr=%v(%v) session=%v", out.called, out.errRan, out.err, out.sess)
			}
		})
	}
	// The good cookie still works: the cases above failed for their own reasons.
	if s, _, err := load(m, good); err != nil || s.Username != "alice" {
		t.Fatalf("good cookie: %v", err)
	}
}

func cookiesOf(c *http.Cookie) []*http.Cookie {
	if c == nil {
		return nil
	}
	return []*http.Cookie{c}
}

func TestStartReplacesPresentedSession(t *testing.T) {
	for _, sch := range []scheme{plainHTTP, directTLS} {
		store := openStore(t)
		m := newManager(t, store, newClock())
		first, old := start(t, m, sch)
		second, fresh := start(t, m, sch, old)

		if fresh.Value == old.Value || second.ID == first.ID {
			t.Fatalf("scheme %d: Start reused the presented session (id %s)", sch, first.ID)
		}
		if _, _, err := m.Load(context.Background(), newRequest(http.MethodGet, sch, old)); !errors.Is(err, session.ErrNoSession) {
			t.Fatalf("scheme %d: old cookie after re-login: err = %v, want ErrNoSession", sch, err)
		}
		if s, _, err := m.Load(context.Background(), newRequest(http.MethodGet, sch, fresh)); err != nil || s.ID != second.ID {
			t.Fatalf("scheme %d: new cookie: %v", sch, err)
		}
		recs := sessionKeys(t, store)
		if _, ok := recs["session:"+first.ID]; ok || len(recs) != 1 {
			t.Fatalf("scheme %d: records after re-login: %d, old present=%v", sch, len(recs), ok)
		}
	}
}

func TestEnd(t *testing.T) {
	tests := []struct {
		name      string
		scheme    scheme
		wantNames []string
	}{
		{"plain http", plainHTTP, []string{"sb_session"}},
		{"https", directTLS, []string{"__Host-sb_session"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := openStore(t)
			m := newManager(t, store, newClock())
			s, c := start(t, m, tt.scheme)
			_, other := start(t, m, tt.scheme)

			w := httptest.NewRecorder()
			if err := m.End(context.Background(), w, newRequest(http.MethodPost, tt.scheme, c)); err != nil {
				t.Fatal(err)
			}
			cs := w.Result().Cookies()
			if len(cs) != len(tt.wantNames) {
				t.Fatalf("End set %d cookies, want %d", len(cs), len(tt.wantNames))
			}
			for i, got := range cs {
				if got.Name != tt.wantNames[i] || got.MaxAge >= 0 || got.Value != "" || got.Path != "/" {
					t.Errorf("End cookie %d = %+v, want %s expired (Max-Age<0), empty, Path=/", i, got, tt.wantNames[i])
				}
			}
			if _, _, err := m.Load(context.Background(), newRequest(http.MethodGet, tt.scheme, c)); !errors.Is(err, session.ErrNoSession) {
				t.Fatalf("replayed cookie after End: err = %v, want ErrNoSession", err)
			}
			if _, ok := sessionKeys(t, store)["session:"+s.ID]; ok {
				t.Fatal("record still stored after End")
			}
			if _, _, err := m.Load(context.Background(), newRequest(http.MethodGet, tt.scheme, other)); err != nil {
				t.Fatalf("End ended another session: %v", err)
			}
		})
	}
}

func TestEndOverHTTPSClearsBothCookieNames(t *testing.T) {
	m := newManager(t, openStore(t), newClock())
	_, c := start(t, m, plainHTTP)
	w := httptest.NewRecorder()
	r := newRequest(http.MethodPost, directTLS, c)
	if err := m.End(context.Background(), w, r); err != nil {
		t.Fatal(err)
	}
	expired := map[string]bool{}
	for _, got := range w.Result().Cookies() {
		expired[got.Name] = got.MaxAge < 0
	}
	if !expired["sb_session"] || !expired["__Host-sb_session"] {
		t.Fatalf("expired cookies = %v, want both names expired", expired)
	}
	if _, _, err := load(m, c); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("session survived End: %v", err)
	}
}

func TestEndWithoutSession(t *testing.T) {
	m := newManager(t, openStore(t), newClock())
	for _, c := range []*http.Cookie{nil, {Name: "sb_session", Value: "garbage"}} {
		w := httptest.NewRecorder()
		if err := m.End(context.Background(), w, newRequest(http.MethodPost, plainHTTP, cookiesOf(c)...)); err != nil {
			t.Fatalf("End(%v): %v", c, err)
		}
		cs := w.Result().Cookies()
		if len(cs) != 1 || cs[0].MaxAge >= 0 {
			t.Fatalf("End(%v) cookies = %v, want one expired", c, cs)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	clk := newClock()
	store := openStore(t)
	onlyA := newManager(t, store, clk, keyA)
	rotated := newManager(t, store, clk, keyB, keyA)
	onlyB := newManager(t, store, clk, keyB)

	s, cookieA := start(t, onlyA, plainHTTP)

	got, oldKey, err := load(rotated, cookieA)
	if err != nil || got.ID != s.ID {
		t.Fatalf("[B,A] Load of an A cookie: %v", err)
	}
	if !oldKey {
		t.Fatal("[B,A] Load of an A cookie: oldKey = false, want true")
	}
	if _, _, err := load(onlyB, cookieA); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("[B] Load of an A cookie: err = %v, want ErrNoSession", err)
	}

	out := serve(rotated, plainHTTP, cookieA)
	if !out.called || out.sess == nil || out.sess.ID != s.ID {
		t.Fatalf("middleware did not load the A session: %+v", out)
	}
	if len(out.cookies) != 1 {
		t.Fatalf("middleware set %d cookies, want 1 (re-issue)", len(out.cookies))
	}
	reissued := out.cookies[0]
	if reissued.Name != "sb_session" || reissued.Value == cookieA.Value || reissued.MaxAge <= 0 {
		t.Fatalf("re-issued cookie = %+v", reissued)
	}
	got, oldKey, err = load(onlyB, reissued)
	if err != nil || got.ID != s.ID || oldKey {
		t.Fatalf("[B] Load of re-issued cookie = %v, oldKey=%v, err=%v", got, oldKey, err)
	}
	if _, _, err := load(onlyA, reissued); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("[A] Load of a B cookie: err = %v, want ErrNoSession", err)
	}

	// A cookie under the current key is not re-issued.
	if out := serve(rotated, plainHTTP, reissued); len(out.cookies) != 0 || out.sess == nil {
		t.Fatalf("current-key cookie: session=%v cookies=%v, want session and no Set-Cookie", out.sess, out.cookies)
	}
}

func TestIdleExpiry(t *testing.T) {
	clk := newClock()
	m := newManager(t, openStore(t), clk)
	_, c := start(t, m, plainHTTP)

	clk.Advance(testIdle - time.Minute)
	if _, _, err := load(m, c); err != nil {
		t.Fatalf("just before the idle timeout: %v", err)
	}
	// Load alone does not slide the lifetime.
	clk.Advance(2 * time.Minute)
	if _, _, err := load(m, c); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("after the idle timeout: err = %v, want ErrNoSession", err)
	}
	if out := serve(m, plainHTTP, c); out.sess != nil || !out.called {
		t.Fatalf("middleware after idle timeout: %+v", out)
	}
}

func TestRegularUseSlidesButAbsoluteLifetimeHolds(t *testing.T) {
	clk := newClock()
	m := newManager(t, openStore(t), clk)
	s, c := start(t, m, plainHTTP)
	begin := clk.Now()

	step := testIdle / 2
	for clk.Now().Add(step).Before(begin.Add(testMax)) {
		clk.Advance(step)
		out := serve(m, plainHTTP, c)
		if out.sess == nil || out.sess.ID != s.ID {
			t.Fatalf("after %v of regular use the session is gone", clk.Now().Sub(begin))
		}
	}
	if used := clk.Now().Sub(begin); used <= testIdle {
		t.Fatalf("test did not outlive the idle timeout (%v)", used)
	}
	// Last use was less than the idle timeout ago, but the absolute
	// lifetime has passed.
	clk.Advance(begin.Add(testMax).Sub(clk.Now()) + time.Second)
	if _, _, err := load(m, c); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("past the absolute lifetime: err = %v, want ErrNoSession", err)
	}
	if out := serve(m, plainHTTP, c); out.sess != nil {
		t.Fatal("middleware loaded a session past its absolute lifetime")
	}
}

func TestTouchIsThrottled(t *testing.T) {
	clk := newClock()
	store := &countingStore{Badger: openStore(t)}
	m := newManager(t, store, clk)
	s, c := start(t, m, plainHTTP)
	if n := store.sets.Load(); n != 2 {
		t.Fatalf("Start wrote %d times, want 2 (the record and its index entry)", n)
	}

	// Loads never write.
	store.sets.Store(0)
	for range 5 {
		if _, _, err := load(m, c); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.sets.Load(); n != 0 {
		t.Fatalf("Load wrote %d times", n)
	}

	// Many requests within one TouchInterval: at most one write.
	const n = 20
	for range n {
		clk.Advance(testTouch / (n + 1))
		if out := serve(m, plainHTTP, c); out.sess == nil {
			t.Fatal("session lost")
		}
	}
	if got := store.sets.Load(); got > 1 {
		t.Fatalf("%d requests within TouchInterval wrote %d times, want at most 1", n, got)
	}

	// Once TouchInterval has passed since the last write, one request writes once.
	clk.Advance(testTouch)
	store.sets.Store(0)
	out := serve(m, plainHTTP, c)
	if got := store.sets.Load(); got != 1 {
		t.Fatalf("request after TouchInterval wrote %d times, want 1", got)
	}
	if !out.sess.LastSeen.Equal(clk.Now()) {
		t.Fatalf("LastSeen = %v, want %v", out.sess.LastSeen, clk.Now())
	}
	var rec session.Record
	if err := json.Unmarshal(sessionKeys(t, store.Badger)["session:"+s.ID], &rec); err != nil {
		t.Fatal(err)
	}
	if !rec.LastSeen.Equal(clk.Now()) || !rec.UpdatedAt.Equal(clk.Now()) || !rec.CreatedAt.Equal(s.CreatedAt) || !rec.ExpiresAt.Equal(s.ExpiresAt) {
		t.Fatalf("stored record after touch = %+v", rec)
	}

	// And the next requests within the interval write nothing.
	store.sets.Store(0)
	for range 5 {
		clk.Advance(time.Second)
		serve(m, plainHTTP, c)
	}
	if got := store.sets.Load(); got != 0 {
		t.Fatalf("requests right after a touch wrote %d times", got)
	}
}

func TestFromContext(t *testing.T) {
	if s := session.FromContext(context.Background()); s != nil {
		t.Fatalf("FromContext(empty) = %v", s)
	}
	want := &session.Session{ID: "x"}
	if got := session.FromContext(session.WithSession(context.Background(), want)); got != want {
		t.Fatalf("FromContext(WithSession) = %v", got)
	}
	m := newManager(t, openStore(t), newClock())
	out := serve(m, plainHTTP)
	if !out.called || out.sess != nil || out.errRan || len(out.cookies) != 0 {
		t.Fatalf("request without cookie: %+v", out)
	}
}

func TestStoreFailureIsNotNoSession(t *testing.T) {
	clk := newClock()
	store := openStore(t)
	m := newManager(t, store, clk)
	_, c := start(t, m, plainHTTP)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	_, _, err := load(m, c)
	if err == nil || errors.Is(err, session.ErrNoSession) {
		t.Fatalf("Load on a closed store: err = %v, want a store error", err)
	}
	out := serve(m, plainHTTP, c)
	if !out.errRan || out.called {
		t.Fatalf("middleware on a closed store: onErr=%v next=%v", out.errRan, out.called)
	}
	if out.err == nil || errors.Is(out.err, session.ErrNoSession) {
		t.Fatalf("onErr got %v", out.err)
	}
	// Without a cookie the store is not consulted.
	if out := serve(m, plainHTTP); !out.called || out.errRan {
		t.Fatalf("anonymous request on a closed store: %+v", out)
	}
	if _, err := m.Start(context.Background(), httptest.NewRecorder(), newRequest(http.MethodPost, plainHTTP), "bob", "", ""); err == nil {
		t.Fatal("Start on a closed store succeeded")
	}
	if err := m.End(context.Background(), httptest.NewRecorder(), newRequest(http.MethodPost, plainHTTP, c)); err == nil {
		t.Fatal("End on a closed store succeeded")
	}
}

func TestSessionsSurviveReopen(t *testing.T) {
	// A restart (new Manager, reopened store, same key) keeps people logged in.
	dir := t.TempDir()
	clk := newClock()
	open := func() *countingStore {
		return &countingStore{Badger: kvtest.Dir(t, dir)}
	}
	st := open()
	s, c := start(t, newManager(t, st, clk), plainHTTP)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = open()
	defer st.Close()
	got, _, err := load(newManager(t, st, clk), c)
	if err != nil || got.ID != s.ID || got.Username != "alice" {
		t.Fatalf("after reopen: %v", err)
	}
}

// fullStore is the real store on a volume that filled up: every Set and
// Renew is refused with kv.ErrFull, as kv's full-volume guard refuses it.
type fullStore struct {
	*kv.Badger
	full atomic.Bool
}

func (s *fullStore) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if s.full.Load() {
		return fmt.Errorf("kv: set: %w", kv.ErrFull)
	}
	return s.Badger.Set(ctx, key, val, ttl)
}

func (s *fullStore) Renew(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if s.full.Load() {
		return fmt.Errorf("kv: renew: %w", kv.ErrFull)
	}
	return s.Badger.Renew(ctx, key, val, ttl)
}

// TestTouchOnFullVolume: a renewal that cannot be written (full volume)
// keeps the session valid; it slides once the volume has room again.
func TestTouchOnFullVolume(t *testing.T) {
	clk := newClock()
	store := &fullStore{Badger: openStore(t)}
	m := newManager(t, store, clk)
	s, c := start(t, m, plainHTTP)
	store.full.Store(true)
	for range 3 {
		clk.Advance(testTouch + time.Second)
		if out := serve(m, plainHTTP, c); out.sess == nil || out.sess.ID != s.ID {
			t.Fatal("a renewal refused for a full volume ended the session")
		}
	}
	store.full.Store(false)
	clk.Advance(time.Second)
	out := serve(m, plainHTTP, c)
	if out.sess == nil {
		t.Fatal("session lost once space is back")
	}
	var rec session.Record
	if err := json.Unmarshal(sessionKeys(t, store.Badger)["session:"+s.ID], &rec); err != nil {
		t.Fatal(err)
	}
	if !rec.LastSeen.Equal(clk.Now()) {
		t.Fatalf("renewal not written once space is back: last seen %v, want %v", rec.LastSeen, clk.Now())
	}
}
