package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
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
// validly signed and names user (a normalised username), else "". Over
// HTTPS only the __Host- cookie is read.
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
		if sc.Decode(deviceLogicalName, c.Value, &d) == nil && d.User == user && d.Nonce != "" {
			return d.Nonce
		}
	}
	return ""
}

// setDevice gives the browser a fresh device cookie for user.
func (s *Server) setDevice(w http.ResponseWriter, r *http.Request, user string) error {
	if s.devices == nil || len(s.devices.codecs) == 0 {
		return nil
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	v, err := s.devices.codecs[0].Encode(deviceLogicalName, device{User: user, Nonce: base64.RawURLEncoding.EncodeToString(b)})
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
