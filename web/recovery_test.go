package web_test

import (
	"bytes"
	"encoding/json"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"soulbridge/auth"
	"soulbridge/internal/testredis"
	"soulbridge/internal/testwait"
	"soulbridge/kv"
	"soulbridge/kv/kvtest"
	"soulbridge/web"
)

const recoveredPassword = "staple violet quarry"

var codePattern = regexp.MustCompile(`[A-Z2-7]{4}(?:-[A-Z2-7]{4}){5}`)

// makeCodes asks for recovery codes as JSON and returns them.
func (s *site) makeCodes(t *testing.T, c *http.Cookie) []string {
	t.Helper()
	res := s.do(t, req{method: "POST", path: "/account/recovery-codes", cookie: c,
		header: map[string]string{"Accept": "application/json"}, form: url.Values{"password": {testPassword}}})
	if res.status != http.StatusOK {
		t.Fatalf("recovery codes: %d %s", res.status, res.body)
	}
	var body struct{ Codes []string }
	if err := json.Unmarshal([]byte(res.body), &body); err != nil || len(body.Codes) != 10 {
		t.Fatalf("recovery codes: %v, body %s, want 10 codes", err, res.body)
	}
	return body.Codes
}

func (s *site) recover(t *testing.T, name, code, pw string, header map[string]string) resp {
	t.Helper()
	return s.do(t, req{method: "POST", path: "/recover", header: header,
		form: url.Values{"username": {name}, "code": {code}, "new_password": {pw}}})
}

func TestRecoveryCodesPageShowsTheCodesOnce(t *testing.T) {
	s := newSite(t, siteOptions{})
	c := s.signup(t, "alice")
	res := s.do(t, req{method: "POST", path: "/account/recovery-codes", cookie: c, form: url.Values{"password": {testPassword}}})
	if res.status != http.StatusOK {
		t.Fatalf("recovery codes page: %d", res.status)
	}
	isHTML(t, "recovery codes page", res)
	codes := codePattern.FindAllString(res.body, -1)
	distinct := map[string]bool{}
	for _, code := range codes {
		distinct[code] = true
	}
	if len(distinct) != 10 {
		t.Fatalf("the page shows %d distinct codes, want 10", len(distinct))
	}
	if !strings.Contains(res.body, `download="soulbridge-recovery-codes.txt"`) || !strings.Contains(res.body, `href="data:text/plain`) {
		t.Error("the page has no data: download link")
	}
	if cc := res.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	// The account page says how many are left, and shows none of them.
	acct := s.do(t, req{method: "GET", path: "/account", cookie: c})
	if !strings.Contains(acct.body, "10 recovery codes left") {
		t.Errorf("the account page does not say 10 codes are left")
	}
	if codePattern.MatchString(acct.body) {
		t.Error("the account page shows a code again")
	}
}

func TestRecoveryCodesAskForThePassword(t *testing.T) {
	s := newSite(t, siteOptions{})
	c := s.signup(t, "alice")
	res := s.do(t, req{method: "POST", path: "/account/recovery-codes", cookie: c, form: url.Values{"password": {"not the password"}}})
	if res.status != http.StatusForbidden || codePattern.MatchString(res.body) {
		t.Fatalf("wrong password: %d, codes shown: %v; want 403 and none", res.status, codePattern.MatchString(res.body))
	}
	res = s.do(t, req{method: "POST", path: "/account/recovery-codes", header: map[string]string{"Accept": "application/json"},
		form: url.Values{"password": {testPassword}}})
	if res.status != http.StatusUnauthorized {
		t.Fatalf("no session: %d, want 401", res.status)
	}
	jsonError(t, "no session", res)
	for range auth.IPLimit {
		s.do(t, req{method: "POST", path: "/account/recovery-codes", cookie: c, form: url.Values{"password": {"not the password"}}})
	}
	res = s.do(t, req{method: "POST", path: "/account/recovery-codes", cookie: c, form: url.Values{"password": {testPassword}}})
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Fatalf("after %d wrong passwords: %d, want 429 with Retry-After", auth.IPLimit, res.status)
	}
}

func TestRecoverEndToEnd(t *testing.T) {
	var logs bytes.Buffer
	s := newSite(t, siteOptions{logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	c := s.signup(t, "alice")
	other := s.login(t, "alice", nil)
	codes := s.makeCodes(t, c)

	if res := s.do(t, req{method: "GET", path: "/login"}); !strings.Contains(res.body, `href="/recover"`) {
		t.Error("the log-in page has no link to /recover")
	}
	if res := s.do(t, req{method: "GET", path: "/recover"}); res.status != http.StatusOK {
		t.Fatalf("GET /recover: %d", res.status)
	}

	res := s.recover(t, "ALICE", strings.ToLower(codes[2]), recoveredPassword, nil)
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/account" {
		t.Fatalf("recovery: %d Location %q, want 303 /account; %.300s", res.status, res.header.Get("Location"), res.body)
	}
	fresh := sessionCookie(res)
	if fresh == nil {
		t.Fatal("recovery set no session cookie")
	}
	acct := s.do(t, req{method: "GET", path: "/account", cookie: &http.Cookie{Name: fresh.Name, Value: fresh.Value}})
	if acct.status != http.StatusOK || !strings.Contains(acct.body, "9 recovery codes left") {
		t.Fatalf("account after recovery: %d, want 200 saying 9 codes left", acct.status)
	}
	// Every earlier session ended.
	for what, old := range map[string]*http.Cookie{"sign-up session": c, "log-in session": sessionCookie(other)} {
		if res := s.do(t, req{method: "GET", path: "/account/sessions", cookie: &http.Cookie{Name: old.Name, Value: old.Value}}); res.status != http.StatusUnauthorized {
			t.Errorf("the %s after recovery: %d, want 401", what, res.status)
		}
	}
	if res := s.do(t, req{method: "POST", path: "/login", form: url.Values{"username": {"alice"}, "password": {recoveredPassword}}}); res.status != http.StatusSeeOther {
		t.Errorf("log-in with the new password: %d", res.status)
	}
	// JSON twin, with another code.
	res = s.recover(t, "alice", codes[5], "yet another passphrase", map[string]string{"Accept": "application/json"})
	var body struct {
		ID        string `json:"id"`
		CodesLeft int    `json:"codes_left"`
		Ended     int    `json:"sessions_ended"`
	}
	// Two sessions were live: the first recovery's and the log-in's.
	if res.status != http.StatusOK || json.Unmarshal([]byte(res.body), &body) != nil || body.CodesLeft != 8 || body.ID == "" || body.Ended != 2 {
		t.Fatalf("JSON recovery: %d %s, want 200 with codes_left 8 and sessions_ended 2", res.status, res.body)
	}
	for _, code := range codes {
		if strings.Contains(logs.String(), code) || strings.Contains(logs.String(), strings.ToLower(code)) {
			t.Fatal("the log holds a recovery code")
		}
	}
	if strings.Contains(logs.String(), recoveredPassword) {
		t.Fatal("the log holds a password")
	}
}

// An unknown name, a wrong code and a used code get one answer.
func TestRecoverRefusesAlike(t *testing.T) {
	var logs bytes.Buffer
	s := newSite(t, siteOptions{logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	c := s.signup(t, "alice")
	codes := s.makeCodes(t, c)
	if res := s.recover(t, "alice", codes[0], recoveredPassword, nil); res.status != http.StatusSeeOther {
		t.Fatalf("first use: %d", res.status)
	}
	cases := map[string][2]string{
		"unknown name": {"nosuchmember", codes[1]},
		"wrong code":   {"alice", "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF"},
		"used code":    {"alice", codes[0]},
	}
	var pages, messages []string
	for what, tc := range cases {
		res := s.recover(t, tc[0], tc[1], "another fine phrase", nil)
		if res.status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", what, res.status)
		}
		isHTML(t, what, res)
		pages = append(pages, strings.ReplaceAll(html.UnescapeString(res.body), tc[0], "NAME"))
		res = s.recover(t, tc[0], tc[1], "another fine phrase", map[string]string{"Accept": "application/json"})
		if res.status != http.StatusBadRequest {
			t.Errorf("%s (JSON): %d, want 400", what, res.status)
		}
		messages = append(messages, jsonError(t, what, res))
	}
	for i := range messages {
		if messages[i] != messages[0] || pages[i] != pages[0] {
			t.Fatalf("the answers differ: %q", messages)
		}
	}
	if strings.Contains(logs.String(), "nosuchmember") {
		t.Error("the log names an account that does not exist (want its length only)")
	}
	// A bad new password says why, at its field.
	res := s.recover(t, "alice", codes[1], "short", map[string]string{"Accept": "application/json"})
	if res.status != http.StatusBadRequest || !strings.Contains(jsonError(t, "short password", res), "8 to 128") {
		t.Errorf("short new password: %d %s", res.status, res.body)
	}
}

func TestRecoverIsThrottled(t *testing.T) {
	s := newSite(t, siteOptions{})
	c := s.signup(t, "alice")
	codes := s.makeCodes(t, c)
	for range auth.IPLimit {
		s.recover(t, "alice", "AAAA", recoveredPassword, nil)
	}
	res := s.recover(t, "alice", codes[0], recoveredPassword, map[string]string{"Accept": "application/json"})
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Fatalf("after %d wrong codes: %d, want 429 with Retry-After", auth.IPLimit, res.status)
	}
	jsonError(t, "throttled recovery", res)
}

// After sign-up, /community points to recovery codes once.
func TestSignupBannerShowsOnce(t *testing.T) {
	s := newSite(t, siteOptions{})
	res := s.do(t, req{method: "POST", path: "/signup", form: url.Values{"username": {"alice"}, "password": {testPassword}}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/community" {
		t.Fatalf("sign-up: %d %q", res.status, res.header.Get("Location"))
	}
	welcome := setCookieLine(res, "sb_welcome")
	if welcome == "" {
		t.Fatal("sign-up set no welcome mark")
	}
	wc, _ := http.ParseSetCookie(welcome)
	sc := sessionCookie(res)
	page := s.do(t, req{method: "GET", path: "/community", cookie: &http.Cookie{Name: sc.Name, Value: sc.Value},
		header: map[string]string{"Cookie": wc.Name + "=" + wc.Value}})
	if !strings.Contains(page.body, "Make your recovery codes now") {
		t.Fatal("the first /community after sign-up has no recovery-codes banner")
	}
	if line := setCookieLine(page, "sb_welcome"); !strings.Contains(line, "Max-Age=0") {
		t.Errorf("the banner's mark was not expired: %q", line)
	}
	again := s.do(t, req{method: "GET", path: "/community", cookie: &http.Cookie{Name: sc.Name, Value: sc.Value}})
	if strings.Contains(again.body, "Make your recovery codes now") {
		t.Error("the banner shows again without the mark")
	}
}

// With two instances on one Redis: codes made on A work on B; one code
// sent to A and B at once succeeds exactly once; while Redis is down,
// recovery and making codes answer 503 (a code must be single-use on
// every instance).
func TestRecoverAcrossInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	redis := testredis.Start(t)
	key := []byte(strings.Repeat("k", 32))
	opts := kv.MirrorOptions{URL: redis.URL(), Persistent: true, CachePrefixes: []string{"session:"}}
	ma := kvtest.Mirror(t, "soulbridge:", opts)
	mb := kvtest.Mirror(t, "soulbridge:", opts)
	a := newSiteOver(t, ma, key, func(c *web.SiteConfig) { c.Mirror = ma; c.Counter = ma })
	b := newSiteOver(t, mb, key, func(c *web.SiteConfig) { c.Mirror = mb; c.Counter = mb })

	c := a.signup(t, "alice")
	codes := a.makeCodes(t, c)
	if res := b.recover(t, "alice", codes[0], recoveredPassword, nil); res.status != http.StatusSeeOther {
		t.Fatalf("a code made on A, used on B: %d %.300s", res.status, res.body)
	}
	for round := 1; round <= 3; round++ {
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for i, s := range []*site{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = s.recover(t, "alice", codes[round], "another fine phrase", nil).status
			}()
		}
		wg.Wait()
		if !(statuses[0] == http.StatusSeeOther) == !(statuses[1] == http.StatusSeeOther) {
			t.Fatalf("round %d: one code on A and B at once: %v, want exactly one 303", round, statuses)
		}
	}

	cookie := a.loginAs(t, "alice", "another fine phrase", safariIPhone)
	redis.Kill()
	defer redis.StartAgain()
	for _, m := range []*kv.Mirror{ma, mb} {
		testwait.Until(t, 10*time.Second, "the mirror down", func() bool { return m.Status() != "ok" })
	}
	res := a.recover(t, "alice", codes[5], recoveredPassword, map[string]string{"Accept": "application/json"})
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Fatalf("recovery while Redis is down: %d %s, want 503 with Retry-After", res.status, res.body)
	}
	jsonError(t, "recovery while Redis is down", res)
	res = a.do(t, req{method: "POST", path: "/account/recovery-codes", cookie: cookie, form: url.Values{"password": {"another fine phrase"}}})
	if res.status != http.StatusServiceUnavailable {
		t.Fatalf("making codes while Redis is down: %d, want 503", res.status)
	}
	if res := a.do(t, req{method: "GET", path: "/account", cookie: cookie}); res.status != http.StatusOK {
		t.Fatalf("the account page while Redis is down: %d, want 200", res.status)
	}
}

// Codes go with the account: after a deletion, a new owner of the name is
// not reachable with the earlier owner's codes.
func TestRecoveryCodesGoWithTheAccount(t *testing.T) {
	s := newSite(t, siteOptions{})
	c := s.signup(t, "alice")
	codes := s.makeCodes(t, c)
	if res := s.do(t, req{method: "POST", path: "/account/delete", cookie: c, form: url.Values{"password": {testPassword}}}); res.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", res.status)
	}
	s.signup(t, "alice")
	if res := s.recover(t, "alice", codes[0], recoveredPassword, nil); res.status != http.StatusBadRequest {
		t.Fatalf("the earlier owner's code on the new account: %d, want 400", res.status)
	}
}

// Odd input to /recover is a 400 with the one message, never a 500.
func TestRecoverOddInput(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.signup(t, "alice")
	for what, f := range map[string]url.Values{
		"no fields":     {},
		"no code":       {"username": {"alice"}, "new_password": {recoveredPassword}},
		"a long code":   {"username": {"alice"}, "code": {strings.Repeat("A", 5000)}, "new_password": {recoveredPassword}},
		"unicode code":  {"username": {"alice"}, "code": {"ÄÖÜ-ß\u0000\u202e"}, "new_password": {recoveredPassword}},
		"a long name":   {"username": {strings.Repeat("a", 5000)}, "code": {"AAAA"}, "new_password": {recoveredPassword}},
		"invalid UTF-8": {"username": {"al\xffice"}, "code": {"\xff\xfe"}, "new_password": {recoveredPassword}},
	} {
		res := s.do(t, req{method: "POST", path: "/recover", header: map[string]string{"Accept": "application/json"}, form: f})
		if res.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", what, res.status, res.body)
			continue
		}
		if msg := jsonError(t, what, res); msg != "Wrong username or recovery code, or that code was used already." {
			t.Errorf("%s: %q", what, msg)
		}
	}
}
