package web_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"soulbridge/auth"
	"soulbridge/internal/testredis"
	"soulbridge/internal/testwait"
	"soulbridge/kv"
	"soulbridge/kv/kvtest"
	"soulbridge/web"
)

type apiActivity struct {
	At        string `json:"at"`
	Kind      string `json:"kind"`
	Text      string `json:"text"`
	Device    string `json:"device"`
	IP        string `json:"ip"`
	NewDevice bool   `json:"new_device"`
	Count     int    `json:"count"`
	By        string `json:"by"`
}

// activityOf returns GET /account/activity for cookie once the events
// queued so far are written.
func (s *site) activityOf(t *testing.T, cookie *http.Cookie) []apiActivity {
	t.Helper()
	web.WaitActivity(s.server)
	res := s.do(t, req{method: "GET", path: "/account/activity", cookie: cookie})
	if res.status != http.StatusOK {
		t.Fatalf("GET /account/activity: %d %s", res.status, res.body)
	}
	var list []apiActivity
	if err := json.Unmarshal([]byte(res.body), &list); err != nil {
		t.Fatalf("GET /account/activity: %v: %s", err, res.body)
	}
	return list
}

func kinds(list []apiActivity) string {
	var k []string
	for _, a := range list {
		k = append(k, a.Kind)
	}
	return strings.Join(k, " ")
}

const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

// TestActivityScriptedHistory: a scripted history shows newest first in
// GET /account/activity and on /account: sign-up, failed log-ins grouped by
// network (no full address), a log-in from a new device (and one from a
// known browser, not new), a session ended by another session, recovery
// codes, a password change, with who acted; the JSON twin answers JSON
// errors; the events go with the account.
func TestActivityScriptedHistory(t *testing.T) {
	s := newSite(t, siteOptions{trustProxy: true})
	first := s.signup(t, "alice")
	for i := range 3 {
		if r := s.loginFrom(t, "203.0.113."+string(rune('1'+i)), "alice", "wrong password here"); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", r.status)
		}
	}
	s.loginFrom(t, "198.51.100.1", "nobody", "wrong password here") // no account: nothing kept
	web.WaitActivity(s.server)
	res := s.loginFrom(t, "198.51.100.7", "alice", testPassword)
	other := sessionCookie(res)
	dev := deviceCookie(res)
	if res.status != http.StatusSeeOther || other == nil || dev == nil {
		t.Fatalf("log-in: %d", res.status)
	}
	web.WaitActivity(s.server)
	// The same browser again (its device cookie): not a new device.
	s.loginFrom(t, "198.51.100.7", "alice", testPassword, dev)
	web.WaitActivity(s.server)
	r := s.do(t, req{method: "POST", path: "/account/password", cookie: first,
		form: url.Values{"current_password": {testPassword}, "new_password": {"staple violet quarry"}}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("password change: %d", r.status)
	}
	current := sessionCookie(r)
	web.WaitActivity(s.server)
	s.loginFrom(t, "198.51.100.8", "alice", "staple violet quarry")
	web.WaitActivity(s.server)
	if r := s.do(t, req{method: "POST", path: "/account/sessions/revoke-others", cookie: current}); r.status != http.StatusOK {
		t.Fatalf("revoke-others: %d", r.status)
	}
	web.WaitActivity(s.server)
	if r := s.do(t, req{method: "POST", path: "/account/recovery-codes", cookie: current, form: url.Values{"password": {"staple violet quarry"}}}); r.status != http.StatusOK {
		t.Fatalf("recovery codes: %d", r.status)
	}

	list := s.activityOf(t, current)
	want := "recovery-codes-made session-ended log-in password-changed log-in log-in log-in-failed sign-up"
	if got := kinds(list); got != want {
		t.Fatalf("activity kinds = %q, want %q\n%+v", got, want, list)
	}
	for i := 1; i < len(list); i++ {
		if list[i].At > list[i-1].At {
			t.Errorf("not newest first: %s after %s", list[i].At, list[i-1].At)
		}
	}
	if list[0].By != "this session" || list[1].By != "this session" || !strings.Contains(list[1].Text, "1 session ended") || list[3].By != "this session" {
		t.Errorf("who acted: %+v", list[:4])
	}
	if l := list[5]; !l.NewDevice || l.IP != "198.51.100.7" || l.Device != "Go HTTP client" {
		t.Errorf("the first log-in = %+v, want a new device from 198.51.100.7", l)
	}
	if list[4].NewDevice || !list[2].NewDevice {
		t.Errorf("new device: the log-in with the device cookie %v, the one without %v; want false, true", list[4].NewDevice, list[2].NewDevice)
	}
	if f := list[6]; f.Count != 3 || f.IP != "203.0.113.0/24" || f.Text != "3 failed log-in attempts from 203.0.113.0/24" {
		t.Errorf("failed log-ins = %+v, want 3 from 203.0.113.0/24", f)
	}
	page := s.do(t, req{method: "GET", path: "/account", cookie: current})
	for _, w := range []string{"Recent activity", "3 failed log-in attempts from 203.0.113.0/24", "New device", "by this session"} {
		if !strings.Contains(page.body, w) {
			t.Errorf("/account does not show %q", w)
		}
	}
	if strings.Contains(page.body, "203.0.113.1") || strings.Contains(page.body, "New sign-in from") {
		t.Error("/account shows a failed attempt's full address, or a notice about its own sessions' past")
	}

	if r := s.do(t, req{method: "GET", path: "/account/activity"}); r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("GET /account/activity without a session: %d %s, want a JSON 401", r.status, r.header.Get("Content-Type"))
	}
	if r := s.do(t, req{method: "POST", path: "/account/delete", cookie: current, form: url.Values{"password": {"staple violet quarry"}}}); r.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.status)
	}
	web.WaitActivity(s.server)
	// An earlier owner's event that landed after the deletion is not shown.
	if err := s.server.Services().Accounts.RecordEvent(context.Background(), "alice",
		auth.Event{At: time.Now().Add(-time.Minute), Kind: auth.KindLogIn, Event: "Logged in"}); err != nil {
		t.Fatal(err)
	}
	back := s.signup(t, "alice")
	if got := kinds(s.activityOf(t, back)); got != "sign-up" {
		t.Errorf("the name's new owner sees %q, want only its sign-up", got)
	}
}

// TestNewDeviceNotice: a log-in from a new device shows on the next page
// of the account's other session (not on its own), with "End that session"
// and "Dismiss" as form posts; viewing writes nothing; dismissing hides it
// on every session; ending that session hides it too.
func TestNewDeviceNotice(t *testing.T) {
	s := newSite(t, siteOptions{})
	home := s.signup(t, "alice")
	web.WaitActivity(s.server)
	if p := s.do(t, req{method: "GET", path: "/community", cookie: home}); strings.Contains(p.body, "New sign-in from") {
		t.Fatal("a notice before any other log-in")
	}
	away := s.loginAs(t, "alice", testPassword, firefox)
	web.WaitActivity(s.server)
	before := len(s.activityOf(t, home))
	p := s.do(t, req{method: "GET", path: "/community", cookie: home})
	if !strings.Contains(p.body, "New sign-in from Firefox on Linux, 127.0.0.1") {
		t.Fatalf("/community of the other session shows no notice:\n%.2000s", p.body)
	}
	awayID := s.sessionsOf(t, away)[0].ID
	for _, action := range []string{"/account/sessions/" + awayID + "/end", "/account/notices/" + awayID + "/dismiss"} {
		if !strings.Contains(p.body, `action="`+action+`"`) {
			t.Errorf("the notice has no form posting to %s", action)
		}
	}
	if q := s.do(t, req{method: "GET", path: "/account", cookie: away}); strings.Contains(q.body, "New sign-in from") {
		t.Error("the new session is told about itself")
	}
	web.WaitActivity(s.server)
	if n := len(s.activityOf(t, home)); n != before {
		t.Errorf("page views wrote events: %d, then %d", before, n)
	}

	// Dismiss: gone for every session of the account, and kept as an event.
	if r := s.do(t, req{method: "POST", path: "/account/notices/" + awayID + "/dismiss", cookie: home, form: url.Values{"next": {"/community"}}}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/community" {
		t.Fatalf("dismiss: %d %q", r.status, r.header.Get("Location"))
	}
	if p := s.do(t, req{method: "GET", path: "/account", cookie: home}); strings.Contains(p.body, "New sign-in from") {
		t.Error("the notice shows after Dismiss")
	}
	if r := s.do(t, req{method: "POST", path: "/account/notices/not%20an%20id/dismiss", cookie: home}); r.status != http.StatusBadRequest {
		t.Errorf("dismiss a malformed id: %d, want 400", r.status)
	}

	// A third log-in from a new device; this time the other session ends it.
	third := s.loginAs(t, "alice", testPassword, firefox)
	web.WaitActivity(s.server)
	if p := s.do(t, req{method: "GET", path: "/account", cookie: away}); !strings.Contains(p.body, "New sign-in from Firefox on Linux") {
		t.Fatal("the second session is not told of the third")
	}
	thirdID := s.sessionsOf(t, third)[0].ID
	for _, in := range s.sessionsOf(t, third) {
		if in.Current {
			thirdID = in.ID
		}
	}
	if r := s.do(t, req{method: "POST", path: "/account/sessions/" + thirdID + "/end", cookie: away}); r.status != http.StatusSeeOther {
		t.Fatalf("end that session: %d", r.status)
	}
	if p := s.do(t, req{method: "GET", path: "/account", cookie: away}); strings.Contains(p.body, "New sign-in from") {
		t.Error("the notice shows after its session ended")
	}
	list := s.activityOf(t, away)
	if list[0].Kind != "session-ended" || list[0].By != "this session" {
		t.Errorf("latest event = %+v, want the session ended by this session", list[0])
	}
	if home := s.activityOf(t, home); home[0].By != "another of your sessions" {
		t.Errorf("seen from the first session, the latest = %+v, want by another of your sessions", home[0])
	}
}

// TestActivityThroughAnOutage: with the Redis mirror down, on an instance
// with a persistent data dir, a log-in and a wrong password still get
// their answers (303, 401). The log-in's event is queued with the other
// writes and shows once Redis is back; the failed attempt's count, a
// conditional write the mirror never queues, is lost, and the log says so.
func TestActivityThroughAnOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	redis := testredis.Start(t)
	m := kvtest.Mirror(t, "soulbridge:", kv.MirrorOptions{URL: redis.URL(), Persistent: true})
	var logs lockedBuffer
	s := newSiteOver(t, m, []byte(strings.Repeat("k", 32)), func(c *web.SiteConfig) {
		c.Mirror, c.Counter = m, m
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	home := s.signup(t, "alice")
	redis.Kill()
	testwait.Until(t, 10*time.Second, "the mirror down", func() bool { return m.Status() != "ok" })
	if r := s.login(t, "alice", nil); r.status != http.StatusSeeOther {
		t.Fatalf("log-in with the mirror down: %d %s, want 303", r.status, r.body)
	}
	if r := s.do(t, req{method: "POST", path: "/login", form: url.Values{"username": {"alice"}, "password": {"not the password"}}}); r.status != http.StatusUnauthorized {
		t.Fatalf("wrong password with the mirror down: %d, want 401", r.status)
	}
	web.WaitActivity(s.server)
	if out := logs.String(); !strings.Contains(out, "activity event lost") || !strings.Contains(out, "kind=log-in-failed") {
		t.Errorf("the log does not say the failed attempt's count was lost:\n%s", out)
	}
	redis.StartAgain()
	testwait.Until(t, 15*time.Second, "the mirror up with its outbox replayed", func() bool { return m.Status() == "ok" && m.OutboxLen() == 0 })
	if got := kinds(s.activityOf(t, home)); got != "log-in sign-up" {
		t.Errorf("activity after the outage: %q, want the log-in made during it, then the sign-up", got)
	}
}

// scanCounter is a store that counts the scans of events: keys.
type scanCounter struct {
	*kv.Badger
	events atomic.Int64
}

func (c *scanCounter) Scan(ctx context.Context, r kv.Range, fn func(key string, val []byte) error) error {
	if strings.HasPrefix(r.Prefix, "events:") {
		c.events.Add(1)
	}
	return c.Badger.Scan(ctx, r, fn)
}

// TestPageViewsReadNoEventsWithoutANewSignIn: the new-device notice is
// looked for on every page view, but the account record (read by the
// request anyway) tells when no other session logged in from a new device
// since this one began: such a page view reads no events. Once one did,
// the other session's page reads them and shows the notice; the new
// session itself does not look.
func TestPageViewsReadNoEventsWithoutANewSignIn(t *testing.T) {
	store := &scanCounter{Badger: memStore(t)}
	s := newPasskeySite(t, store, pkKey, nil)
	home := s.signup(t, "alice")
	web.WaitActivity(s.server)
	views := func(c *http.Cookie) int64 {
		t.Helper()
		before := store.events.Load()
		for range 3 {
			if p := s.do(t, req{method: "GET", path: "/community", cookie: c}); p.status != http.StatusOK {
				t.Fatalf("GET /community: %d", p.status)
			}
		}
		return store.events.Load() - before
	}
	if n := views(home); n != 0 {
		t.Errorf("3 page views with no new sign-in read the events %d times, want 0", n)
	}
	away := s.loginAs(t, "alice", testPassword, firefox)
	web.WaitActivity(s.server)
	if n := views(away); n != 0 {
		t.Errorf("3 page views of the new-device session itself read the events %d times, want 0", n)
	}
	if p := s.do(t, req{method: "GET", path: "/community", cookie: home}); !strings.Contains(p.body, "New sign-in from Firefox on Linux") {
		t.Fatalf("the other session shows no notice:\n%.1500s", p.body)
	}
}
