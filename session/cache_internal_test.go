package session

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// TestDecodedCache: the same bytes are not decoded again; other bytes are;
// the memo stays bounded.
func TestDecodedCache(t *testing.T) {
	c := newDecodedCache()
	raw := []byte(`{"username":"alice"}`)
	if rec, err := c.record("id", raw); err != nil || rec.Username != "alice" {
		t.Fatalf("record = %+v, %v", rec, err)
	}
	// Plant a different decoded form for the same bytes: only a memo hit
	// can return it.
	c.entries["id"] = decoded{raw: raw, rec: Record{Username: "memo"}}
	if rec, _ := c.record("id", []byte(`{"username":"alice"}`)); rec.Username != "memo" {
		t.Fatalf("equal bytes were decoded again (got %q)", rec.Username)
	}
	if rec, _ := c.record("id", []byte(`{"username":"bob"}`)); rec.Username != "bob" {
		t.Fatalf("changed bytes gave %q", rec.Username)
	}
	if _, err := c.record("bad", []byte(`{`)); err == nil {
		t.Fatal("a garbled record decoded")
	}
	if _, ok := c.entries["bad"]; ok {
		t.Fatal("a garbled record was remembered")
	}
	for i := range 2 * maxDecoded {
		c.record(fmt.Sprint(i), raw)
	}
	if len(c.entries) > maxDecoded {
		t.Fatalf("%d entries kept, bound %d", len(c.entries), maxDecoded)
	}
	c.forget("id")
	if _, ok := c.entries["id"]; ok {
		t.Fatal("forget kept the entry")
	}
}

// TestTokenCache: a remembered cookie value is used until the second
// securecookie would refuse it, never after; values that are not
// securecookie's are not remembered.
func TestTokenCache(t *testing.T) {
	c, err := newCodec([][]byte{[]byte("key-0123456789abcdef0123456789abcdef")}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	token := bytes.Repeat([]byte{7}, tokenBytes)
	value, err := c.encode(token)
	if err != nil {
		t.Fatal(err)
	}
	tc := newTokenCache()
	if _, ok := tc.get(value); ok {
		t.Fatal("an unknown value was found")
	}
	now := time.Now().Unix()
	tc.put(value, decodedToken{token: token, key: KeyPrefix + idOf(token)}, time.Hour)
	d, ok := tc.get(value)
	if !ok || !bytes.Equal(d.token, token) || d.key != KeyPrefix+idOf(token) {
		t.Fatalf("get = %+v, %v", d, ok)
	}
	if d.validUntil < now+3600-2 || d.validUntil > now+3600+2 {
		t.Fatalf("valid until %d, want about %d (the cookie's date plus the max age)", d.validUntil, now+3600)
	}
	d.validUntil = now - 1
	tc.entries[value] = d
	if _, ok := tc.get(value); ok {
		t.Fatal("a value past its max age was used")
	}
	tc.put("not-a-cookie!", decodedToken{}, time.Hour)
	if _, ok := tc.entries["not-a-cookie!"]; ok {
		t.Fatal("a value without a date was remembered")
	}
	for i := range 2 * maxTokens {
		tok := fmt.Appendf(nil, "%032d", i)
		v, err := c.encode(tok)
		if err != nil {
			t.Fatal(err)
		}
		tc.put(v, decodedToken{}, time.Hour)
	}
	if len(tc.entries) > maxTokens || len(tc.entries) < maxTokens/2 {
		t.Fatalf("%d entries kept, bound %d", len(tc.entries), maxTokens)
	}
}
