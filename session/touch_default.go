//go:build !fault_touch

package session

import "time"

// defaultTouchInterval is Config.TouchInterval when it is 0. A build with
// the fault_touch tag (touch_fault.go; never a release build) renews every
// second instead.
const defaultTouchInterval = 5 * time.Minute
