package web_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"soulbridge/session"
)

// TestHostileRequests sends malformed and hostile requests to the real
// router: each gets its 4xx (never a 5xx), JSON errors where
// docs/architecture.md ("Errors: JSON or a page") says so, the security
// headers, and no internal text.
func TestHostileRequests(t *testing.T) {
	s := newSite(t, siteOptions{})
	alice := s.signup(t, "alice")
	s.signup(t, "bob")

	otherKey := bytes.Repeat([]byte{0x7e}, 32)
	foreignSigned := foreignCookie(t, otherKey) // right format, wrong key
	unknownToken := foreignCookie(t, s.key)     // right key, no such session
	tampered := alice.Value[:len(alice.Value)-4] + flip(alice.Value[len(alice.Value)-4:])

	jsonCT := map[string]string{"Content-Type": "application/json"}
	big := `{"avatar":"owl","pad":"` + strings.Repeat("x", 70<<10) + `"}`
	longName := strings.Repeat("a", 33)
	signupForm := func(name, pw string) url.Values { return url.Values{"username": {name}, "password": {pw}} }

	tests := []struct {
		name     string
		req      req
		session  bool // present alice's valid session cookie
		want     int
		wantJSON bool
	}{
		// Cookies that name no usable session.
		{name: "garbage cookie", want: 401, wantJSON: true,
			req: req{method: "GET", path: "/community/avatar", header: map[string]string{"Cookie": session.CookieName + "=not-a-cookie!!%%~~"}}},
		{name: "10 KB cookie", want: 401, wantJSON: true,
			req: req{method: "GET", path: "/community/avatar", header: map[string]string{"Cookie": session.CookieName + "=" + strings.Repeat("A", 10<<10)}}},
		{name: "cookie signed with another key", want: 401, wantJSON: true,
			req: req{method: "GET", path: "/community/avatar", cookie: &http.Cookie{Name: session.CookieName, Value: foreignSigned}}},
		{name: "valid format, unknown token", want: 401, wantJSON: true,
			req: req{method: "GET", path: "/community/avatar", cookie: &http.Cookie{Name: session.CookieName, Value: unknownToken}}},
		{name: "tampered signature", want: 401, wantJSON: true,
			req: req{method: "GET", path: "/community/avatar", cookie: &http.Cookie{Name: session.CookieName, Value: tampered}}},
		{name: "garbage __Host- cookie", want: 401, wantJSON: true,
			req: req{method: "GET", path: "/community/avatar", header: map[string]string{"Cookie": session.SecureCookieName + "=%00%ff"}}},
		{name: "empty cookie", want: 401, wantJSON: true,
			req: req{method: "GET", path: "/community/avatar", header: map[string]string{"Cookie": session.CookieName + "="}}},

		// PUT /community/avatar, in the order docs/architecture.md gives
		// ("Errors: JSON or a page").
		{name: "PUT no session, bad body", want: 401, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", body: "not json", header: map[string]string{"Content-Type": "text/plain"}}},
		{name: "PUT no session, huge body", want: 401, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", body: big, header: jsonCT}},
		{name: "PUT text/plain", session: true, want: 415, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", body: `{"avatar":"owl"}`, header: map[string]string{"Content-Type": "text/plain"}}},
		{name: "PUT no content type", session: true, want: 415, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", body: `{"avatar":"owl"}`}},
		{name: "PUT form content type", session: true, want: 415, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", body: `avatar=owl`, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}},
		{name: "PUT over 64 KiB", session: true, want: 413, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", body: big, header: jsonCT}},
		{name: "PUT over 64 KiB, chunked", session: true, want: 413, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", bodyReader: strings.NewReader(big), header: jsonCT}},
		{name: "PUT malformed JSON", session: true, want: 400, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", body: `{"avatar":`, header: jsonCT}},
		{name: "PUT trailing garbage", session: true, want: 400, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", body: `{"avatar":"owl"}}`, header: jsonCT}},
		{name: "PUT empty body", session: true, want: 400, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", header: jsonCT}},
		{name: "PUT avatar is a number", session: true, want: 400, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", body: `{"avatar":5}`, header: jsonCT}},
		{name: "PUT array", session: true, want: 400, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", body: `[]`, header: jsonCT}},
		{name: "PUT bare string", session: true, want: 400, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", body: `"owl"`, header: jsonCT}},
		{name: "PUT missing field", session: true, want: 400, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", body: `{"picture":"owl"}`, header: jsonCT}},
		{name: "PUT null avatar", session: true, want: 400, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", body: `{"avatar":null}`, header: jsonCT}},
		{name: "PUT unknown avatar", session: true, want: 400, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", body: `{"avatar":"unicorn"}`, header: jsonCT}},
		{name: "PUT default", session: true, want: 400, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", body: `{"avatar":"default"}`, header: jsonCT}},
		{name: "PUT path-like id", session: true, want: 400, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", body: `{"avatar":"../owl"}`, header: jsonCT}},
		{name: "PUT upper-case id", session: true, want: 400, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", body: `{"avatar":"OWL"}`, header: jsonCT}},

		// POST /community/avatar (the no-JavaScript picker).
		{name: "POST avatar unknown", session: true, want: 400, wantJSON: true,
			req: req{method: "POST", path: "/community/avatar", form: url.Values{"avatar": {"unicorn"}}}},
		{name: "POST avatar without session", want: 401, wantJSON: true,
			req: req{method: "POST", path: "/community/avatar", form: url.Values{"avatar": {"owl"}}}},
		{name: "POST avatar missing field", session: true, want: 400, wantJSON: true,
			req: req{method: "POST", path: "/community/avatar", form: url.Values{}}},

		// Sign-up and log-in.
		{name: "signup name too short", want: 400, req: req{method: "POST", path: "/signup", form: signupForm("ab", testPassword)}},
		{name: "signup name too long", want: 400, req: req{method: "POST", path: "/signup", form: signupForm(longName, testPassword)}},
		{name: "signup name with spaces", want: 400, req: req{method: "POST", path: "/signup", form: signupForm("al ice", testPassword)}},
		{name: "signup unicode name", want: 400, req: req{method: "POST", path: "/signup", form: signupForm("ålice", testPassword)}},
		{name: "signup script name", want: 400, req: req{method: "POST", path: "/signup", form: signupForm("<script>alert(1)</script>", testPassword)}},
		{name: "signup empty form", want: 400, req: req{method: "POST", path: "/signup", form: url.Values{}}},
		{name: "signup short password", want: 400, req: req{method: "POST", path: "/signup", form: signupForm("carol", "1234567")}},
		{name: "signup 129-char password", want: 400, req: req{method: "POST", path: "/signup", form: signupForm("carol", strings.Repeat("p", 129))}},
		{name: "signup duplicate in other case", want: 409, req: req{method: "POST", path: "/signup", form: signupForm("ALICE", testPassword)}},
		{name: "signup oversized form", want: 413,
			req: req{method: "POST", path: "/signup", form: signupForm("carol", strings.Repeat("p", 100<<10))}},
		{name: "signup JSON body", want: 415,
			req: req{method: "POST", path: "/signup", body: `{"username":"carol"}`, header: map[string]string{"Content-Type": "application/json"}}},
		{name: "login wrong password", want: 401,
			req: req{method: "POST", path: "/login", form: url.Values{"username": {"alice"}, "password": {"wrong password"}}}},
		{name: "login unknown user", want: 401,
			req: req{method: "POST", path: "/login", form: url.Values{"username": {"nobody"}, "password": {testPassword}}}},

		// Static assets: only exact hashed URLs exist.
		{name: "assets traversal", want: 404, req: req{method: "GET", path: "/assets/../go.mod"}},
		{name: "assets encoded traversal", want: 404, req: req{method: "GET", path: "/assets/%2e%2e/go.mod"}},
		{name: "assets unhashed name", want: 404, req: req{method: "GET", path: "/assets/app.css"}},
		{name: "assets stale hash", want: 404, req: req{method: "GET", path: "/assets/avatars/owl.0000000000.svg"}},
		{name: "assets directory", want: 404, req: req{method: "GET", path: "/assets/avatars/"}},

		// Wrong methods and unknown paths.
		{name: "DELETE avatar", session: true, want: 405, wantJSON: true, req: req{method: "DELETE", path: "/community/avatar"}},
		{name: "PATCH login", want: 405, req: req{method: "PATCH", path: "/login"}},
		{name: "POST healthz", want: 405, req: req{method: "POST", path: "/healthz"}},
		{name: "unknown page", want: 404, req: req{method: "GET", path: "/no-such-page"}},
		{name: "unknown API path", want: 404, wantJSON: true, req: req{method: "GET", path: "/community/avatar/x"}},
		{name: "unknown path, JSON accepted", want: 404, wantJSON: true,
			req: req{method: "GET", path: "/no-such-page", header: map[string]string{"Accept": "application/json"}}},

		// Cross-site state changes.
		{name: "cross-site login", want: 403,
			req: req{method: "POST", path: "/login", header: map[string]string{"Sec-Fetch-Site": "cross-site"},
				form: url.Values{"username": {"alice"}, "password": {testPassword}}}},
		{name: "cross-origin PUT avatar", session: true, want: 403, wantJSON: true,
			req: req{method: "PUT", path: "/community/avatar", body: `{"avatar":"owl"}`,
				header: map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example", "Host": "soulbridge.example"}}},
		{name: "cross-site logout", session: true, want: 403,
			req: req{method: "POST", path: "/logout", header: map[string]string{"Sec-Fetch-Site": "cross-site"}}},
	}
	if len(tests) < 30 {
		t.Fatalf("only %d hostile cases", len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req
			if tc.session {
				r.cookie = alice
			}
			res := s.do(t, r)
			if res.status >= 500 {
				t.Fatalf("status %d (a 5xx); body %.300s", res.status, res.body)
			}
			if res.status != tc.want {
				t.Fatalf("status %d, want %d; body %.300s", res.status, tc.want, res.body)
			}
			if tc.wantJSON {
				jsonError(t, tc.name, res)
			} else {
				isHTML(t, tc.name, res)
			}
			checkSecurityHeaders(t, tc.name, res)
			if strings.Contains(res.body, "<script>alert") {
				t.Errorf("request input reflected unescaped: %.300s", res.body)
			}
			if c := sessionCookie(res); c != nil && c.MaxAge >= 0 {
				t.Errorf("a rejected request was given a session cookie: %v", c)
			}
		})
	}

	// None of it changed alice's avatar or ended her session.
	res := s.do(t, req{method: "GET", path: "/community/avatar", cookie: alice})
	if res.status != 200 || !strings.Contains(res.body, `"avatar":"default"`) {
		t.Errorf("after the hostile requests: %d %s, want 200 with the default avatar", res.status, res.body)
	}
}

// TestUnauthorizedMessage: every avatar API method without a valid session
// gets exactly {"error":"unauthorized"}.
func TestUnauthorizedMessage(t *testing.T) {
	s := newSite(t, siteOptions{})
	tests := []req{
		{method: "GET", path: "/community/avatar"},
		{method: "PUT", path: "/community/avatar", body: `{"avatar":"owl"}`, header: map[string]string{"Content-Type": "application/json"}},
		{method: "POST", path: "/community/avatar", form: url.Values{"avatar": {"owl"}}},
	}
	for _, r := range tests {
		t.Run(r.method, func(t *testing.T) {
			res := s.do(t, r)
			if res.status != http.StatusUnauthorized {
				t.Fatalf("%s %s: %d, want 401", r.method, r.path, res.status)
			}
			if msg := jsonError(t, r.method, res); msg != "unauthorized" {
				t.Errorf("error %q, want \"unauthorized\"", msg)
			}
		})
	}
}

// TestLoginNextIsLocal: after a good log-in, next is followed only when it
// is a local path; anything that could leave the site goes to /community.
func TestLoginNextIsLocal(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.signup(t, "alice")
	tests := []struct {
		next, want string
	}{
		{"https://evil.example", "/community"},
		{"//evil.example", "/community"},
		{`/\evil.example`, "/community"},
		{`\\evil.example`, "/community"},
		{"javascript:alert(1)", "/community"},
		{"http:evil.example", "/community"},
		{"https:/evil.example", "/community"},
		{"/\t/evil.example", "/community"},
		{"/%2f%2fevil.example", "/community"},
		{"evil.example", "/community"},
		{"", "/community"},
		{"/community?x=1", "/community?x=1"},
		{"/..//evil.example", "/community"}, // dot segments refused
	}
	for _, tc := range tests {
		t.Run(tc.next, func(t *testing.T) {
			res := s.do(t, req{method: "POST", path: "/login", form: url.Values{
				"username": {"alice"}, "password": {testPassword}, "next": {tc.next}}})
			if res.status != http.StatusSeeOther {
				t.Fatalf("status %d, want 303; body %.200s", res.status, res.body)
			}
			loc := res.header.Get("Location")
			if loc != tc.want {
				t.Errorf("Location %q, want %q", loc, tc.want)
			}
			u, err := url.Parse(loc)
			if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
				t.Errorf("Location %q leaves the site", loc)
			}
			if sessionCookie(res) == nil {
				t.Errorf("no session cookie after a good log-in")
			}
		})
	}
}

// flip changes every character of s to a different one of the base64url
// alphabet, keeping the length.
func flip(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}
