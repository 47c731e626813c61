package web_test

// Tests that pin exact boundaries: the 64 KiB body limit, the 512-byte next
// and its control-character bounds, Retry-After rounding, which errors are
// logged, and how the client IP is read (found alive by mutation testing).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"soulbridge/assets"
	"soulbridge/auth"
	"soulbridge/avatar"
	"soulbridge/internal/testclock"
	"soulbridge/internal/testlog"
	"soulbridge/kv"
	"soulbridge/kv/kvtest"
	"soulbridge/session"
	"soulbridge/web"
)

// wired is the real router built like newSite, but with a captured log, a
// manual clock for log-in throttling, and served in-process so a test can
// set the connection's address.
type wired struct {
	h     http.Handler
	store *kv.Badger
	logs  *testlog.Recorder
	clk   *testclock.Clock
}

func newWired(t *testing.T, trustProxy bool) *wired {
	t.Helper()
	store := kvtest.Memory(t)
	clk := testclock.New()
	hasher, err := auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	accounts, err := auth.New(store, auth.Config{Hasher: hasher, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	avatars, err := avatar.New(store, avatar.Config{})
	if err != nil {
		t.Fatal(err)
	}
	static, err := assets.New()
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Recorder{}
	h := web.New(web.Deps{
		Sessions:          newSessions(t, store, bytes.Repeat([]byte{0x5b}, 32)),
		Auth:              accounts,
		Avatars:           avatars,
		Assets:            static,
		Store:             store,
		Logger:            slog.New(logs),
		TrustProxyHeaders: trustProxy,
		Persistent:        true,
		Version:           testVersion,
	})
	return &wired{h: h, store: store, logs: logs, clk: clk}
}

// serve runs one request through the router; remoteAddr "" keeps
// httptest's "192.0.2.1:1234".
func (w *wired) serve(method, path, remoteAddr string, header map[string]string, body string, cookie *http.Cookie) *http.Response {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if remoteAddr != "" {
		r.RemoteAddr = remoteAddr
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	if cookie != nil {
		r.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, r)
	return rec.Result()
}

var formHeader = map[string]string{"Content-Type": "application/x-www-form-urlencoded"}

// sessionIPs returns the IP stored in each session record, by username.
func sessionIPs(t *testing.T, store *kv.Badger) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := store.Scan(context.Background(), kv.Range{Prefix: "session:"}, func(_ string, v []byte) error {
		var rec session.Record
		if err := json.Unmarshal(v, &rec); err != nil {
			return err
		}
		got[rec.Username] = rec.IP
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// padJSON returns {"avatar":id} padded with spaces to exactly n bytes.
func padJSON(id string, n int) string {
	s := `{"avatar":"` + id + `"}`
	return s + strings.Repeat(" ", n-len(s))
}

// padForm returns avatar=id&pad=… of exactly n bytes.
func padForm(id string, n int) string {
	s := "avatar=" + id + "&pad="
	return s + strings.Repeat("x", n-len(s))
}

func TestBodyLimitIsExactly64KiB(t *testing.T) {
	const limit = 64 << 10
	s := newSite(t, siteOptions{})
	alice := s.signup(t, "alice")
	jsonCT := map[string]string{"Content-Type": "application/json"}
	tests := []struct {
		name string
		req  req
		want int
	}{
		{"JSON of 64 KiB", req{method: "PUT", body: padJSON("owl", limit), header: jsonCT}, 200},
		{"JSON of 64 KiB + 1", req{method: "PUT", body: padJSON("owl", limit+1), header: jsonCT}, 413},
		{"chunked JSON of 64 KiB", req{method: "PUT", bodyReader: io.MultiReader(strings.NewReader(padJSON("fox", limit))), header: jsonCT}, 200},
		{"chunked JSON of 64 KiB + 1", req{method: "PUT", bodyReader: io.MultiReader(strings.NewReader(padJSON("fox", limit+1))), header: jsonCT}, 413},
		{"form of 64 KiB", req{method: "POST", body: padForm("owl", limit), header: formHeader}, 303},
		{"form of 64 KiB + 1", req{method: "POST", body: padForm("owl", limit+1), header: formHeader}, 413},
		{"chunked form of 64 KiB", req{method: "POST", bodyReader: io.MultiReader(strings.NewReader(padForm("fox", limit))), header: formHeader}, 303},
		{"chunked form of 64 KiB + 1", req{method: "POST", bodyReader: io.MultiReader(strings.NewReader(padForm("fox", limit+1))), header: formHeader}, 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.path, tc.req.cookie = "/community/avatar", alice
			if res := s.do(t, tc.req); res.status != tc.want {
				t.Fatalf("%d %.200s, want %d", res.status, res.body, tc.want)
			}
		})
	}
}

func TestNextBoundaries(t *testing.T) {
	s := newSite(t, siteOptions{})
	alice := s.signup(t, "alice")
	long := func(n int) string { return "/" + strings.Repeat("a", n-1) }
	tests := []struct {
		name, next string
		kept       bool
	}{
		{"512 bytes", long(512), true},
		{"513 bytes", long(513), false},
		{"space (0x20)", "/a b", true},
		{"tilde (0x7e)", "/a~b", true},
		{"unit separator (0x1f)", "/a\x1fb", false},
		{"NUL", "/a\x00b", false},
		{"DEL (0x7f)", "/a\x7fb", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Logged in, the log-in page sends you straight to next.
			res := s.do(t, req{method: "GET", path: "/login?next=" + url.QueryEscape(tc.next), cookie: alice})
			want := "/community"
			if tc.kept {
				want = tc.next
			}
			if res.status != http.StatusSeeOther || res.header.Get("Location") != want {
				t.Fatalf("%d Location %q, want 303 %q", res.status, res.header.Get("Location"), want)
			}
		})
	}
}

func TestRetryAfterRoundsUpToWholeSeconds(t *testing.T) {
	w := newWired(t, false)
	attempt := func() *http.Response {
		form := url.Values{"username": {"nobody"}, "password": {"wrong password"}}
		return w.serve("POST", "/login", "", formHeader, form.Encode(), nil)
	}
	for i := range auth.IPLimit {
		if res := attempt(); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, res.StatusCode)
		}
	}
	// The window began at the first failure; each step sets how much of it
	// is left.
	start := w.clk.Now()
	tests := []struct {
		left time.Duration
		want string
	}{
		{auth.Window, "900"},
		{600 * time.Second, "600"},
		{599*time.Second + 600*time.Millisecond, "600"},
		{599*time.Second + 400*time.Millisecond, "600"},
		{time.Second, "1"},
		{time.Nanosecond, "1"},
	}
	for _, tc := range tests {
		w.clk.Advance(start.Add(auth.Window - tc.left).Sub(w.clk.Now()))
		res := attempt()
		if res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("%v left: %d, want 429", tc.left, res.StatusCode)
		}
		if got := res.Header.Get("Retry-After"); got != tc.want {
			t.Errorf("%v left: Retry-After %q, want %q", tc.left, got, tc.want)
		}
	}
	w.clk.Advance(time.Nanosecond)
	if res := attempt(); res.StatusCode != http.StatusUnauthorized || res.Header.Get("Retry-After") != "" {
		t.Fatalf("window over: %d Retry-After %q, want 401 without it", res.StatusCode, res.Header.Get("Retry-After"))
	}
}

func TestOnlyThrottlingSetsRetryAfter(t *testing.T) {
	s := newSite(t, siteOptions{})
	for _, r := range []req{
		{method: "GET", path: "/no-such-page"},
		{method: "GET", path: "/community/avatar"},
		{method: "DELETE", path: "/login"},
		{method: "POST", path: "/login", form: url.Values{"username": {"nobody"}, "password": {"wrong password"}}},
	} {
		res := s.do(t, r)
		if res.status < 400 {
			t.Fatalf("%s %s: %d, want an error", r.method, r.path, res.status)
		}
		if ra, ok := res.header["Retry-After"]; ok {
			t.Errorf("%s %s: %d with Retry-After %q", r.method, r.path, res.status, ra)
		}
	}
}

func TestOnlyServerErrorsAreLoggedAsErrors(t *testing.T) {
	w := newWired(t, false)
	signup := url.Values{"username": {"alice"}, "password": {testPassword}}
	res := w.serve("POST", "/signup", "", formHeader, signup.Encode(), nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-up: %d", res.StatusCode)
	}
	var alice *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == session.CookieName {
			alice = c
		}
	}
	if alice == nil {
		t.Fatal("sign-up set no session cookie")
	}

	// Client errors are not the server's fault: no error log.
	for _, r := range []struct{ method, path string }{
		{"GET", "/no-such-page"},
		{"GET", "/community/avatar"}, // 401
		{"DELETE", "/login"},         // 405
	} {
		w.logs.Reset()
		res := w.serve(r.method, r.path, "", nil, "", nil)
		if res.StatusCode < 400 || res.StatusCode >= 500 {
			t.Fatalf("%s %s: %d, want a 4xx", r.method, r.path, res.StatusCode)
		}
		if msgs := w.logs.AtLeast(slog.LevelError); len(msgs) != 0 {
			t.Errorf("%s %s (%d) logged errors: %q", r.method, r.path, res.StatusCode, msgs)
		}
	}

	// A 500 (the store is gone) is logged exactly once, as an error.
	if err := w.store.Close(); err != nil {
		t.Fatal(err)
	}
	w.logs.Reset()
	res = w.serve("GET", "/community/avatar", "", nil, "", alice)
	if res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("with the store closed: %d, want 500", res.StatusCode)
	}
	if msgs := w.logs.AtLeast(slog.LevelError); len(msgs) != 1 || msgs[0] != "request failed" {
		t.Fatalf("a 500 logged errors %q, want one \"request failed\"", msgs)
	}
}

func TestAvatarChangeIsLoggedOnlyWhenMade(t *testing.T) {
	w := newWired(t, false)
	signup := url.Values{"username": {"alice"}, "password": {testPassword}}
	res := w.serve("POST", "/signup", "", formHeader, signup.Encode(), nil)
	cs := res.Cookies()
	if res.StatusCode != http.StatusSeeOther || len(cs) == 0 {
		t.Fatalf("sign-up: %d %v", res.StatusCode, cs)
	}
	jsonCT := map[string]string{"Content-Type": "application/json"}
	w.logs.Reset()
	if res := w.serve("PUT", "/community/avatar", "", jsonCT, `{"avatar":"no-such-avatar"}`, cs[0]); res.StatusCode != 400 {
		t.Fatalf("unknown avatar: %d, want 400", res.StatusCode)
	}
	if n := w.logs.Count(slog.LevelInfo, "avatar changed"); n != 0 {
		t.Fatalf("a refused change logged \"avatar changed\" %d times", n)
	}
	if res := w.serve("PUT", "/community/avatar", "", jsonCT, `{"avatar":"owl"}`, cs[0]); res.StatusCode != 200 {
		t.Fatalf("owl: %d, want 200", res.StatusCode)
	}
	if n := w.logs.Count(slog.LevelInfo, "avatar changed"); n != 1 {
		t.Fatalf("a change logged \"avatar changed\" %d times, want once", n)
	}
}

func TestClientIP(t *testing.T) {
	tests := []struct {
		name       string
		trust      bool
		remoteAddr string
		realIP     string
		want       string
	}{
		{"trusted IPv4 with spaces", true, "10.0.0.1:5000", " 198.51.100.7 ", "198.51.100.7"},
		{"trusted IPv6 in long form", true, "10.0.0.1:5000", "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
		{"trusted but not an IP", true, "10.0.0.1:5000", "198.51.100.7, 10.0.0.2", "10.0.0.1"},
		{"trusted but absent", true, "[2001:db8::2]:5000", "", "2001:db8::2"},
		{"untrusted", false, "10.0.0.1:5000", "198.51.100.7", "10.0.0.1"},
		{"peer without a port", false, "192.0.2.9", "", "192.0.2.9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWired(t, tc.trust)
			h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
			if tc.realIP != "" {
				h["X-Real-IP"] = tc.realIP
			}
			form := url.Values{"username": {"alice"}, "password": {testPassword}}
			if res := w.serve("POST", "/signup", tc.remoteAddr, h, form.Encode(), nil); res.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-up: %d", res.StatusCode)
			}
			if got := sessionIPs(t, w.store)["alice"]; got != tc.want {
				t.Fatalf("session IP %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCommunityPickerChecksOnlyYourAvatar(t *testing.T) {
	s := newSite(t, siteOptions{})
	alice := s.signup(t, "alice")
	for _, choice := range []string{"", "fox"} {
		if choice != "" {
			res := s.do(t, req{method: "PUT", path: "/community/avatar", cookie: alice, body: `{"avatar":"` + choice + `"}`,
				header: map[string]string{"Content-Type": "application/json"}})
			if res.status != 200 {
				t.Fatalf("PUT %s: %d", choice, res.status)
			}
		}
		res := s.do(t, req{method: "GET", path: "/community", cookie: alice})
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(res.body))
		if err != nil {
			t.Fatal(err)
		}
		var checked []string
		doc.Find(`input[type=radio][name=avatar][checked]`).Each(func(_ int, sel *goquery.Selection) {
			checked = append(checked, sel.AttrOr("value", ""))
		})
		want := []string{choice}
		if choice == "" {
			want = nil // the default is not among the presets
		}
		if !slices.Equal(checked, want) {
			t.Errorf("avatar %q: checked options %q, want %q", choice, checked, want)
		}
	}
}

func TestErrorText(t *testing.T) {
	cause := errors.New("disk on fire")
	e := &web.Error{Status: 500, Message: "internal server error", Cause: cause}
	if got, want := e.Error(), "500 internal server error: disk on fire"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, cause) {
		t.Error("errors.Is(e, cause) = false")
	}
	if got, want := (&web.Error{Status: 404, Message: "not found"}).Error(), "404 not found"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestErrorPageIsTitledByStatus(t *testing.T) {
	s := newSite(t, siteOptions{})
	tests := []struct {
		req  req
		want string
	}{
		{req{method: "GET", path: "/no-such-page"}, "Not Found"},
		{req{method: "DELETE", path: "/login"}, "Method Not Allowed"},
		{req{method: "POST", path: "/signup", body: "x", header: map[string]string{"Content-Type": "text/plain"}}, "Unsupported Media Type"},
	}
	for _, tc := range tests {
		res := s.do(t, tc.req)
		isHTML(t, tc.req.path, res)
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(res.body))
		if err != nil {
			t.Fatal(err)
		}
		if h1 := strings.TrimSpace(doc.Find("h1").First().Text()); h1 != tc.want {
			t.Errorf("%s %s: %d page headed %q, want %q", tc.req.method, tc.req.path, res.status, h1, tc.want)
		}
	}
}

// requestLogStatus returns the status of the one "request" line logged.
func requestLogStatus(t *testing.T, logs *testlog.Recorder) int64 {
	t.Helper()
	var got []int64
	for _, r := range logs.Records() {
		if r.Message != "request" {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "status" {
				got = append(got, a.Value.Int64())
			}
			return true
		})
	}
	if len(got) != 1 {
		t.Fatalf("logged %d request lines with a status, want 1", len(got))
	}
	return got[0]
}

func TestRequestLogRecordsTheStatusSent(t *testing.T) {
	w := newWired(t, false)
	tests := []struct {
		method, path string
		want         int64
	}{
		{"GET", "/no-such-page", 404},
		{"GET", "/community", 303}, // logged out: to the log-in page
		{"GET", "/community/avatars", 200},
		{"GET", "/readyz", 200},
		{"DELETE", "/login", 405},
	}
	for _, tc := range tests {
		w.logs.Reset()
		res := w.serve(tc.method, tc.path, "", nil, "", nil)
		if int64(res.StatusCode) != tc.want {
			t.Fatalf("%s %s: %d, want %d", tc.method, tc.path, res.StatusCode, tc.want)
		}
		if got := requestLogStatus(t, w.logs); got != tc.want {
			t.Errorf("%s %s: request logged with status %d, want %d", tc.method, tc.path, got, tc.want)
		}
	}
	// Successful liveness probes are not logged; failing ones are.
	w.logs.Reset()
	if res := w.serve("GET", "/healthz", "", nil, "", nil); res.StatusCode != 200 {
		t.Fatalf("healthz: %d", res.StatusCode)
	}
	if n := w.logs.Count(slog.LevelInfo, "request"); n != 0 {
		t.Errorf("a healthy /healthz was logged %d times", n)
	}
	w.logs.Reset()
	if res := w.serve("POST", "/healthz", "", nil, "", nil); res.StatusCode != 405 {
		t.Fatalf("POST /healthz: %d, want 405", res.StatusCode)
	}
	if got := requestLogStatus(t, w.logs); got != 405 {
		t.Errorf("POST /healthz logged with status %d, want 405", got)
	}
}

func TestRequestLogDurationIsInMilliseconds(t *testing.T) {
	w := newWired(t, false)
	w.logs.Reset()
	begin := time.Now()
	w.serve("GET", "/no-such-page", "", nil, "", nil)
	elapsed := float64(time.Since(begin).Microseconds()) / 1000
	var got []float64
	for _, r := range w.logs.Records() {
		r.Attrs(func(a slog.Attr) bool {
			if r.Message == "request" && a.Key == "duration_ms" {
				got = append(got, a.Value.Float64())
			}
			return true
		})
	}
	if len(got) != 1 || got[0] < 0 || got[0] > elapsed {
		t.Fatalf("duration_ms %v, want one value within the %v ms the request took", got, elapsed)
	}
}

func TestSignUpAndLogInWithTheStoreDown(t *testing.T) {
	s := newSite(t, siteOptions{})
	if err := s.store.Close(); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"username": {"alice"}, "password": {testPassword}}
	for _, path := range []string{"/signup", "/login"} {
		res := s.do(t, req{method: "POST", path: path, form: form})
		if res.status != http.StatusInternalServerError || sessionCookie(res) != nil {
			t.Errorf("POST %s with the store closed: %d, cookie %v; want 500 and no session", path, res.status, sessionCookie(res))
		}
	}
}
