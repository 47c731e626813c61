package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/securecookie"

	"soulbridge/session"
)

// Device cookies (OWASP "device cookies"; docs/architecture.md, "Log-in
// throttling"): a browser that logged in to an account carries a signed
// cookie naming the account and a random nonce. With it, log-ins to that
// account are exempt from the per-account lockout (which anyone can trigger)
// and count against the nonce instead. Log-out leaves it in place.
const (
	DeviceCookieName       = "sb_device"
	SecureDeviceCookieName = "__Host-" + DeviceCookieName
	// deviceLogicalName is what securecookie signs, whatever the cookie's
	// actual name.
	deviceLogicalName = DeviceCookieName
	// DeviceLifetime is how long a device cookie lives: about a year.
	DeviceLifetime = 365 * 24 * time.Hour
)

// device is what a device cookie holds.
type device struct {
	User  string `json:"u"`
	Nonce string `json:"n"`
	// Gen is the account generation the cookie was given under: once the
	// account's changes (a password change; a deletion and a new sign-up
	// of the name), the cookie is worth nothing. Empty in a cookie given by
	// a release before generations: that one counts only if it was signed
	// at or after the account's sessions were last all ended (issuedAt).
	Gen string `json:"g,omitempty"`
}

// deviceCodec signs device cookies with the current key and verifies them
// with it or a previous one. Its HMAC key is derived from the site key for
// this purpose only, so a session cookie can never pass as a device cookie.
type deviceCodec struct {
	codecs []*securecookie.SecureCookie // current first
}

func newDeviceCodec(keys [][]byte) *deviceCodec {
	c := &deviceCodec{}
	for _, k := range keys {
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte("soulbridge device cookie v1"))
		c.codecs = append(c.codecs, securecookie.New(mac.Sum(nil), nil).
			SetSerializer(securecookie.JSONEncoder{}).
			MaxAge(int(DeviceLifetime/time.Second)))
	}
	return c
}

// overHTTPS reports whether the client reached us over HTTPS: directly, or
// through an edge trusted to say so in X-Forwarded-Proto.
func (s *Server) overHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !s.trustProxy {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// deviceNonce returns the nonce of the request's device cookie if it is
// validly signed, names user (a normalised username) and was given under
// the account's current generation, else "". Over HTTPS only the __Host-
// cookie is read. An account that cannot be read has no known devices.
func (s *Server) deviceNonce(r *http.Request, user string) string {
	if s.devices == nil || len(s.devices.codecs) == 0 {
		return ""
	}
	name := DeviceCookieName
	if s.overHTTPS(r) {
		name = SecureDeviceCookieName
	}
	c, err := r.Cookie(name)
	if err != nil || !session.Canonical(c.Value) {
		return "" // none, or not in the form setDevice writes
	}
	for _, sc := range s.devices.codecs {
		var d device
		if sc.Decode(deviceLogicalName, c.Value, &d) != nil || d.User != user || d.Nonce == "" {
			continue
		}
		gen, since, err := s.auth.Standing(r.Context(), user)
		if err != nil {
			return ""
		}
		if d.Gen != "" {
			if d.Gen != gen {
				return ""
			}
			return d.Nonce
		}
		if at, ok := issuedAt(c.Value); !ok || at.Before(since) {
			return ""
		}
		return d.Nonce
	}
	return ""
}

// issuedAt returns when securecookie signed value, a value it has verified:
// its encoding is base64(timestamp "|" payload "|" MAC), the timestamp in
// Unix seconds.
func issuedAt(value string) (time.Time, bool) {
	raw, err := base64.URLEncoding.DecodeString(value)
	if err != nil {
		return time.Time{}, false
	}
	ts, _, ok := strings.Cut(string(raw), "|")
	if !ok {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(sec, 0), true
}

// setDevice gives the browser a fresh device cookie for user, given under
// the account generation gen.
func (s *Server) setDevice(w http.ResponseWriter, r *http.Request, user, gen string) error {
	if s.devices == nil || len(s.devices.codecs) == 0 {
		return nil
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	v, err := s.devices.codecs[0].Encode(deviceLogicalName, device{User: user, Nonce: base64.RawURLEncoding.EncodeToString(b), Gen: gen})
	if err != nil {
		return err
	}
	secure := s.overHTTPS(r)
	name := DeviceCookieName
	if secure {
		name = SecureDeviceCookieName
	}
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    v,
		Path:     "/",
		MaxAge:   int(DeviceLifetime / time.Second),
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	})
	return nil
}
