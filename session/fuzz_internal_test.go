package session

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"soulbridge/kv/kvtest"
)

// Fuzzing the cookie decoding: whatever a client sends as the session
// cookie, decoding never panics and never yields a token that was not
// signed with a known key. The oracle is exact because the tokens are
// chosen here: fuzzKnownTokens are the only tokens ever signed with the
// current or the previous key, so any other decoded token would be a
// forgery. The seed corpus (testdata/fuzz/FuzzCookieDecode) holds cookies
// signed with these keys (valid for a century, see fuzzLifetime), a cookie
// signed with an unknown key, other spellings of a signed value (CR/LF
// inserted, the standard base64 alphabet, a flipped trailing bit), and
// malformed values. An accepted value must also be exactly as encode
// spells it.

var (
	fuzzCurrentKey  = []byte("fuzz-current-key-0123456789abcdef0123")
	fuzzPreviousKey = []byte("fuzz-previous-key-0123456789abcdef012")
	fuzzUnknownKey  = []byte("fuzz-unknown-key-0123456789abcdef0123")
)

// fuzzLifetime keeps the committed seed cookies from expiring.
const fuzzLifetime = 100 * 365 * 24 * time.Hour

// fuzzToken is the i-th token of a set ("current", "previous", "unknown").
func fuzzToken(set string, i int) []byte {
	sum := sha256.Sum256([]byte(set + " token " + string(rune('0'+i))))
	return sum[:]
}

// fuzzTokens returns the first n tokens of set, by store id.
func fuzzTokens(set string, n int) map[string][]byte {
	out := map[string][]byte{}
	for i := range n {
		t := fuzzToken(set, i)
		out[idOf(t)] = t
	}
	return out
}

func FuzzCookieDecode(f *testing.F) {
	current := fuzzTokens("current", 3)
	previous := fuzzTokens("previous", 3)

	// The codecs that minted the seeds: current, previous and unknown key.
	mint := func(key []byte, token []byte) string {
		c, err := newCodec([][]byte{key}, fuzzLifetime)
		if err != nil {
			f.Fatal(err)
		}
		v, err := c.encode(token)
		if err != nil {
			f.Fatal(err)
		}
		return v
	}
	for _, t := range current {
		f.Add(mint(fuzzCurrentKey, t))
	}
	for _, t := range previous {
		f.Add(mint(fuzzPreviousKey, t))
	}
	f.Add(mint(fuzzUnknownKey, fuzzToken("unknown", 0)))
	f.Add("")

	// A manager over a real store holding a live record for every known
	// token, so Load can succeed for exactly those.
	store := kvtest.Memory(f)
	m, err := New(store, Config{
		Keys:        [][]byte{fuzzCurrentKey, fuzzPreviousKey},
		IdleTimeout: fuzzLifetime,
		MaxLifetime: fuzzLifetime,
	})
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now().UTC()
	for _, set := range []map[string][]byte{current, previous} {
		for id, t := range set {
			s := &Session{Record: Record{Username: "alice", CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(fuzzLifetime), UpdatedAt: now}, ID: id, token: t}
			if err := m.save(context.Background(), s); err != nil {
				f.Fatal(err)
			}
		}
	}

	f.Fuzz(func(t *testing.T, value string) {
		// The hand-written canonical-form check agrees with encoding/base64
		// (the empty value, though canonical base64, is no cookie).
		raw, err := base64.URLEncoding.DecodeString(value)
		if want := err == nil && value != "" && base64.URLEncoding.EncodeToString(raw) == value; Canonical(value) != want {
			t.Fatalf("Canonical(%q) = %v, want %v", value, !want, want)
		}

		// The codec alone.
		token, old, err := m.codec.decode(value)
		if err == nil {
			id := idOf(token)
			_, isCurrent := current[id]
			_, isPrevious := previous[id]
			switch {
			case !isCurrent && !isPrevious:
				t.Fatalf("decode accepted %q as a token no known key signed (%x)", value, token)
			case isCurrent && old, isPrevious && !old:
				t.Fatalf("decode of %q: old=%v, but the token was signed with the other key", value, old)
			}
			if raw, err := base64.URLEncoding.DecodeString(value); err != nil || base64.URLEncoding.EncodeToString(raw) != value {
				t.Fatalf("decode accepted %q, which is not how encode spells any value", value)
			}
		} else if token != nil {
			t.Fatalf("decode failed (%v) but returned a token", err)
		}

		// Load, with the value as the cookie of a plain-HTTP request, and
		// with the value as the whole raw Cookie header.
		for _, header := range []string{CookieName + "=" + value, value} {
			r := httptest.NewRequest(http.MethodGet, "/community", nil)
			r.Header.Set("Cookie", header)
			s, _, err := m.Load(context.Background(), r)
			if err != nil {
				if err != ErrNoSession {
					t.Fatalf("Load(Cookie: %q): %v, want ErrNoSession or a session", header, err)
				}
				if s != nil {
					t.Fatalf("Load(Cookie: %q) failed but returned a session", header)
				}
				continue
			}
			_, isCurrent := current[s.ID]
			_, isPrevious := previous[s.ID]
			if !isCurrent && !isPrevious {
				t.Fatalf("Load(Cookie: %q) returned session %s, which no known key signed", header, s.ID)
			}
			if len(s.token) != tokenBytes {
				t.Fatalf("Load returned a %d-byte token", len(s.token))
			}
		}
	})
}
