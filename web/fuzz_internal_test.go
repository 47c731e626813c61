package web

import (
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzSafeNext: the log-in's "next" check never panics and returns either
// "" or its input unchanged, and then only a local path: it starts with a
// single "/" not followed by "/" or "\", has no scheme, host or user info,
// no control character (C0, DEL or C1) and no invalid UTF-8, resolves
// against the site to the site itself, and passes the check again.
// Seeds: testdata/fuzz/FuzzSafeNext (open-redirect variants: //evil,
// /\evil, /%2F%2Fevil, https:evil, tabs and newlines, Unicode lookalikes
// of "/" and ".", a huge input).
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/community", "//evil.example", "/\\evil.example", "https:evil.example", "/a?b=c#d"} {
		f.Add(s)
	}
	site, _ := url.Parse("https://site.example/login")
	f.Fuzz(func(t *testing.T, in string) {
		out := safeNext(in)
		if out == "" {
			return
		}
		if out != in {
			t.Fatalf("safeNext(%q) = %q: neither \"\" nor the input", in, out)
		}
		if out[0] != '/' || len(out) > 1 && (out[1] == '/' || out[1] == '\\') {
			t.Fatalf("safeNext accepted %q: not a single leading slash", out)
		}
		if !utf8.ValidString(out) {
			t.Fatalf("safeNext accepted %q: invalid UTF-8", out)
		}
		if strings.ContainsFunc(out, unicode.IsControl) || strings.Contains(out, "\\") {
			t.Fatalf("safeNext accepted %q: control character or backslash", out)
		}
		u, err := url.Parse(out)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
			t.Fatalf("safeNext accepted %q: parses as %#v, %v", out, u, err)
		}
		if got := site.ResolveReference(u); got.Scheme != "https" || got.Host != "site.example" || got.User != nil {
			t.Fatalf("safeNext accepted %q: resolves to %s, off the site", out, got)
		}
		if again := safeNext(out); again != out {
			t.Fatalf("not stable: safeNext(%q) = %q", out, again)
		}
	})
}
