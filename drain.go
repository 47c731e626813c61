package main

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// connInfo is a connection's state and since when it has been new.
type connInfo struct {
	state atomic.Int32 // an http.ConnState
	since time.Time    // when it was accepted (written once, before it is shared)
}

// connTracker follows the server's connections (http.Server.ConnState) for
// the drain on shutdown. A connection is added once and removed once; its
// state changes twice per request (active, idle), which costs a lock-free
// map read and an atomic store, not a lock every request takes.
type connTracker struct {
	conns sync.Map // net.Conn → *connInfo
}

func (c *connTracker) track(conn net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		ci := &connInfo{since: time.Now()}
		ci.state.Store(int32(st))
		c.conns.Store(conn, ci)
	case http.StateClosed, http.StateHijacked:
		c.conns.Delete(conn)
	default:
		if v, ok := c.conns.Load(conn); ok {
			v.(*connInfo).state.Store(int32(st))
		}
	}
}

// waitQuiet waits until no request is in flight and no connection accepted
// less than a second ago is still to send its request (an idle preconnect
// older than that is not waited for), or until deadline. It reports whether
// it got quiet in time.
func (c *connTracker) waitQuiet(deadline time.Time) bool {
	for {
		busy := false
		now := time.Now()
		c.conns.Range(func(_, v any) bool {
			ci := v.(*connInfo)
			st := http.ConnState(ci.state.Load())
			if st == http.StateActive || st == http.StateNew && now.Sub(ci.since) < time.Second {
				busy = true
				return false
			}
			return true
		})
		if !busy {
			return true
		}
		if now.After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
