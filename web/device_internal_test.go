package web

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"soulbridge/auth"
	"soulbridge/internal/testclock"
	"soulbridge/kv/kvtest"
)

// deviceServer is a Server with device cookies over a real in-memory store
// whose accounts are made by signUp (device cookies are checked against the
// account's generation).
func deviceServer(t *testing.T) (s *Server, signUp func(user string) auth.User) {
	t.Helper()
	s, signUp, _ = deviceServerAt(t, testclock.NewAt(time.Now().Add(-time.Hour)))
	return s, signUp
}

// deviceServerAt is deviceServer with the accounts' clock at clk; it also
// returns the account service.
func deviceServerAt(t *testing.T, clk *testclock.Clock) (s *Server, signUp func(user string) auth.User, accounts *auth.Service) {
	t.Helper()
	h, err := auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	accounts, err = auth.New(kvtest.Memory(t), auth.Config{Hasher: h, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	s = New(Deps{Auth: accounts, DeviceKeys: [][]byte{bytes.Repeat([]byte{7}, 32)}})
	return s, func(user string) auth.User {
		u, err := accounts.SignUp(context.Background(), user, "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		return u
	}, accounts
}

// A device cookie is read only in the exact form it was written: another
// spelling of the same signed bytes (here, non-zero trailing bits in the
// last base64 character, which securecookie's decoder ignores) names no
// device, as for the session cookie (session.Canonical).
func TestDeviceCookieOnlyInTheFormWritten(t *testing.T) {
	s, signUp := deviceServer(t)
	// Find a value whose encoding ends in padding (its length depends on
	// the username), so it has trailing bits to flip.
	for user := "abc"; len(user) < 32; user += "c" {
		gen, _ := signUp(user).Standing()
		rec := httptest.NewRecorder()
		if err := s.setDevice(rec, httptest.NewRequest("POST", "/login", nil), user, gen); err != nil {
			t.Fatal(err)
		}
		value := rec.Result().Cookies()[0].Value
		if !strings.HasSuffix(value, "=") {
			continue
		}
		read := func(v string) string {
			r := httptest.NewRequest("POST", "/login", nil)
			r.AddCookie(&http.Cookie{Name: DeviceCookieName, Value: v})
			return s.deviceNonce(r, user)
		}
		if read(value) == "" {
			t.Fatalf("the device cookie as written names no device")
		}
		i := strings.TrimRight(value, "=")
		last := len(i) - 1
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		flipped := value[:last] + string(alphabet[strings.IndexByte(alphabet, value[last])^1]) + value[last+1:]
		if got := read(flipped); got != "" {
			t.Fatalf("another spelling of the device cookie (%q for %q) was accepted", flipped, value)
		}
		return
	}
	t.Fatal("no device cookie value ended in padding: the test proves nothing")
}

// Row 4 of issue 16: a device cookie (the exemption from the per-account
// lockout) was worth as much after a password change, and after the account
// was deleted and its name signed up again by someone else, as before. It
// now carries the account generation; one from the previous release, with
// none, counts only if signed after the account's sessions were last all
// ended (a password change among the ways).
func TestDeviceCookieEndsWithTheAccountGeneration(t *testing.T) {
	ctx := context.Background()
	clk := testclock.NewAt(time.Now().Add(-time.Hour)) // accounts made an hour ago
	s, signUp, accounts := deviceServerAt(t, clk)
	gen, _ := signUp("alice").Standing()
	cookie := func(d device) string {
		t.Helper()
		v, err := s.devices.codecs[0].Encode(deviceLogicalName, d)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	read := func(v string) string {
		r := httptest.NewRequest("POST", "/login", nil)
		r.AddCookie(&http.Cookie{Name: DeviceCookieName, Value: v})
		return s.deviceNonce(r, "alice")
	}
	current := cookie(device{User: "alice", Nonce: "n1", Gen: gen})
	legacy := cookie(device{User: "alice", Nonce: "n0"}) // signed now, after the sign-up
	if read(current) != "n1" || read(legacy) != "n0" {
		t.Fatalf("before any change: nonces %q, %q; want n1, n0", read(current), read(legacy))
	}
	if got := read(cookie(device{User: "alice", Nonce: "n2", Gen: "another generation"})); got != "" {
		t.Fatalf("a cookie of another generation named device %q", got)
	}

	clk.Advance(2 * time.Hour) // the change happens after both were signed
	changed, err := accounts.ChangePassword(ctx, "alice", "staple violet quarry")
	if err != nil {
		t.Fatal(err)
	}
	if read(current) != "" || read(legacy) != "" {
		t.Fatalf("after a password change the cookies still name devices %q, %q", read(current), read(legacy))
	}
	gen2, _ := changed.Standing()
	second := cookie(device{User: "alice", Nonce: "n3", Gen: gen2})
	if read(second) != "n3" {
		t.Fatalf("a cookie given after the change names %q", read(second))
	}

	if err := accounts.Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if got := read(second); got != "" {
		t.Fatalf("after the account's deletion its cookie names %q", got)
	}
	signUp("alice") // someone else takes the name
	if got := read(second); got != "" {
		t.Fatalf("the earlier owner's cookie names %q for the new owner", got)
	}
}

// issuedAt reads securecookie's own timestamp, to the second.
func TestIssuedAt(t *testing.T) {
	s, _ := deviceServer(t)
	before := time.Now().Truncate(time.Second)
	v, err := s.devices.codecs[0].Encode(deviceLogicalName, device{User: "alice", Nonce: "n"})
	if err != nil {
		t.Fatal(err)
	}
	at, ok := issuedAt(v)
	if !ok || at.Before(before) || at.After(time.Now()) {
		t.Fatalf("issuedAt = %v, %v; want a time from %v to now", at, ok, before)
	}
	for _, bad := range []string{"", "!!!", "bm90aGluZw==" /* "nothing" */} {
		if _, ok := issuedAt(bad); ok {
			t.Errorf("issuedAt(%q) read a time", bad)
		}
	}
}
