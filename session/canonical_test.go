package session_test

import (
	"encoding/base64"
	"testing"

	"soulbridge/session"
)

// Canonical accepts exactly what base64.URLEncoding writes: every character
// of the URL-safe alphabet, padding, zero trailing bits; nothing else.
func TestCanonical(t *testing.T) {
	// Every byte value, so every alphabet character appears, in lengths
	// that end with no, one and two padding characters.
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, n := range []int{1, 2, 3, 254, 255, 256} {
		v := base64.URLEncoding.EncodeToString(all[:n])
		if !session.Canonical(v) {
			t.Errorf("Canonical(encoding of %d bytes) = false, want true", n)
		}
	}
	for _, tc := range []struct{ name, value string }{
		{"empty", ""},
		{"length not a multiple of 4", "QUJD" + "QQ"},
		{"standard alphabet plus", "ab+d"},
		{"standard alphabet slash", "ab/d"},
		{"space", "ab d"},
		{"newline", "QUJD\nQUJD"},
		{"one pad, trailing bits set", "QUJ="},
		{"two pads, trailing bits set", "QR=="},
		{"padding inside", "Q=JD"},
		{"three pads", "Q==="},
	} {
		if session.Canonical(tc.value) {
			t.Errorf("%s: Canonical(%q) = true, want false", tc.name, tc.value)
		}
	}
	// The two trailing-bit cases are the spellings of valid values with
	// only those bits changed: the valid ones pass.
	for _, v := range []string{"QUI=", "QQ=="} {
		if !session.Canonical(v) {
			t.Errorf("Canonical(%q) = false, want true", v)
		}
	}
}
