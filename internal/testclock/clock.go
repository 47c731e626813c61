// Package testclock is the one fake clock the unit tests share: a time that
// moves only when a test advances it, safe for concurrent use.
package testclock

import (
	"sync"
	"time"
)

// Start is where every new Clock begins: a fixed UTC instant, so test
// output does not depend on the day it runs.
var Start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Clock is a manual clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a Clock at Start.
func New() *Clock { return &Clock{t: Start} }

// Now returns the clock's time; pass it where a Now func is configured.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// NewAt returns a Clock at t.
func NewAt(t time.Time) *Clock { return &Clock{t: t} }
