package auth_test

import (
	"errors"
	"strings"
	"testing"

	"soulbridge/auth"
)

// FuzzNormalizeUsername: never panics; an accepted name is 3–32 characters
// of a-z, 0-9, '_' and '-', is the input trimmed and lower-cased, and
// normalises to itself; a refused one is a *ValidationError for the
// username field. Seeds: testdata/fuzz/FuzzNormalizeUsername (Unicode
// case-mapping traps such as "İ" and the Kelvin sign, lookalikes,
// whitespace, boundaries, a huge input).
func FuzzNormalizeUsername(f *testing.F) {
	for _, s := range []string{"alice", "  Bob_1-x  ", "ab", "KELVIN", "\u212aelvin", "\u0130stanbul"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := auth.NormalizeUsername(in)
		if err != nil {
			var ve *auth.ValidationError
			if !errors.As(err, &ve) || ve.Field != "username" || !errors.Is(err, auth.ErrInvalid) {
				t.Fatalf("NormalizeUsername(%q): error %v is not a username *ValidationError", in, err)
			}
			if out != "" {
				t.Fatalf("NormalizeUsername(%q) refused but returned %q", in, out)
			}
			return
		}
		if len(out) < auth.MinUsername || len(out) > auth.MaxUsername {
			t.Fatalf("NormalizeUsername(%q) = %q: %d bytes, want %d–%d", in, out, len(out), auth.MinUsername, auth.MaxUsername)
		}
		for i := 0; i < len(out); i++ {
			c := out[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				t.Fatalf("NormalizeUsername(%q) = %q: byte %q outside [a-z0-9_-]", in, out, c)
			}
		}
		if want := strings.ToLower(strings.TrimSpace(in)); out != want {
			t.Fatalf("NormalizeUsername(%q) = %q, want the trimmed lower-cased input %q", in, out, want)
		}
		again, err := auth.NormalizeUsername(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: NormalizeUsername(%q) = %q, %v; want %q", out, again, err, out)
		}
	})
}
