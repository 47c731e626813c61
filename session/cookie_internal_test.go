package session

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
)

// requestCookie must read the Cookie header exactly as r.Cookie does (it
// replaces it on the hot path only to skip the allocations): the same value
// for every header, including duplicates, quotes, bytes a value cannot hold,
// blanks around names and values, several Cookie lines, and more cookies
// than net/http's limit.
func TestRequestCookieMatchesNetHTTP(t *testing.T) {
	cases := [][]string{
		nil,
		{""},
		{"sb_session=abc"},
		{"  sb_session=abc  "},
		{"a=1; sb_session=abc; b=2"},
		{"a=1;sb_session=abc;b=2"},
		{"sb_session =abc"},
		{" sb_session= abc"},
		{"sb_session=abc ; sb_session=def"},
		{"sb_session=; sb_session=def"},
		{"sb_session=a\\b; sb_session=def"},
		{"sb_session=a\"b; sb_session=def"},
		{"sb_session=\"abc\""},
		{"sb_session=\"\""},
		{"sb_session=\""},
		{"sb_session=\"abc"},
		{"sb_session=a b"},
		{"sb_session=a,b"},
		{"sb_session=a\x7fb; sb_session=ok"},
		{"sb_session=caf\xc3\xa9; sb_session=ok"},
		{"sb_session"},
		{"sb_session; sb_session=x"},
		{"Sb_session=abc"},
		{"__Host-sb_session=abc; sb_session=def"},
		{"x=1", "sb_session=second-line"},
		{"sb_session=first", "sb_session=second"},
		{"sb_session=a=b=c"},
		{";;; sb_session=abc ;;"},
		{"\tsb_session=abc\t"},
		{strings.Repeat("a=1;", maxCookies-1) + "sb_session=at-the-limit"},
		{strings.Repeat("a=1;", maxCookies) + "sb_session=past-the-limit"},
	}
	// And random headers built from the pieces that matter.
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"sb_session", "__Host-sb_session", "x", "=", ";", " ", "\t", "\"", "\\", ",", "abc", "A-_", "\x00", "\x7f", "\xc3\xa9"}
	for range 20000 {
		var lines []string
		for range 1 + rng.IntN(2) {
			var b strings.Builder
			for range rng.IntN(12) {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			}
			lines = append(lines, b.String())
		}
		cases = append(cases, lines)
	}
	for _, lines := range cases {
		h := http.Header{}
		if lines != nil {
			h["Cookie"] = lines
		}
		r := &http.Request{Header: h}
		for _, name := range []string{CookieName, SecureCookieName} {
			want := ""
			if c, err := r.Cookie(name); err == nil {
				want = c.Value
			}
			if got := requestCookie(h, name); got != want {
				t.Fatalf("Cookie %q, name %s: requestCookie = %q, r.Cookie = %q", lines, name, got, want)
			}
		}
	}
}

// The point of requestCookie: finding the session cookie allocates nothing.
func TestRequestCookieAllocatesNothing(t *testing.T) {
	h := http.Header{"Cookie": {"theme=dark; sb_session=MTc5NjA5ODQ4NnwxLU44ZnM3dTgy; lang=en"}}
	var got string
	allocs := testing.AllocsPerRun(100, func() { got = requestCookie(h, CookieName) })
	if got != "MTc5NjA5ODQ4NnwxLU44ZnM3dTgy" || allocs != 0 {
		t.Fatalf("requestCookie = %q with %.0f allocations, want the value with 0", got, allocs)
	}
}
