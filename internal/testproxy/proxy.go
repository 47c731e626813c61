// Package testproxy is a loopback TCP proxy for fault tests: it stands
// between a client (a soulbridge instance) and a server (redis-server) and
// can pass the bytes, cut the link, hang it or stall it, switched at any
// moment from another goroutine. It is test support only.
//
// The modes:
//
//   - Pass forwards bytes both ways as they come.
//   - Cut closes every open connection and closes each new one as soon as it
//     is accepted (the client sees its connection reset or ended).
//   - Hang accepts connections and forwards nothing, in either direction,
//     until the mode changes; what was held back is then forwarded (Pass or
//     Stall) or dropped with the connection (Cut, Close). A peer that stops
//     answering without closing: a frozen server or a lost route.
//   - Stall forwards every chunk of bytes after a delay, in order: a slow
//     or congested link, on which a command can time out at the client and
//     still be applied at the server later.
package testproxy

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// Mode is what the proxy does with the bytes.
type Mode int

// The modes (see the package documentation).
const (
	Pass Mode = iota
	Cut
	Hang
	Stall
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Cut:
		return "cut"
	case Hang:
		return "hang"
	case Stall:
		return "stall"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// dialTimeout bounds the dial to the upstream server.
const dialTimeout = time.Second

// Proxy forwards connections from its loopback address to one upstream
// address. Its methods are safe for concurrent use.
type Proxy struct {
	ln       net.Listener
	upstream string

	mu      sync.Mutex
	mode    Mode
	delay   time.Duration
	changed chan struct{} // closed and replaced on every mode change
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// New listens on 127.0.0.1 (a free port) and forwards every connection to
// upstream (host:port), in mode Pass.
func New(upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		ln:       ln,
		upstream: upstream,
		changed:  make(chan struct{}),
		conns:    make(map[net.Conn]struct{}),
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's address, 127.0.0.1:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Pass forwards bytes as they come (what was held by Hang goes through).
func (p *Proxy) Pass() { p.set(Pass, 0) }

// Cut closes every open connection and refuses new ones until the mode
// changes.
func (p *Proxy) Cut() { p.set(Cut, 0) }

// Hang holds every byte, both ways, until the mode changes.
func (p *Proxy) Hang() { p.set(Hang, 0) }

// Stall forwards every chunk of bytes d after it was read.
func (p *Proxy) Stall(d time.Duration) { p.set(Stall, d) }

// Mode returns the current mode and, for Stall, the delay.
func (p *Proxy) Mode() (Mode, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.delay
}

func (p *Proxy) set(m Mode, d time.Duration) {
	p.mu.Lock()
	p.mode, p.delay = m, d
	close(p.changed)
	p.changed = make(chan struct{})
	var cut []net.Conn
	if m == Cut {
		for c := range p.conns {
			cut = append(cut, c)
		}
	}
	p.mu.Unlock()
	for _, c := range cut {
		c.Close()
	}
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.set(Cut, 0) // closes the open connections and wakes held pumps
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// track adds c to the open connections, or reports false (and closes c)
// when the proxy cuts or is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.mode == Cut {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// serve forwards one client connection to a new upstream connection.
func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	server, err := net.DialTimeout("tcp", p.upstream, dialTimeout)
	if err != nil {
		return // the upstream is down: the client sees its connection end
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	done := make(chan struct{}, 2)
	go func() { p.pump(server, client); done <- struct{}{} }()
	go func() { p.pump(client, server); done <- struct{}{} }()
	<-done
	// One direction ended: end both (the deferred untracks close them).
	client.Close()
	server.Close()
	<-done
}

// pump copies src to dst chunk by chunk, each chunk held or delayed as the
// mode says when it was read.
func (p *Proxy) pump(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or closed: serve ends both directions
		}
	}
}

// wait blocks while the proxy hangs, sleeps the stall delay, and reports
// whether the chunk may be forwarded (false once the link is cut or the
// proxy closed).
func (p *Proxy) wait() bool {
	for {
		p.mu.Lock()
		m, d, changed, closed := p.mode, p.delay, p.changed, p.closed
		p.mu.Unlock()
		switch {
		case closed || m == Cut:
			return false
		case m == Hang:
			<-changed
		case m == Stall:
			select {
			case <-time.After(d):
				return true
			case <-changed:
				// Re-read the mode: a cut drops the chunk, a pass sends it now.
			}
		default:
			return true
		}
	}
}
