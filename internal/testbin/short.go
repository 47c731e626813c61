package testbin

import "testing"

// SkipShort skips the test under go test -short: the real-binary and
// browser suites take a minute or more, and -short is for the quick tests.
// Binary calls it, so every test that builds or starts the binary is
// skipped; call it directly in a test of those suites that does not.
func SkipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("real-binary test: skipped by -short (run go test ./... for the whole suite)")
	}
}
