package web_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"soulbridge/auth"
	"soulbridge/kv"
	"soulbridge/session"
	"soulbridge/web"
)

// User agents of the test's clients (the account page names them).
const (
	firefoxLinux = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	safariIPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)

// apiSession is one entry of GET /account/sessions.
type apiSession struct {
	ID        string `json:"id"`
	CreatedAt string `json:"created_at"`
	LastSeen  string `json:"last_seen"`
	Device    string `json:"device"`
	IP        string `json:"ip"`
	Current   bool   `json:"current"`
	Method    string `json:"method"`
}

// loginAs logs username in with password from a client with user agent ua
// and returns its session cookie.
func (s *site) loginAs(t *testing.T, username, password, ua string) *http.Cookie {
	t.Helper()
	res := s.do(t, req{method: "POST", path: "/login", header: map[string]string{"User-Agent": ua},
		form: url.Values{"username": {username}, "password": {password}}})
	c := sessionCookie(res)
	if res.status != http.StatusSeeOther || c == nil || c.Value == "" {
		t.Fatalf("log-in %s: %d, cookie %v; body %.200s", username, res.status, c, res.body)
	}
	return &http.Cookie{Name: c.Name, Value: c.Value}
}

// sessionsOf returns GET /account/sessions for cookie, checking the answer.
func (s *site) sessionsOf(t *testing.T, cookie *http.Cookie) []apiSession {
	t.Helper()
	res := s.do(t, req{method: "GET", path: "/account/sessions", cookie: cookie})
	if res.status != http.StatusOK {
		t.Fatalf("GET /account/sessions: %d %s", res.status, res.body)
	}
	noStoreCheck(t, "GET /account/sessions", res)
	var list []apiSession
	if err := json.Unmarshal([]byte(res.body), &list); err != nil {
		t.Fatalf("GET /account/sessions: %v: %s", err, res.body)
	}
	// Exactly the documented fields.
	var raw []map[string]any
	_ = json.Unmarshal([]byte(res.body), &raw)
	for _, m := range raw {
		_, method := m["method"] // how it was made, when recorded
		if len(m) != 6 && !(method && len(m) == 7) {
			t.Errorf("session entry has fields %v, want id, created_at, last_seen, device, ip, current (and method)", m)
		}
	}
	return list
}

func noStoreCheck(t *testing.T, what string, res resp) {
	t.Helper()
	if cc := res.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
	}
}

// avatarStatus is GET /community/avatar's status with cookie: 200 logged
// in, 401 not.
func (s *site) avatarStatus(t *testing.T, cookie *http.Cookie) int {
	t.Helper()
	return s.do(t, req{method: "GET", path: "/community/avatar", cookie: cookie}).status
}

// Two log-ins of one user from two clients: both listed, `current` right;
// ending the other makes its cookie get 401; the id is neither the token
// nor the stored hash.
func TestAccountSessionsListAndEnd(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.signup(t, "alice")
	a := s.loginAs(t, "alice", testPassword, firefoxLinux)
	b := s.loginAs(t, "alice", testPassword, safariIPhone)

	list := s.sessionsOf(t, a)
	if len(list) != 3 { // the sign-up's session, a and b
		t.Fatalf("alice has %d sessions listed, want 3: %+v", len(list), list)
	}
	if list[0].Device != "Safari on iPhone" || list[0].Current || list[1].Device != "Firefox on Linux" || !list[1].Current {
		t.Fatalf("list from a = %+v, want b (Safari on iPhone) first, then a (current)", list)
	}
	for _, e := range list {
		if e.IP != "127.0.0.1" || len(e.ID) != 32 {
			t.Errorf("entry %+v: want ip 127.0.0.1 and a 32-character id", e)
		}
		for _, f := range []string{e.CreatedAt, e.LastSeen} {
			if _, err := time.Parse(time.RFC3339, f); err != nil {
				t.Errorf("entry %+v: time %q is not RFC 3339", e, f)
			}
		}
		for _, c := range []*http.Cookie{a, b} {
			if strings.Contains(c.Value, e.ID) {
				t.Errorf("public id %s appears in a cookie", e.ID)
			}
		}
		err := s.store.Scan(context.Background(), kv.Range{Prefix: session.KeyPrefix}, func(k string, _ []byte) error {
			if strings.Contains(k, e.ID) {
				t.Errorf("public id %s is (part of) the record key %s", e.ID, k)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	fromB := s.sessionsOf(t, b)
	if !fromB[0].Current || fromB[1].Current {
		t.Fatalf("list from b = %+v, want b current", fromB)
	}

	// a ends b.
	bID := list[0].ID
	res := s.do(t, req{method: "DELETE", path: "/account/sessions/" + bID, cookie: a})
	if res.status != http.StatusNoContent {
		t.Fatalf("DELETE b: %d %s", res.status, res.body)
	}
	noStoreCheck(t, "DELETE /account/sessions/{id}", res)
	if got := s.avatarStatus(t, b); got != http.StatusUnauthorized {
		t.Fatalf("ended session's cookie: GET /community/avatar %d, want 401", got)
	}
	if got := s.avatarStatus(t, a); got != http.StatusOK {
		t.Fatalf("the ending session: %d, want 200", got)
	}
	// Again, or an unknown id: 404 JSON.
	for _, id := range []string{bID, strings.Repeat("0", 32), "x"} {
		res := s.do(t, req{method: "DELETE", path: "/account/sessions/" + id, cookie: a})
		if res.status != http.StatusNotFound {
			t.Errorf("DELETE %s: %d, want 404", id, res.status)
		}
		jsonError(t, "DELETE unknown id", res)
		noStoreCheck(t, "DELETE unknown id", res)
	}
	if n := len(s.sessionsOf(t, a)); n != 2 {
		t.Fatalf("after ending b: %d sessions, want 2", n)
	}
}

// Another user's id is 404, and that session lives on.
func TestAccountSessionsOtherUsersIDIs404(t *testing.T) {
	s := newSite(t, siteOptions{})
	alice := s.signup(t, "alice")
	bob := s.signup(t, "bob")
	bobID := s.sessionsOf(t, bob)[0].ID
	for _, r := range []req{
		{method: "DELETE", path: "/account/sessions/" + bobID, cookie: alice},
		{method: "POST", path: "/account/sessions/" + bobID + "/end", cookie: alice, form: url.Values{}},
	} {
		res := s.do(t, r)
		if res.status != http.StatusNotFound {
			t.Errorf("%s %s with alice's cookie: %d, want 404", r.method, r.path, res.status)
		}
		jsonError(t, r.method+" another user's id", res)
	}
	if got := s.avatarStatus(t, bob); got != http.StatusOK {
		t.Fatalf("bob's session after alice's attempts: %d, want 200", got)
	}
}

// The no-JavaScript twin, and "log out everywhere else" as JSON and as a
// form: only the current session is left.
func TestAccountRevokeOthers(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.signup(t, "alice")
	a := s.loginAs(t, "alice", testPassword, firefoxLinux)
	b := s.loginAs(t, "alice", testPassword, safariIPhone)
	c := s.loginAs(t, "alice", testPassword, "curl/8.5.0")

	// The form twin ends one: 303 to /account.
	var cID string
	for _, e := range s.sessionsOf(t, a) {
		if e.Device == "curl" {
			cID = e.ID
		}
	}
	res := s.do(t, req{method: "POST", path: "/account/sessions/" + cID + "/end", cookie: a, form: url.Values{}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/account" {
		t.Fatalf("POST …/end: %d Location %q, want 303 /account", res.status, res.header.Get("Location"))
	}
	noStoreCheck(t, "POST …/end", res)
	if got := s.avatarStatus(t, c); got != http.StatusUnauthorized {
		t.Fatalf("session ended by the form: %d, want 401", got)
	}

	// No body: 200 JSON with the count.
	res = s.do(t, req{method: "POST", path: "/account/sessions/revoke-others", cookie: a})
	if res.status != http.StatusOK || strings.TrimSpace(res.body) != `{"ended":2}` {
		t.Fatalf("revoke-others: %d %s, want 200 {\"ended\":2}", res.status, res.body)
	}
	noStoreCheck(t, "revoke-others", res)
	if got := s.avatarStatus(t, b); got != http.StatusUnauthorized {
		t.Fatalf("other session after revoke-others: %d, want 401", got)
	}
	list := s.sessionsOf(t, a)
	if len(list) != 1 || !list[0].Current {
		t.Fatalf("after revoke-others: %+v, want only the current session", list)
	}

	// A browser form: 303 to /account.
	d := s.loginAs(t, "alice", testPassword, safariIPhone)
	res = s.do(t, req{method: "POST", path: "/account/sessions/revoke-others", cookie: a, form: url.Values{},
		header: map[string]string{"Accept": "text/html"}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/account" {
		t.Fatalf("revoke-others as a form: %d Location %q, want 303 /account", res.status, res.header.Get("Location"))
	}
	if got := s.avatarStatus(t, d); got != http.StatusUnauthorized {
		t.Fatalf("other session after the form: %d, want 401", got)
	}
	if got := s.avatarStatus(t, a); got != http.StatusOK {
		t.Fatalf("current session after the form: %d, want 200", got)
	}
}

// Without a session: 401 JSON on the API paths, the page sends you to log
// in and back.
func TestAccountWithoutSession(t *testing.T) {
	s := newSite(t, siteOptions{})
	for _, r := range []req{
		{method: "GET", path: "/account/sessions"},
		{method: "DELETE", path: "/account/sessions/" + strings.Repeat("0", 32)},
		{method: "POST", path: "/account/sessions/revoke-others"},
		{method: "POST", path: "/account/sessions/" + strings.Repeat("0", 32) + "/end", form: url.Values{}},
		{method: "PUT", path: "/account/sessions"}, // 405, still JSON
	} {
		res := s.do(t, r)
		want := http.StatusUnauthorized
		if r.method == "PUT" {
			want = http.StatusMethodNotAllowed
		}
		if res.status != want {
			t.Errorf("%s %s without a session: %d, want %d", r.method, r.path, res.status, want)
		}
		jsonError(t, r.method+" "+r.path, res)
	}
	res := s.do(t, req{method: "GET", path: "/account"})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/login?next=%2Faccount" {
		t.Fatalf("GET /account logged out: %d Location %q, want 303 /login?next=%%2Faccount", res.status, res.header.Get("Location"))
	}
	noStoreCheck(t, "GET /account logged out", res)
	for _, path := range []string{"/account/password", "/account/delete"} {
		res := s.do(t, req{method: "POST", path: path, form: url.Values{"password": {testPassword}}})
		if res.status != http.StatusUnauthorized {
			t.Errorf("POST %s without a session: %d, want 401", path, res.status)
		}
	}
}

// 51 log-ins leave 50 sessions: the least recently seen one is gone.
func TestAccountSessionCap(t *testing.T) {
	s := newSite(t, siteOptions{})
	first := s.signup(t, "alice")
	var last *http.Cookie
	for range session.MaxPerUser {
		last = s.loginAs(t, "alice", testPassword, firefoxLinux)
	}
	if got := s.avatarStatus(t, first); got != http.StatusUnauthorized {
		t.Fatalf("the least recently seen session after %d log-ins: %d, want 401", session.MaxPerUser+1, got)
	}
	if n := len(s.sessionsOf(t, last)); n != session.MaxPerUser {
		t.Fatalf("%d sessions listed, want %d", n, session.MaxPerUser)
	}
}

// newSiteOver serves a site built by web.NewSite over store (as a new
// release starting on an existing volume would), with the test key.
func newSiteOver(t *testing.T, store web.Store, key []byte, tweak func(*web.SiteConfig)) *site {
	t.Helper()
	hasher, err := auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	cfg := web.SiteConfig{
		Keys: [][]byte{key}, IdleLifetime: idleLifetime, MaxLifetime: maxLifetime,
		Hasher: hasher, Persistent: true, Version: testVersion,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	h, err := web.NewSite(store, cfg)
	if err != nil {
		t.Fatalf("web.NewSite: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b, _ := store.(*kv.Badger)
	return &site{server: h, srv: srv, store: b, key: key, client: &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// A session from before the index (its record only, as the previous release
// wrote it) shows in the list once a new site has started on the store,
// and can be ended like a new one.
func TestAccountListsSessionsFromBeforeTheIndex(t *testing.T) {
	old := newSite(t, siteOptions{})
	ctx := context.Background()
	cur := old.signup(t, "alice")
	// The previous release: a record and no index entry, no marker.
	m := newSessions(t, old.store, old.key)
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/login", nil)
	r.Header.Set("User-Agent", firefoxLinux)
	prev, err := m.Start(ctx, w, r, "alice", "198.51.100.7", "")
	if err != nil {
		t.Fatal(err)
	}
	prevCookie := &http.Cookie{Name: session.CookieName, Value: w.Result().Cookies()[0].Value}
	// Only prev's entry goes: cur carries an account generation, which no
	// release before the index wrote (the start-up build leaves such a
	// record alone, TestEnsureIndexLeavesRecordsOfThisRelease).
	var drop []string
	err = old.store.Scan(ctx, kv.Range{}, func(k string, _ []byte) error {
		if strings.HasPrefix(k, session.IndexPrefix) && strings.HasSuffix(k, ":"+prev.PublicID()) || strings.HasPrefix(k, "meta:") {
			drop = append(drop, k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(drop) < 1 {
		t.Fatalf("expected prev's index entry (and perhaps the marker), found %q", drop)
	}
	for _, k := range drop {
		if err := old.store.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(old.sessionsOf(t, cur)); n != 1 {
		t.Fatalf("without prev's entry: %d sessions listed, want 1 (the set-up is wrong)", n)
	}

	s := newSiteOver(t, old.store, old.key, nil)
	list := s.sessionsOf(t, cur)
	if len(list) != 2 {
		t.Fatalf("after the start-up build: %d sessions listed, want 2: %+v", len(list), list)
	}
	var found bool
	for _, e := range list {
		if e.ID == prev.PublicID() {
			found = e.IP == "198.51.100.7" && e.Device == "Firefox on Linux" && !e.Current
		}
	}
	if !found {
		t.Fatalf("the session from before the index is not listed right: %+v", list)
	}
	if got := s.avatarStatus(t, prevCookie); got != http.StatusOK {
		t.Fatalf("the older session is logged out: %d", got)
	}
	if res := s.do(t, req{method: "DELETE", path: "/account/sessions/" + prev.PublicID(), cookie: cur}); res.status != http.StatusNoContent {
		t.Fatalf("ending the older session: %d %s", res.status, res.body)
	}
	if got := s.avatarStatus(t, prevCookie); got != http.StatusUnauthorized {
		t.Fatalf("the ended older session: %d, want 401", got)
	}
}

// The account page: sessions newest activity first with "this device",
// a form per other session, log out everywhere else, the password and
// deletion forms; every authenticated page links to it and has log-out.
func TestAccountPage(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.signup(t, "alice")
	a := s.loginAs(t, "alice", testPassword, firefoxLinux)
	b := s.loginAs(t, "alice", testPassword, safariIPhone)
	res := s.do(t, req{method: "GET", path: "/account", cookie: a})
	if res.status != http.StatusOK {
		t.Fatalf("GET /account: %d", res.status)
	}
	isHTML(t, "GET /account", res)
	noStoreCheck(t, "GET /account", res)
	checkSecurityHeaders(t, "GET /account", res)
	list := s.sessionsOf(t, b)
	for _, want := range []string{
		"Firefox on Linux", "Safari on iPhone", "This device", "127.0.0.1",
		`action="/account/sessions/` + list[0].ID + `/end"`, // b, not current from a
		`action="/account/sessions/revoke-others"`,
		`action="/account/password"`, `name="current_password"`, `name="new_password"`,
		`action="/account/delete"`, `name="password"`,
	} {
		if !strings.Contains(res.body, want) {
			t.Errorf("GET /account: page lacks %q", want)
		}
	}
	if strings.Index(res.body, "Safari on iPhone") > strings.Index(res.body, "Firefox on Linux") {
		t.Error("GET /account: not newest activity first")
	}
	var current string
	for _, e := range s.sessionsOf(t, a) {
		if e.Current {
			current = e.ID
		}
	}
	if strings.Contains(res.body, `action="/account/sessions/`+current+`/end"`) {
		t.Error("GET /account: the current session has an end button (log out is for that)")
	}
	for _, path := range []string{"/account", "/community"} {
		res := s.do(t, req{method: "GET", path: path, cookie: a})
		if !strings.Contains(res.body, `href="/account"`) || !strings.Contains(res.body, `action="/logout"`) {
			t.Errorf("GET %s: want a link to /account and the log-out form", path)
		}
	}
}

// Ending, revoking, changing the password and deleting are auth events.
func TestAccountEventsLogged(t *testing.T) {
	buf := &lockedBuffer{}
	s := newSite(t, siteOptions{logger: newJSONLogger(buf)})
	a := s.signup(t, "alice")
	s.loginAs(t, "alice", testPassword, safariIPhone)
	s.do(t, req{method: "POST", path: "/account/sessions/revoke-others", cookie: a})
	res := s.do(t, req{method: "POST", path: "/account/password", cookie: a,
		form: url.Values{"current_password": {testPassword}, "new_password": {"staple violet quarry"}}})
	a = sessionCookie(res)
	s.do(t, req{method: "POST", path: "/account/delete", cookie: &http.Cookie{Name: a.Name, Value: a.Value},
		form: url.Values{"password": {"staple violet quarry"}}})
	seen := map[string]bool{}
	for _, e := range authEvents(t, buf) {
		ev, _ := e["event"].(string)
		seen[ev] = true
		if ev != "sign-up" && ev != "log-in" && (e["user"] != "alice" || e["session"] == nil || e["ip"] == nil) {
			t.Errorf("event %v lacks user, session or ip", e)
		}
	}
	for _, ev := range []string{"session revoked", "password changed", "account deleted"} {
		if !seen[ev] {
			t.Errorf("no %q event logged", ev)
		}
	}
	if strings.Contains(buf.String(), "staple violet quarry") || strings.Contains(buf.String(), testPassword) {
		t.Error("a password reached the log")
	}
}

func newJSONLogger(buf *lockedBuffer) *slog.Logger { return slog.New(slog.NewJSONHandler(buf, nil)) }

// Every response that sets a cookie or shows personal data is no-store:
// sign-up, log-in, log-out and the pages; the hashed assets stay cacheable.
func TestNoStoreOnCookieResponses(t *testing.T) {
	s := newSite(t, siteOptions{})
	res := s.do(t, req{method: "POST", path: "/signup", form: url.Values{"username": {"alice"}, "password": {testPassword}}})
	noStoreCheck(t, "POST /signup", res)
	res = s.do(t, req{method: "POST", path: "/login", form: url.Values{"username": {"alice"}, "password": {testPassword}}})
	noStoreCheck(t, "POST /login", res)
	c := sessionCookie(res)
	cookie := &http.Cookie{Name: c.Name, Value: c.Value}
	for _, r := range []req{
		{method: "GET", path: "/", cookie: cookie},
		{method: "GET", path: "/login?next=/account", cookie: cookie},
		{method: "POST", path: "/logout", cookie: cookie},
	} {
		res := s.do(t, r)
		noStoreCheck(t, r.method+" "+r.path, res)
	}
	page := s.do(t, req{method: "GET", path: "/login"})
	i := strings.Index(page.body, "/assets/app.")
	if i < 0 {
		t.Fatal("no hashed stylesheet on /login")
	}
	asset := page.body[i : i+strings.IndexByte(page.body[i:], '"')]
	if cc := s.do(t, req{method: "GET", path: asset}).header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("GET %s: Cache-Control %q, want the assets' immutable caching", asset, cc)
	}
}
