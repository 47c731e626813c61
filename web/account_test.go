package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testimage"
	"soulbridge/internal/testredis"
	"soulbridge/internal/testwait"
	"soulbridge/kv"
	"soulbridge/kv/kvtest"
	"soulbridge/web"
)

const newPassword = "staple violet quarry"

// changePassword posts the password form with cookie.
func (s *site) changePassword(t *testing.T, cookie *http.Cookie, current, next string, header map[string]string) resp {
	t.Helper()
	return s.do(t, req{method: "POST", path: "/account/password", cookie: cookie, header: header,
		form: url.Values{"current_password": {current}, "new_password": {next}}})
}

// Password change: the old password fails, other sessions end, this client
// stays logged in under a new token, and the old cookie value is refused.
func TestAccountPasswordChange(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.signup(t, "alice")
	a := s.loginAs(t, "alice", testPassword, firefoxLinux)
	b := s.loginAs(t, "alice", testPassword, safariIPhone)

	// Refusals change nothing: a wrong current password is 403, a weak
	// new one 400 with the reason (the page again for a browser, JSON
	// for an API client).
	res := s.changePassword(t, a, "not my password", newPassword, nil)
	if res.status != http.StatusForbidden || !strings.Contains(res.body, "Wrong password") || !strings.Contains(res.body, `action="/account/password"`) {
		t.Fatalf("wrong current password: %d, want 403 and the account page with the reason; %.300s", res.status, res.body)
	}
	noStoreCheck(t, "wrong current password", res)
	res = s.changePassword(t, a, "not my password", newPassword, map[string]string{"Accept": "application/json"})
	if res.status != http.StatusForbidden {
		t.Fatalf("wrong current password (JSON): %d, want 403", res.status)
	}
	jsonError(t, "wrong current password (JSON)", res)
	if res := s.changePassword(t, a, "not my password", "password", nil); res.status != http.StatusForbidden {
		t.Fatalf("wrong current password and a weak new one: %d, want 403 (the current password is checked first)", res.status)
	}
	res = s.changePassword(t, a, testPassword, "password", nil)
	if res.status != http.StatusBadRequest || !strings.Contains(strings.ToLower(res.body), "common") {
		t.Fatalf("common new password: %d, want 400 with the reason; %.300s", res.status, res.body)
	}
	res = s.changePassword(t, a, testPassword, "short", map[string]string{"Accept": "application/json"})
	if res.status != http.StatusBadRequest || !strings.Contains(jsonError(t, "short new password", res), "8") {
		t.Fatalf("short new password: %d %s, want 400 with the reason", res.status, res.body)
	}
	for _, c := range []*http.Cookie{a, b} {
		if got := s.avatarStatus(t, c); got != http.StatusOK {
			t.Fatalf("a refused change ended a session: %d", got)
		}
	}

	res = s.changePassword(t, a, testPassword, newPassword, nil)
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/account" {
		t.Fatalf("password change: %d Location %q, want 303 /account; %.300s", res.status, res.header.Get("Location"), res.body)
	}
	noStoreCheck(t, "password change", res)
	nc := sessionCookie(res)
	if nc == nil || nc.Value == "" || nc.Value == a.Value || nc.MaxAge <= 0 {
		t.Fatalf("password change set cookie %v, want a new session cookie", nc)
	}
	fresh := &http.Cookie{Name: nc.Name, Value: nc.Value}
	if got := s.avatarStatus(t, fresh); got != http.StatusOK {
		t.Fatalf("this client under its new token: %d, want 200", got)
	}
	if got := s.avatarStatus(t, a); got != http.StatusUnauthorized {
		t.Fatalf("the old cookie value after the change: %d, want 401", got)
	}
	if got := s.avatarStatus(t, b); got != http.StatusUnauthorized {
		t.Fatalf("the other session after the change: %d, want 401", got)
	}
	list := s.sessionsOf(t, fresh)
	if len(list) != 1 || !list[0].Current {
		t.Fatalf("sessions after the change: %+v, want only this one", list)
	}
	if res := s.login(t, "alice", nil); res.status != http.StatusUnauthorized {
		t.Fatalf("log-in with the old password: %d, want 401", res.status)
	}
	s.loginAs(t, "alice", newPassword, firefoxLinux)

	// JSON clients get 200 with the session's new public id.
	res = s.changePassword(t, fresh, newPassword, "lantern orchid basalt", map[string]string{"Accept": "application/json"})
	if res.status != http.StatusOK {
		t.Fatalf("password change (JSON): %d %s", res.status, res.body)
	}
	var body struct {
		ID    string `json:"id"`
		Ended int    `json:"ended"`
	}
	if err := json.Unmarshal([]byte(res.body), &body); err != nil || len(body.ID) != 32 || body.Ended != 1 {
		t.Fatalf("password change (JSON) body %s, want the new id and ended 1", res.body)
	}
	nc = sessionCookie(res)
	if list := s.sessionsOf(t, &http.Cookie{Name: nc.Name, Value: nc.Value}); len(list) != 1 || list[0].ID != body.ID {
		t.Fatalf("after the JSON change: %+v, want only %s", list, body.ID)
	}
}

// Account deletion leaves no personal data in the store; the name can be
// signed up again.
func TestAccountDeletionLeavesNoPersonalData(t *testing.T) {
	s := newSite(t, siteOptions{trustProxy: true})
	const name, ip, ua = "zoe-private", "203.0.113.99", "PrivateAgent/9.9 (zoe's laptop)"
	hdr := map[string]string{"X-Real-IP": ip, "User-Agent": ua}
	res := s.do(t, req{method: "POST", path: "/signup", header: hdr, form: url.Values{"username": {name}, "password": {testPassword}}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("sign-up: %d", res.status)
	}
	var cookies []*http.Cookie
	for range 3 {
		res := s.do(t, req{method: "POST", path: "/login", header: hdr, form: url.Values{"username": {name}, "password": {testPassword}}})
		c := sessionCookie(res)
		cookies = append(cookies, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	cur := cookies[0]
	if res := s.do(t, req{method: "POST", path: "/community/avatar", cookie: cur, header: hdr, form: url.Values{"avatar": {"owl"}}}); res.status != http.StatusSeeOther {
		t.Fatalf("avatar: %d", res.status)
	}
	// Her own picture (with GPS in its EXIF) is personal data too.
	if res := s.upload(t, cookies[1], testimage.JPEGWithGPS(320, 240), "application/json"); res.status != http.StatusOK {
		t.Fatalf("upload: %d %s", res.status, res.body)
	}
	bob := s.signup(t, "bob") // someone else's data stays
	if res := s.upload(t, bob, testimage.PNG(200, 100), "application/json"); res.status != http.StatusOK {
		t.Fatalf("bob's upload: %d %s", res.status, res.body)
	}
	images := func() int {
		n := 0
		if err := s.store.Scan(context.Background(), kv.Range{Prefix: "image:"}, func(string, []byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := images(); got != 2 {
		t.Fatalf("before deletion %d stored images, want 2 (zoe's and bob's)", got)
	}

	// Personal data: a key of any kind the store keeps (web.StoreKinds,
	// the one list a restore also checks) that belongs to the account, or
	// any key or value that holds her name, address or browser.
	personal := func() []string {
		var found []string
		err := s.store.Scan(context.Background(), kv.Range{}, func(k string, v []byte) error {
			if _, owner, err := web.CheckStoreKey(k, v); err == nil && owner == name {
				found = append(found, k)
				return nil
			}
			for _, p := range []string{name, ip, ua} {
				if strings.Contains(k, p) || strings.Contains(string(v), p) {
					found = append(found, k)
					break
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	if got := personal(); len(got) < 5 { // user, avatar, 4 sessions and their index entries
		t.Fatalf("before deletion only %q hold the personal data: the check would prove nothing", got)
	}

	res = s.do(t, req{method: "POST", path: "/account/delete", cookie: cur, header: hdr, form: url.Values{"password": {"wrong password!"}}})
	if res.status != http.StatusForbidden || !strings.Contains(res.body, "Wrong password") {
		t.Fatalf("deletion with a wrong password: %d, want 403; %.200s", res.status, res.body)
	}
	res = s.do(t, req{method: "POST", path: "/account/delete", cookie: cur, header: hdr, form: url.Values{"password": {testPassword}}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/" {
		t.Fatalf("deletion: %d Location %q, want 303 /", res.status, res.header.Get("Location"))
	}
	noStoreCheck(t, "deletion", res)
	if c := sessionCookie(res); c == nil || c.MaxAge >= 0 {
		t.Fatalf("deletion: session cookie %v, want it expired", c)
	}
	if got := personal(); len(got) != 0 {
		t.Fatalf("after deletion the store still holds personal data under %q", got)
	}
	if got := images(); got != 1 {
		t.Fatalf("after deletion %d stored images, want 1 (bob's; zoe's picture removed)", got)
	}
	for _, c := range cookies {
		if got := s.avatarStatus(t, c); got != http.StatusUnauthorized {
			t.Fatalf("a session of the deleted account: %d, want 401", got)
		}
	}
	if got := s.avatarStatus(t, bob); got != http.StatusOK {
		t.Fatalf("bob after zoe's deletion: %d", got)
	}
	if res := s.do(t, req{method: "POST", path: "/login", form: url.Values{"username": {name}, "password": {testPassword}}}); res.status != http.StatusUnauthorized {
		t.Fatalf("log-in to the deleted account: %d, want 401", res.status)
	}
	again := s.signup(t, name)
	if list := s.sessionsOf(t, again); len(list) != 1 {
		t.Fatalf("the new %s sees %d sessions, want only its own", name, len(list))
	}

	// JSON clients get 204.
	res = s.do(t, req{method: "POST", path: "/account/delete", cookie: again, header: map[string]string{"Accept": "application/json"},
		form: url.Values{"password": {testPassword}}})
	if res.status != http.StatusNoContent {
		t.Fatalf("deletion (JSON): %d %s, want 204", res.status, res.body)
	}
}

// A stolen session cannot brute-force the password: the checks count like
// log-ins, and past the limit the answer is 429 with Retry-After.
func TestAccountPasswordChecksAreThrottled(t *testing.T) {
	s := newSite(t, siteOptions{})
	a := s.signup(t, "alice")
	for i := range 12 {
		path, form := "/account/password", url.Values{"current_password": {"guess number " + string(rune('a'+i))}, "new_password": {newPassword}}
		if i%2 == 1 {
			path, form = "/account/delete", url.Values{"password": {"guess number " + string(rune('a'+i))}}
		}
		res := s.do(t, req{method: "POST", path: path, cookie: a, form: form})
		if res.status == http.StatusTooManyRequests {
			if i < 10 {
				t.Fatalf("throttled after %d guesses, want 10 allowed", i)
			}
			checkRetryAfter(t, res)
			noStoreCheck(t, "throttled", res)
			// Even the right password waits now.
			if res := s.changePassword(t, a, testPassword, newPassword, nil); res.status != http.StatusTooManyRequests {
				t.Fatalf("right password while throttled: %d, want 429", res.status)
			}
			return
		}
		if res.status != http.StatusForbidden {
			t.Fatalf("guess %d at %s: %d, want 403", i, path, res.status)
		}
	}
	t.Fatal("12 wrong passwords and no 429")
}

// While the Redis mirror is down, a password change and a deletion answer
// 503 with Retry-After: queued, they would leave the other instances
// honouring the old password or the deleted account.
func TestAccountWritesNeedTheSharedTier(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	redis := testredis.Start(t)
	m := kvtest.Mirror(t, "soulbridge:", kv.MirrorOptions{URL: redis.URL(), Persistent: true})
	s := newSiteOver(t, m, []byte(strings.Repeat("k", 32)), func(c *web.SiteConfig) { c.Mirror = m; c.Counter = m })
	a := s.signup(t, "alice")

	redis.Kill()
	testwait.Until(t, 10*time.Second, "the mirror down", func() bool { return m.Status() != "ok" })
	for _, r := range []req{
		{method: "POST", path: "/account/password", cookie: a, form: url.Values{"current_password": {testPassword}, "new_password": {newPassword}}},
		{method: "POST", path: "/account/delete", cookie: a, form: url.Values{"password": {testPassword}}},
		{method: "POST", path: "/account/delete", cookie: a, form: url.Values{"password": {testPassword}}, header: map[string]string{"Accept": "application/json"}},
	} {
		res := s.do(t, r)
		if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
			t.Fatalf("%s with the mirror down: %d Retry-After %q, want 503 with Retry-After", r.path, res.status, res.header.Get("Retry-After"))
		}
		noStoreCheck(t, r.path+" (mirror down)", res)
	}
	// Nothing changed: the session and the password still work.
	if got := s.avatarStatus(t, a); got != http.StatusOK {
		t.Fatalf("session after the refused writes: %d", got)
	}
	// The session list is a read: it goes on.
	if list := s.sessionsOf(t, a); len(list) != 1 {
		t.Fatalf("sessions with the mirror down: %+v", list)
	}

	redis.StartAgain()
	testwait.Until(t, 15*time.Second, "the mirror up again", func() bool { return m.Status() == "ok" })
	if res := s.changePassword(t, a, testPassword, newPassword, nil); res.status != http.StatusSeeOther {
		t.Fatalf("password change with the mirror back: %d %.200s", res.status, res.body)
	}
}

// Two instances sharing one Redis: a session begun on one is listed on the
// other, and ended there it is refused on the first.
func TestAccountSessionsAcrossInstances(t *testing.T) {
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

	onA := a.signup(t, "alice")
	onB := b.loginAs(t, "alice", testPassword, safariIPhone)
	list := b.sessionsOf(t, onB)
	if len(list) != 2 {
		t.Fatalf("instance B lists %d sessions, want 2 (one begun on A): %+v", len(list), list)
	}
	var aID string
	for _, e := range list {
		if !e.Current {
			aID = e.ID
		}
	}
	if res := b.do(t, req{method: "DELETE", path: "/account/sessions/" + aID, cookie: onB}); res.status != http.StatusNoContent {
		t.Fatalf("ending A's session from B: %d %s", res.status, res.body)
	}
	testwait.Until(t, 5*time.Second, "A's session refused on A", func() bool { return a.avatarStatus(t, onA) == http.StatusUnauthorized })
	if list := a.sessionsOf(t, onB); len(list) != 1 || !list[0].Current {
		t.Fatalf("instance A lists %+v, want only B's session", list)
	}
}
