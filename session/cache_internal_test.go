package session

import (
	"fmt"
	"testing"
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
