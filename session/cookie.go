package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
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
// previous key (so it should be re-issued under the current one). Only
// values exactly as encode writes them are accepted (see Canonical).
func (c *codec) decode(value string) (token []byte, old bool, err error) {
	if !Canonical(value) {
		return nil, false, ErrNoSession
	}
	for i, sc := range c.codecs {
		var t []byte
		if sc.Decode(logicalName, value, &t) == nil && len(t) == tokenBytes {
			return t, i > 0, nil
		}
	}
	return nil, false, ErrNoSession
}

// Canonical reports whether value is in the one form securecookie's Encode
// writes: URL-safe base64 with padding and zero trailing bits. Every cookie
// soulbridge signs (the session here, the device cookie in web) is checked
// with it before it is decoded. securecookie's
// decoder is laxer (it skips CR and LF, and ignores trailing bits), so
// without this check other spellings of a signed value passed too; not a
// forgery, since the signed bytes are the same, but not a value encode
// produced either (found reviewing FuzzCookieDecode's seeds).
func Canonical(value string) bool {
	n := len(value)
	if n == 0 || n%4 != 0 {
		return false
	}
	pad := 0
	if value[n-1] == '=' {
		pad = 1
		if value[n-2] == '=' {
			pad = 2
		}
	}
	var last byte
	for i := range n - pad {
		v, ok := base64URLValue(value[i])
		if !ok {
			return false
		}
		last = v
	}
	// One '=' leaves 2 bits of the last character unused, two leave 4;
	// encode writes them as zeros.
	return pad == 0 || last&(1<<(2*pad)-1) == 0
}

// base64URLValue is the 6-bit value of c in the URL-safe base64 alphabet.
func base64URLValue(c byte) (byte, bool) {
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A', true
	case 'a' <= c && c <= 'z':
		return c - 'a' + 26, true
	case '0' <= c && c <= '9':
		return c - '0' + 52, true
	case c == '-':
		return 62, true
	case c == '_':
		return 63, true
	}
	return 0, false
}

// IsHTTPS reports whether the client reached us over HTTPS: directly (TLS
// on the connection) or, only when trustProxy is set (TRUST_PROXY_HEADERS),
// through a TLS-terminating edge that says so in X-Forwarded-Proto. Without
// a trusted edge the header is the client's own word and proves nothing.
func IsHTTPS(r *http.Request, trustProxy bool) bool {
	if r.TLS != nil {
		return true
	}
	if !trustProxy {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// cookieValue returns the session cookie's raw value. Over HTTPS only the
// __Host- cookie is read: the bare name carries no guarantee (a sibling
// subdomain or a plain-HTTP man in the middle can plant it), so accepting it
// would defeat the prefix. Over plain HTTP the __Host- cookie is preferred
// when present (a browser only ever got it over HTTPS, so it is at least as
// trustworthy; this is an edge not declared trusted), else the bare name.
func cookieValue(r *http.Request, secure bool) (string, bool) {
	names := []string{SecureCookieName, CookieName}
	if secure {
		names = names[:1]
	}
	for _, name := range names {
		if v := requestCookie(r.Header, name); v != "" {
			return v, true
		}
	}
	return "", false
}

// maxCookies is net/http's default limit on the cookies of a request
// (GODEBUG httpcookiemaxnum): past it, r.Cookie finds none.
const maxCookies = 3000

// requestCookie returns what r.Cookie(name).Value would (or ""), by the same
// rules (net/http's readCookies: each Cookie line split at ';', parts and
// names trimmed, the value unquoted and refused if it holds a byte a cookie
// value cannot), without allocating every cookie of the request on the way:
// this runs on every request.
func requestCookie(h http.Header, name string) string {
	lines := h["Cookie"]
	count := 0
	for _, line := range lines {
		count += strings.Count(line, ";") + 1
	}
	if count > maxCookies {
		return ""
	}
	for _, line := range lines {
		line = textproto.TrimString(line)
		var part string
		for len(line) > 0 {
			part, line, _ = strings.Cut(line, ";")
			n, v, _ := strings.Cut(textproto.TrimString(part), "=")
			if textproto.TrimString(n) != name {
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if validCookieValue(v) {
				return v
			}
		}
	}
	return ""
}

// validCookieValue reports whether every byte of v may appear in a cookie
// value (net/http's validCookieValueByte).
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return false
		}
	}
	return true
}

// setCookie writes the session cookie for this request's scheme (secure:
// HTTPS); maxAge <= 0 deletes it.
func setCookie(w http.ResponseWriter, secure bool, value string, maxAge time.Duration) {
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
func clearCookies(w http.ResponseWriter, r *http.Request, secure bool) {
	setCookie(w, secure, "", 0)
	if secure {
		if _, err := r.Cookie(CookieName); err == nil {
			http.SetCookie(w, &http.Cookie{Name: CookieName, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		}
	}
}
