package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
)

// Cookie names. Over HTTPS the __Host- prefix makes the browser insist on
// Secure, Path=/ and no Domain; plain HTTP (localhost) uses the bare name.
const (
	CookieName       = "sb_session"
	SecureCookieName = "__Host-" + CookieName
	// logicalName is what securecookie signs, whatever the cookie's actual
	// name, so a cookie keeps decoding when a site moves to HTTPS.
	logicalName = CookieName
)

// codec signs and verifies cookie values with the current key and, for
// reading only, the previous keys.
type codec struct {
	codecs []*securecookie.SecureCookie // current first
}

// newCodec builds a codec from keys (current first). Each key is turned into
// a dedicated HMAC-SHA256 signing key so the secret is never used raw.
func newCodec(keys [][]byte, maxAge time.Duration) (*codec, error) {
	if len(keys) == 0 {
		return nil, errors.New("session: no signing key")
	}
	c := &codec{}
	for _, k := range keys {
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte("soulbridge session cookie v1"))
		sc := securecookie.New(mac.Sum(nil), nil).
			SetSerializer(securecookie.NopEncoder{}).
			MaxAge(int(maxAge / time.Second))
		c.codecs = append(c.codecs, sc)
	}
	return c, nil
}

func (c *codec) encode(token []byte) (string, error) {
	v, err := c.codecs[0].Encode(logicalName, token)
	if err != nil {
		return "", fmt.Errorf("session: sign cookie: %w", err)
	}
	return v, nil
}

// decode returns the token in value and whether it was signed with a
// previous key (so it should be re-issued under the current one).
func (c *codec) decode(value string) (token []byte, old bool, err error) {
	for i, sc := range c.codecs {
		var t []byte
		if sc.Decode(logicalName, value, &t) == nil && len(t) == tokenBytes {
			return t, i > 0, nil
		}
	}
	return nil, false, ErrNoSession
}

// isHTTPS reports whether the client reached us over HTTPS, directly or
// through a TLS-terminating edge that says so in X-Forwarded-Proto.
func isHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// cookieValue returns the session cookie's raw value, preferring the
// __Host- cookie when both are present.
func cookieValue(r *http.Request) (string, bool) {
	for _, name := range []string{SecureCookieName, CookieName} {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			return c.Value, true
		}
	}
	return "", false
}

// setCookie writes the session cookie for this request's scheme; maxAge <= 0
// deletes it.
func setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge time.Duration) {
	secure := isHTTPS(r)
	name := CookieName
	if secure {
		name = SecureCookieName
	}
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
		if c.MaxAge == 0 {
			c.MaxAge = 1
		}
	} else {
		c.MaxAge = -1
		c.Value = ""
	}
	http.SetCookie(w, c)
}

// clearCookies expires every session cookie the request carried, plus the
// one for its scheme.
func clearCookies(w http.ResponseWriter, r *http.Request) {
	setCookie(w, r, "", 0)
	if isHTTPS(r) {
		if _, err := r.Cookie(CookieName); err == nil {
			http.SetCookie(w, &http.Cookie{Name: CookieName, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		}
	}
}
