package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"soulbridge/auth"
	"soulbridge/session"
)

// TestSessionCookieAttributes: the cookie set by sign-up and log-in, over
// plain HTTP and over HTTPS behind a TLS-terminating (trusted) edge.
func TestSessionCookieAttributes(t *testing.T) {
	s := newSite(t, siteOptions{trustProxy: true})
	s.signup(t, "alice")
	https := map[string]string{"X-Forwarded-Proto": "https"}
	form := url.Values{"username": {"alice"}, "password": {testPassword}}
	tests := []struct {
		name       string
		req        req
		wantName   string
		wantSecure bool
	}{
		{"signup over http", req{method: "POST", path: "/signup", form: url.Values{"username": {"bob"}, "password": {testPassword}}}, session.CookieName, false},
		{"login over http", req{method: "POST", path: "/login", form: form}, session.CookieName, false},
		{"signup over https", req{method: "POST", path: "/signup", header: https, form: url.Values{"username": {"carol"}, "password": {testPassword}}}, session.SecureCookieName, true},
		{"login over https", req{method: "POST", path: "/login", header: https, form: form}, session.SecureCookieName, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := s.do(t, tc.req)
			if res.status != http.StatusSeeOther {
				t.Fatalf("status %d, want 303; body %.200s", res.status, res.body)
			}
			n := 0 // session cookies set (the device cookie, web/device.go, comes on top)
			for _, l := range res.header.Values("Set-Cookie") {
				if strings.HasPrefix(l, session.CookieName+"=") || strings.HasPrefix(l, session.SecureCookieName+"=") {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d session cookies set, want 1: %q", n, res.header.Values("Set-Cookie"))
			}
			line := setCookieLine(res, tc.wantName)
			if line == "" {
				t.Fatalf("no %s cookie in %q", tc.wantName, res.header.Values("Set-Cookie"))
			}
			c, err := http.ParseSetCookie(line)
			if err != nil {
				t.Fatalf("ParseSetCookie(%q): %v", line, err)
			}
			if c.Value == "" {
				t.Errorf("empty cookie value: %q", line)
			}
			if !c.HttpOnly {
				t.Errorf("not HttpOnly: %q", line)
			}
			if c.SameSite != http.SameSiteLaxMode || !strings.Contains(line, "SameSite=Lax") {
				t.Errorf("not SameSite=Lax: %q", line)
			}
			if c.Path != "/" {
				t.Errorf("Path %q, want /: %q", c.Path, line)
			}
			if c.Domain != "" || strings.Contains(strings.ToLower(line), "domain=") {
				t.Errorf("has a Domain: %q", line)
			}
			if c.Secure != tc.wantSecure {
				t.Errorf("Secure = %v, want %v: %q", c.Secure, tc.wantSecure, line)
			}
			if c.MaxAge <= 0 || c.MaxAge > int(maxLifetime/time.Second) {
				t.Errorf("Max-Age %d, want in (0, %d]: %q", c.MaxAge, int(maxLifetime/time.Second), line)
			}
			if c.MaxAge < int((maxLifetime-time.Minute)/time.Second) {
				t.Errorf("Max-Age %d is well short of the absolute lifetime of a new session", c.MaxAge)
			}

			// The cookie it set is the session, over the same scheme.
			got := s.do(t, req{method: "GET", path: "/community/avatar", header: tc.req.header,
				cookie: &http.Cookie{Name: c.Name, Value: c.Value}})
			if got.status != http.StatusOK {
				t.Errorf("GET /community/avatar with the new cookie: %d %s", got.status, got.body)
			}
		})
	}
}

// TestLoginEndsPresentedSession: logging in while presenting a live session
// cookie (one's own, or one planted by someone else) issues a new token and
// ends the presented one.
func TestLoginEndsPresentedSession(t *testing.T) {
	s := newSite(t, siteOptions{})
	tests := []struct {
		name, presenter string
	}{
		{"own session", "alice"},
		{"planted session of another user", "mallory"},
	}
	s.signup(t, "alice")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var old *http.Cookie
			if tc.presenter == "alice" {
				old = s.cookieFromLogin(t, "alice")
			} else {
				old = s.signup(t, tc.presenter)
			}
			res := s.login(t, "alice", old)
			if res.status != http.StatusSeeOther || res.header.Get("Location") != "/community" {
				t.Fatalf("log-in: %d %q, want 303 /community", res.status, res.header.Get("Location"))
			}
			c := sessionCookie(res)
			if c == nil || c.Value == "" {
				t.Fatalf("log-in set no session cookie")
			}
			if c.Value == old.Value {
				t.Fatalf("log-in kept the presented cookie value")
			}
			if got := s.do(t, req{method: "GET", path: "/community/avatar", cookie: old}); got.status != http.StatusUnauthorized {
				t.Errorf("old cookie after log-in: %d %s, want 401", got.status, got.body)
			}
			got := s.do(t, req{method: "GET", path: "/community/avatar", cookie: &http.Cookie{Name: c.Name, Value: c.Value}})
			if got.status != http.StatusOK || !strings.Contains(got.body, `"username":"alice"`) {
				t.Errorf("new cookie: %d %s, want 200 for alice", got.status, got.body)
			}
		})
	}
}

// cookieFromLogin logs username in and returns the new session cookie.
func (s *site) cookieFromLogin(t *testing.T, username string) *http.Cookie {
	t.Helper()
	res := s.login(t, username, nil)
	c := sessionCookie(res)
	if res.status != http.StatusSeeOther || c == nil {
		t.Fatalf("log-in %s: %d, cookie %v", username, res.status, c)
	}
	return &http.Cookie{Name: c.Name, Value: c.Value}
}

// TestLogout: the session ends server-side, the cookie is expired, and a
// replayed cookie is refused.
func TestLogout(t *testing.T) {
	s := newSite(t, siteOptions{trustProxy: true})
	s.signup(t, "alice")
	https := map[string]string{"X-Forwarded-Proto": "https"}
	tests := []struct {
		name       string
		header     map[string]string
		cookieName string
	}{
		{"http", nil, session.CookieName},
		{"https", https, session.SecureCookieName},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := s.do(t, req{method: "POST", path: "/login", header: tc.header,
				form: url.Values{"username": {"alice"}, "password": {testPassword}}})
			c := sessionCookie(res)
			if c == nil || c.Name != tc.cookieName {
				t.Fatalf("log-in set %v, want a %s cookie", c, tc.cookieName)
			}
			cookie := &http.Cookie{Name: c.Name, Value: c.Value}

			out := s.do(t, req{method: "POST", path: "/logout", header: tc.header, cookie: cookie})
			if out.status != http.StatusSeeOther || out.header.Get("Location") != "/" {
				t.Fatalf("logout: %d %q, want 303 /", out.status, out.header.Get("Location"))
			}
			line := setCookieLine(out, tc.cookieName)
			if line == "" {
				t.Fatalf("logout did not expire %s: %q", tc.cookieName, out.header.Values("Set-Cookie"))
			}
			exp, err := http.ParseSetCookie(line)
			if err != nil {
				t.Fatalf("ParseSetCookie(%q): %v", line, err)
			}
			if exp.MaxAge >= 0 || exp.Value != "" || exp.Path != "/" {
				t.Errorf("logout cookie %q: want an empty value, Max-Age<0 and Path=/", line)
			}

			if got := s.do(t, req{method: "GET", path: "/community/avatar", header: tc.header, cookie: cookie}); got.status != http.StatusUnauthorized {
				t.Errorf("replayed cookie on /community/avatar: %d %s, want 401", got.status, got.body)
			}
			if got := s.do(t, req{method: "GET", path: "/community", header: tc.header, cookie: cookie}); got.status != http.StatusSeeOther {
				t.Errorf("replayed cookie on /community: %d, want 303 to log in", got.status)
			}
		})
	}

	t.Run("without a session", func(t *testing.T) {
		res := s.do(t, req{method: "POST", path: "/logout"})
		if res.status != http.StatusSeeOther || res.header.Get("Location") != "/" {
			t.Errorf("logout without a session: %d %q, want 303 /", res.status, res.header.Get("Location"))
		}
	})
}

// TestLoginThrottle: repeated failures from one client reach 429 with
// Retry-After; then even the right password is refused from that client,
// while another client (by X-Real-IP, trusted here) still logs in.
func TestLoginThrottle(t *testing.T) {
	tests := []struct {
		name       string
		trustProxy bool
		// attackerIP returns the X-Real-IP of attempt i ("" = none).
		attackerIP func(i int) string
	}{
		{"behind the edge", true, func(int) string { return "203.0.113.9" }},
		{"direct, spoofed X-Real-IP ignored", false, func(i int) string { return "198.51.100." + strconv.Itoa(i+1) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t, siteOptions{trustProxy: tc.trustProxy})
			s.signup(t, "alice")
			attempt := func(ip, pw string, accept string) resp {
				h := map[string]string{}
				if ip != "" {
					h["X-Real-IP"] = ip
				}
				if accept != "" {
					h["Accept"] = accept
				}
				return s.do(t, req{method: "POST", path: "/login", header: h,
					form: url.Values{"username": {"alice"}, "password": {pw}}})
			}
			var res resp
			n := 0
			for n < 30 {
				res = attempt(tc.attackerIP(n), "wrong password", "")
				n++
				if res.status == http.StatusTooManyRequests {
					break
				}
				if res.status != http.StatusUnauthorized {
					t.Fatalf("attempt %d: %d, want 401 or 429", n, res.status)
				}
			}
			if res.status != http.StatusTooManyRequests {
				t.Fatalf("no 429 after %d failed log-ins", n)
			}
			if n != auth.IPLimit+1 {
				t.Errorf("429 at attempt %d, want %d (limit %d per IP)", n, auth.IPLimit+1, auth.IPLimit)
			}
			checkRetryAfter(t, res)
			isHTML(t, "throttled log-in", res)

			right := attempt(tc.attackerIP(n), testPassword, "")
			if right.status != http.StatusTooManyRequests {
				t.Errorf("right password while throttled: %d, want 429", right.status)
			}
			checkRetryAfter(t, right)
			if sessionCookie(right) != nil {
				t.Errorf("throttled log-in set a session cookie")
			}
			api := attempt(tc.attackerIP(n), testPassword, "application/json")
			if api.status != http.StatusTooManyRequests {
				t.Errorf("throttled JSON log-in: %d, want 429", api.status)
			}
			jsonError(t, "throttled JSON log-in", api)
			checkRetryAfter(t, api)

			if tc.trustProxy {
				other := attempt("192.0.2.44", testPassword, "")
				if other.status != http.StatusSeeOther {
					t.Errorf("another client with the right password: %d, want 303", other.status)
				}
			}
		})
	}
}

func checkRetryAfter(t *testing.T, res resp) {
	t.Helper()
	ra := res.header.Get("Retry-After")
	secs, err := strconv.Atoi(ra)
	if err != nil || secs <= 0 || secs > int(auth.Window/time.Second) {
		t.Errorf("Retry-After %q, want integer seconds in (0, %d]", ra, int(auth.Window/time.Second))
	}
}

// TestPagesAndRedirects: the pages logged out and logged in.
func TestPagesAndRedirects(t *testing.T) {
	s := newSite(t, siteOptions{})
	alice := s.signup(t, "alice")
	tests := []struct {
		name         string
		req          req
		want         int
		wantLocation string
		wantInBody   []string
		notInBody    []string
	}{
		{name: "landing logged out", req: req{method: "GET", path: "/"}, want: 200,
			wantInBody: []string{`href="/login"`, `href="/signup"`}},
		{name: "landing logged in", req: req{method: "GET", path: "/", cookie: alice}, want: 303, wantLocation: "/community"},
		{name: "signup page", req: req{method: "GET", path: "/signup"}, want: 200, wantInBody: []string{`name="username"`, `name="password"`}},
		{name: "signup page logged in", req: req{method: "GET", path: "/signup", cookie: alice}, want: 303, wantLocation: "/community"},
		{name: "login page", req: req{method: "GET", path: "/login"}, want: 200, wantInBody: []string{`name="username"`, `name="password"`}},
		{name: "login page keeps a local next", req: req{method: "GET", path: "/login?next=%2Fcommunity"}, want: 200,
			wantInBody: []string{`name="next"`, `value="/community"`}},
		{name: "login page drops a foreign next", req: req{method: "GET", path: "/login?next=https%3A%2F%2Fevil.example"}, want: 200,
			notInBody: []string{"evil.example"}},
		{name: "login page logged in", req: req{method: "GET", path: "/login", cookie: alice}, want: 303, wantLocation: "/community"},
		{name: "community logged out", req: req{method: "GET", path: "/community"}, want: 303, wantLocation: "/login?next=%2Fcommunity"},
		{name: "community with a query logged out", req: req{method: "GET", path: "/community?tab=members"}, want: 303,
			wantLocation: "/login?next=%2Fcommunity%3Ftab%3Dmembers"},
		{name: "community logged in", req: req{method: "GET", path: "/community", cookie: alice}, want: 200, wantInBody: []string{"alice"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := s.do(t, tc.req)
			if res.status != tc.want {
				t.Fatalf("status %d, want %d; body %.200s", res.status, tc.want, res.body)
			}
			if tc.wantLocation != "" && res.header.Get("Location") != tc.wantLocation {
				t.Errorf("Location %q, want %q", res.header.Get("Location"), tc.wantLocation)
			}
			if res.status == 200 {
				isHTML(t, tc.name, res)
			}
			for _, w := range tc.wantInBody {
				if !strings.Contains(res.body, w) {
					t.Errorf("body lacks %q", w)
				}
			}
			for _, w := range tc.notInBody {
				if strings.Contains(res.body, w) {
					t.Errorf("body contains %q", w)
				}
			}
			checkSecurityHeaders(t, tc.name, res)
		})
	}
}
