package auth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"soulbridge/auth"
	"soulbridge/internal/testredis"
	"soulbridge/internal/testwait"
	"soulbridge/kv"
	"soulbridge/kv/kvtest"
)

// Issue 16, row 6: a successful log-in never leaves a count behind in the
// shared counters, whatever fails between its reservation and its verdict,
// and a give-back sent twice never takes a real failure away. Each test
// ends by asking a fresh instance (its own local counters empty) how many
// wrong passwords the address still gets: exactly what the failures
// counted while Redis was up leave.

// testHold is the shared reservations' lifetime in these tests: far above
// a hash at fastParams, short enough to wait out.
const testHold = time.Second

// hookStore is an instance's store with a hook run after each Get: the
// log-in reads the account after its reservation and before its hash, so
// the hook is a fault injected between the two.
type hookStore struct {
	*kv.Mirror
	after atomic.Pointer[func(key string)]
}

func (h *hookStore) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := h.Mirror.Get(ctx, key)
	if f := h.after.Load(); f != nil {
		(*f)(key)
	}
	return b, err
}

func (h *hookStore) onGet(f func(key string)) { h.after.Store(&f) }

// leakInstance is an instance whose link to Redis goes through url (a
// proxy, or Redis itself), with the hook on its store.
func leakInstance(t *testing.T, url string) (*auth.Service, *hookStore) {
	t.Helper()
	m := kvtest.Mirror(t, "t:", kv.MirrorOptions{URL: url, Persistent: true})
	h := &hookStore{Mirror: m}
	s, err := auth.New(h, auth.Config{Hasher: newHasher(t), Shared: m, SharedHold: testHold})
	if err != nil {
		t.Fatal(err)
	}
	return s, h
}

// allowance counts the wrong passwords a fresh instance answers for ip
// before it throttles it (at most IPLimit+2).
func allowance(t *testing.T, url, ip string) int {
	t.Helper()
	s, _ := leakInstance(t, url)
	ctx := context.Background()
	for n := 0; n < auth.IPLimit+2; n++ {
		_, err := s.LogIn(ctx, "alice", "wrong password", ip)
		var th *auth.ThrottledError
		switch {
		case errors.As(err, &th):
			if th.RetryAfter <= 0 || th.RetryAfter > auth.Window {
				t.Fatalf("Retry-After %v", th.RetryAfter)
			}
			return n
		case !errors.Is(err, auth.ErrBadCredentials):
			t.Fatalf("wrong password %d: %v", n+1, err)
		}
	}
	return auth.IPLimit + 2
}

func waitUp(t *testing.T, m *kv.Mirror) {
	t.Helper()
	testwait.Until(t, 10*time.Second, "the mirror up again", func() bool { return m.Status() == "ok" })
}

// TestSharedCountLinkCutDuringHash: the instance's link to Redis is cut
// after the reservation, while the password is checked; the log-in
// succeeds, its give-back cannot reach Redis. Once the link is back and the
// reservation's hold has passed, the address has its whole allowance.
func TestSharedCountLinkCutDuringHash(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a reservation hold (1.5 s): skipped by -short")
	}
	srv := testredis.Start(t)
	p := startLinkProxy(t, srv.Addr())
	s, h := leakInstance(t, p.URL())
	signUp(t, s, "alice", pw)
	const ip = "203.0.113.61"
	h.onGet(func(key string) {
		if key == "user:alice" {
			p.Cut()
		}
	})
	if _, err := s.LogIn(context.Background(), "alice", pw, ip); err != nil {
		t.Fatalf("log-in with the link cut during its hash: %v", err)
	}
	h.onGet(func(string) {})
	p.Heal()
	waitUp(t, h.Mirror)
	time.Sleep(testHold + 300*time.Millisecond)
	if n := allowance(t, srv.URL(), ip); n != auth.IPLimit {
		t.Fatalf("after a success whose give-back was lost: %d wrong passwords allowed, want %d (a success left a count behind)", n, auth.IPLimit)
	}
}

// TestSharedCountInstanceDiesDuringHash: the instance never reaches a
// verdict (killed while hashing: here the attempt just never returns); its
// reservation ends by itself.
func TestSharedCountInstanceDiesDuringHash(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a reservation hold (1.5 s): skipped by -short")
	}
	srv := testredis.Start(t)
	s, h := leakInstance(t, srv.URL())
	signUp(t, s, "alice", pw)
	const ip = "203.0.113.62"
	hung, reached := make(chan struct{}), make(chan struct{}, 2)
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(hung) }) })
	h.onGet(func(key string) {
		if key == "user:alice" {
			reached <- struct{}{}
			<-hung
		}
	})
	for range 2 { // two log-ins hashing when the instance dies
		go s.LogIn(context.Background(), "alice", pw, ip) //nolint:errcheck // it never returns in time
	}
	<-reached
	<-reached
	time.Sleep(testHold + 300*time.Millisecond)
	if n := allowance(t, srv.URL(), ip); n != auth.IPLimit {
		t.Fatalf("after an instance died with 2 log-ins hashing: %d wrong passwords allowed, want %d", n, auth.IPLimit)
	}
}

// TestSharedCountReserveAppliedLate: Redis stalls while an attempt reserves
// (a frozen Redis, or a stalled link); the instance gives up on it, counts
// locally and the log-in succeeds; the reservation reaches Redis later
// anyway (the command was sent). It must not stay counted. This is the
// INCR of the old design: sent once in MULTI/EXEC (go-redis never resends a
// transaction after it was written), applied when Redis resumed.
func TestSharedCountReserveAppliedLate(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a reservation hold (1.8 s): skipped by -short")
	}
	srv := testredis.Start(t)
	s, h := leakInstance(t, srv.URL())
	signUp(t, s, "alice", pw)
	const ip = "203.0.113.63"
	srv.Pause()
	_, err := s.LogIn(context.Background(), "alice", pw, ip)
	srv.Resume()
	if err != nil {
		t.Fatalf("log-in while Redis stalled: %v", err)
	}
	waitUp(t, h.Mirror)
	time.Sleep(testHold + 300*time.Millisecond)
	if n := allowance(t, srv.URL(), ip); n != auth.IPLimit {
		t.Fatalf("after a success whose reservation was applied late: %d wrong passwords allowed, want %d", n, auth.IPLimit)
	}
}

// TestSharedCountGiveBackResent: one real failure is counted; then a
// success's give-back stalls (Redis frozen while the password was checked):
// go-redis resends the script on its read timeout (MaxRetries 1 in
// kv.failFast: two sends), and Redis runs both when it resumes. The
// failure must still count.
func TestSharedCountGiveBackResent(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a reservation hold (1.8 s): skipped by -short")
	}
	srv := testredis.Start(t)
	s, h := leakInstance(t, srv.URL())
	signUp(t, s, "alice", pw)
	ctx := context.Background()
	const ip = "203.0.113.64"
	// Successes first, so the give-back's script is loaded in Redis (a
	// resent EVALSHA of an unknown script would change nothing), and
	// concurrent ones, so the instance's pool holds idle connections, as
	// it does under load: the resend goes out on one of them (on a new
	// connection it would wait behind the handshake and never be sent).
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			if _, err := s.LogIn(ctx, "alice", pw, fmt.Sprintf("198.51.100.%d", i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if _, err := s.LogIn(ctx, "alice", "wrong password", ip); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	h.onGet(func(key string) {
		if key == "user:alice" {
			srv.Pause()
		}
	})
	_, err := s.LogIn(ctx, "alice", pw, ip)
	h.onGet(func(string) {})
	srv.Resume()
	if err != nil {
		t.Fatalf("log-in with Redis frozen during its hash: %v", err)
	}
	waitUp(t, h.Mirror)
	time.Sleep(testHold + 300*time.Millisecond)
	if n := allowance(t, srv.URL(), ip); n != auth.IPLimit-1 {
		t.Fatalf("1 failure counted, then a give-back resent: %d wrong passwords allowed, want %d", n, auth.IPLimit-1)
	}
}

// linkProxy forwards TCP connections to Redis; Cut drops them all and
// refuses new ones until Heal, while Redis keeps its data: an instance's
// own link going down.
type linkProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

func startLinkProxy(t *testing.T, target string) *linkProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &linkProxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	t.Cleanup(func() { ln.Close(); p.Cut() })
	go p.serve()
	return p
}

func (p *linkProxy) URL() string { return "redis://" + p.ln.Addr().String() + "/0" }

func (p *linkProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

func (p *linkProxy) forward(c net.Conn) {
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.mu.Unlock()
	r, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		c.Close()
		r.Close()
		return
	}
	p.conns[c], p.conns[r] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { _, _ = io.Copy(r, c); r.Close(); c.Close() }()
	_, _ = io.Copy(c, r)
	c.Close()
	r.Close()
}

// Cut closes every forwarded connection and refuses new ones.
func (p *linkProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Heal lets connections through again.
func (p *linkProxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}
