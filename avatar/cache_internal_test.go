package avatar

import (
	"fmt"
	"testing"
)

// TestDecodedCache: the same bytes are not decoded again; other bytes are;
// the memo stays bounded.
func TestDecodedCache(t *testing.T) {
	d := newDecodedCache()
	raw := []byte(`{"username":"alice","avatar":"owl","updated_at":"2026-12-01T00:00:00Z"}`)
	if c, err := d.choice("alice", raw); err != nil || c.Avatar != "owl" {
		t.Fatalf("choice = %+v, %v", c, err)
	}
	// Plant a different decoded form for the same bytes: only a memo hit
	// can return it.
	d.entries["alice"] = decodedChoice{raw: raw, c: Choice{Username: "alice", Avatar: "memo"}}
	if c, _ := d.choice("alice", append([]byte(nil), raw...)); c.Avatar != "memo" {
		t.Fatalf("equal bytes were decoded again (got %q)", c.Avatar)
	}
	if c, _ := d.choice("alice", []byte(`{"username":"alice","avatar":"fox"}`)); c.Avatar != "fox" {
		t.Fatalf("changed bytes gave %q", c.Avatar)
	}
	if _, err := d.choice("bad", []byte(`{`)); err == nil {
		t.Fatal("a garbled record decoded")
	}
	for i := range 2 * maxDecoded {
		d.choice(fmt.Sprint(i), raw)
	}
	if len(d.entries) > maxDecoded {
		t.Fatalf("%d entries kept, bound %d", len(d.entries), maxDecoded)
	}
}
