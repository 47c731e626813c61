package web

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A device cookie is read only in the exact form it was written: another
// spelling of the same signed bytes (here, non-zero trailing bits in the
// last base64 character, which securecookie's decoder ignores) names no
// device, as for the session cookie (session.Canonical).
func TestDeviceCookieOnlyInTheFormWritten(t *testing.T) {
	s := New(Deps{DeviceKeys: [][]byte{bytes.Repeat([]byte{7}, 32)}})
	// Find a value whose encoding ends in padding (its length depends on
	// the username), so it has trailing bits to flip.
	for user := "ab"; len(user) < 40; user += "c" {
		rec := httptest.NewRecorder()
		if err := s.setDevice(rec, httptest.NewRequest("POST", "/login", nil), user); err != nil {
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
