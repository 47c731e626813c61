package main

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// connInfo is a connection's state and since when it has been in it.
type connInfo struct {
	state http.ConnState
	since time.Time
}

// connTracker follows the server's connections (http.Server.ConnState) for
// the drain on shutdown.
type connTracker struct {
	mu    sync.Mutex
	conns map[net.Conn]connInfo
}

func (c *connTracker) track(conn net.Conn, st http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st == http.StateClosed || st == http.StateHijacked {
		delete(c.conns, conn)
		return
	}
	c.conns[conn] = connInfo{st, time.Now()}
}

// waitQuiet waits until no request is in flight and no connection accepted
// less than a second ago is still to send its request (an idle preconnect
// older than that is not waited for), or until deadline. It reports whether
// it got quiet in time.
func (c *connTracker) waitQuiet(deadline time.Time) bool {
	for {
		busy := false
		now := time.Now()
		c.mu.Lock()
		for _, ci := range c.conns {
			if ci.state == http.StateActive || ci.state == http.StateNew && now.Sub(ci.since) < time.Second {
				busy = true
				break
			}
		}
		c.mu.Unlock()
		if !busy {
			return true
		}
		if now.After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
