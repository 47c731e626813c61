//go:build fault_touch

package session

import "time"

// defaultTouchInterval is one second in a build with the fault_touch tag
// (test builds only, never a release): e2e's TestFault, built with
// FAULT_TAGS=fault_touch, runs a minute, and with the release's 5 minutes
// no session would be renewed in it (issue 16 row 2, a renewal that beats
// a log-out, needs renewals).
const defaultTouchInterval = time.Second
