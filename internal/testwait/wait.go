// Package testwait has the one polling helper the tests share.
package testwait

import (
	"testing"
	"time"
)

// Until polls cond every 10 ms until it holds, failing the test if it
// still does not after within.
func Until(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
