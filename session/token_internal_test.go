package session

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"soulbridge/kv"
	"soulbridge/kv/kvtest"
)

func newInternalManager(t *testing.T) (*Manager, *kv.Badger) {
	t.Helper()
	store := kvtest.Memory(t)
	m, err := New(store, Config{
		Keys:        [][]byte{[]byte("internal-test-key-0123456789abcdef")},
		IdleTimeout: time.Hour,
		MaxLifetime: 2 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, store
}

// TestCookieHoldsNoRawTokenAndKeyIsItsHash checks the token/record split:
// the cookie carries the token only in signed, encoded form, and the store
// holds only the token's SHA-256.
func TestCookieHoldsNoRawTokenAndKeyIsItsHash(t *testing.T) {
	m, store := newInternalManager(t)
	w := httptest.NewRecorder()
	s, err := m.Start(context.Background(), w, httptest.NewRequest(http.MethodPost, "/login", nil), "alice", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.token) != 32 {
		t.Fatalf("token is %d bytes, want 32 (256 bits)", len(s.token))
	}
	value := w.Result().Cookies()[0].Value
	for name, form := range map[string]string{
		"raw":       string(s.token),
		"hex":       hex.EncodeToString(s.token),
		"base64":    base64.StdEncoding.EncodeToString(s.token),
		"base64url": base64.RawURLEncoding.EncodeToString(s.token),
	} {
		if strings.Contains(value, form) {
			t.Errorf("cookie value contains the %s token", name)
		}
	}
	sum := sha256.Sum256(s.token)
	wantID := hex.EncodeToString(sum[:])
	if s.ID != wantID {
		t.Fatalf("ID = %s, want hex SHA-256 of the token %s", s.ID, wantID)
	}
	var keys []string
	err = store.Scan(context.Background(), kv.Range{}, func(k string, v []byte) error {
		keys = append(keys, k)
		if bytes.Contains(v, s.token) || bytes.Contains(v, []byte(hex.EncodeToString(s.token))) ||
			bytes.Contains(v, []byte(base64.RawURLEncoding.EncodeToString(s.token))) {
			t.Errorf("stored value under %s holds the token", k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The record, and its entry in the per-user index (which names the
	// session by its public id and holds the record id, never the token).
	wantKeys := []string{"session:" + wantID, "sessions-of:alice:" + PublicIDOf(wantID)}
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("store keys = %q, want %q", keys, wantKeys)
	}
	// The cookie decodes to exactly this token.
	tok, old, err := m.codec.decode(value)
	if err != nil || old || !bytes.Equal(tok, s.token) {
		t.Fatalf("decode(cookie) = %x, %v, %v", tok, old, err)
	}
}

func TestTokensAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok, err := newToken()
		if err != nil {
			t.Fatal(err)
		}
		if seen[string(tok)] {
			t.Fatal("newToken repeated a token")
		}
		seen[string(tok)] = true
	}
}

func TestSignedValueOfWrongLengthIsNoSession(t *testing.T) {
	m, _ := newInternalManager(t)
	for _, tok := range [][]byte{nil, []byte("short"), bytes.Repeat([]byte{1}, 33)} {
		v, err := m.codec.encode(tok)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: CookieName, Value: v})
		if _, _, err := m.Load(context.Background(), r); !errors.Is(err, ErrNoSession) {
			t.Fatalf("signed %d-byte token: err = %v, want ErrNoSession", len(tok), err)
		}
	}
}

func TestIsHTTPS(t *testing.T) {
	tests := []struct {
		proto string
		want  bool
	}{
		{"", false},
		{"http", false},
		{"https", true},
		{"HTTPS", true},
		{"https, http", true},
		{"http, https", false},
		{" https ", true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tt.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tt.proto)
		}
		if got := IsHTTPS(r, true); got != tt.want {
			t.Errorf("IsHTTPS(X-Forwarded-Proto %q, trusted) = %v, want %v", tt.proto, got, tt.want)
		}
		if IsHTTPS(r, false) {
			t.Errorf("IsHTTPS(X-Forwarded-Proto %q, not trusted) = true, want false", tt.proto)
		}
	}
}

// forgeCookie builds a securecookie value for token as the codec would, but
// with a chosen timestamp (securecookie's clock cannot be injected).
func forgeCookie(key, token []byte, at time.Time) string {
	derive := hmac.New(sha256.New, key)
	derive.Write([]byte("soulbridge session cookie v1"))
	body := fmt.Sprintf("%s|%d|%s|", logicalName, at.Unix(), base64.URLEncoding.EncodeToString(token))
	mac := hmac.New(sha256.New, derive.Sum(nil))
	mac.Write([]byte(body[:len(body)-1]))
	b := append([]byte(body), mac.Sum(nil)...)[len(logicalName)+1:]
	return base64.URLEncoding.EncodeToString(b)
}

// TestCookieSignatureLivesAsLongAsTheSession checks that securecookie's own
// max age is the absolute lifetime, not its 30-day default.
func TestCookieSignatureLivesAsLongAsTheSession(t *testing.T) {
	store := kvtest.Memory(t)
	key := []byte("lifetime-test-key-0123456789abcdef")
	const maxLife = 2160 * time.Hour
	m, err := New(store, Config{
		Keys:        [][]byte{key},
		IdleTimeout: maxLife,
		MaxLifetime: maxLife,
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Start(context.Background(), httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/login", nil), "alice", "", "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tests := []struct {
		name string
		age  time.Duration
		ok   bool
	}{
		{"fresh (forgery matches the codec)", 0, true},
		{"31 days old", 31 * 24 * time.Hour, true},
		{"just inside the absolute lifetime", maxLife - time.Hour, true},
		{"older than the absolute lifetime", maxLife + time.Hour, false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: CookieName, Value: forgeCookie(key, s.token, now.Add(-tt.age))})
		got, _, err := m.Load(context.Background(), r)
		if tt.ok && (err != nil || got.ID != s.ID) {
			t.Errorf("%s: Load err = %v, want the session", tt.name, err)
		}
		if !tt.ok && !errors.Is(err, ErrNoSession) {
			t.Errorf("%s: Load err = %v, want ErrNoSession", tt.name, err)
		}
	}
}
