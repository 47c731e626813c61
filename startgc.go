package main

import (
	"runtime/debug"
	"sync"
	"time"
)

// Start-up without garbage collection.
//
// With the collector's default pacing the first collection comes when the
// heap reaches 4 MB, which opening the store passes within milliseconds; on
// the small VMs this runs on, that one collection (its stop-the-world
// pauses, its mark work on two cores, the page faults of its first use of
// its own structures) was about 6 ms of a 25–30 ms start-up, before the
// port was bound. The heap at that point is under 10 MB and mostly live.
// So the collector is held off from "starting" until shortly after the
// port is bound, under a soft memory limit (a start-up that allocates more,
// such as the one-off index build of a store from an older release, is
// collected as usual once it reaches it), then the operator's GOGC and
// GOMEMLIMIT are put back and the start-up's garbage is collected and
// returned to the system, so the idle footprint is what it was.

// startupHeapLimit is the soft memory limit while the collector is held
// off: several times what a start-up uses, a fraction of the smallest
// container soulbridge is sized for. A lower GOMEMLIMIT wins.
const startupHeapLimit = 32 << 20

// releaseGCAfter is how long after the port is bound the collector is
// given back: the first requests (a platform's health check) are answered
// before the deferred collection runs.
const releaseGCAfter = time.Second

// gcHold counts the holds in this process (serve runs once per process,
// but tests run it several times, some at once): the first saves the
// settings, the last release restores them.
var gcHold struct {
	sync.Mutex
	n       int
	percent int
	limit   int64
}

// holdGC turns the collector's pacing off under startupHeapLimit and
// returns the function that gives it back. That function is safe to call
// more than once and from any goroutine; only its first call counts.
func holdGC() (release func()) {
	gcHold.Lock()
	if gcHold.n == 0 {
		gcHold.limit = debug.SetMemoryLimit(-1) // -1 reads it
		gcHold.percent = debug.SetGCPercent(-1)
		debug.SetMemoryLimit(min(gcHold.limit, startupHeapLimit))
	}
	gcHold.n++
	gcHold.Unlock()

	var once sync.Once
	return func() {
		once.Do(func() {
			gcHold.Lock()
			gcHold.n--
			last := gcHold.n == 0
			if last {
				debug.SetGCPercent(gcHold.percent)
				debug.SetMemoryLimit(gcHold.limit)
			}
			gcHold.Unlock()
			if last {
				debug.FreeOSMemory() // collect the start-up's garbage, return the pages
			}
		})
	}
}
