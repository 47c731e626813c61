package testredis

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"soulbridge/internal/testbin"
)

// HA is a primary, its replicas and Sentinels watching them, all real
// processes on loopback (Debian's redis-server and redis-sentinel), so that
// a test can force a failover, kill the primary and bring it back. Every
// node starts as Nodes[0]'s replica except Nodes[0]; the Sentinels know the
// nodes by their loopback addresses, which clients reach directly.
type HA struct {
	t         testing.TB
	Master    string // the master name the Sentinels monitor
	Nodes     []*Server
	sentinels []*sentinel
}

type sentinel struct {
	dir  string
	port int
	cmd  *exec.Cmd
}

func (s *sentinel) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// HAOptions tunes StartHA.
type HAOptions struct {
	Replicas  int // replicas of the first primary (at least 1)
	Sentinels int // at least 1; the quorum is a majority of them
	// DownAfter is how long the primary must not answer before the
	// Sentinels call it down and fail over (default 1 s).
	DownAfter time.Duration
}

// StartHA starts the nodes and the Sentinels and waits until every Sentinel
// knows every replica and (with several) every other Sentinel, so that a
// failover can start at once. It skips (fails under CI) without
// redis-server or redis-sentinel.
func StartHA(t testing.TB, o HAOptions) *HA {
	t.Helper()
	if _, err := exec.LookPath("redis-sentinel"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-sentinel is not installed (CI is set, so this fails instead of skipping): apt-get install redis-sentinel")
		}
		t.Skip("redis-sentinel is not installed: apt-get install redis-sentinel (Debian) to run this test")
	}
	if o.DownAfter <= 0 {
		o.DownAfter = time.Second
	}
	h := &HA{t: t, Master: "sbmaster"}
	primary := Start(t)
	h.Nodes = append(h.Nodes, primary)
	for range max(o.Replicas, 1) {
		h.Nodes = append(h.Nodes, startReplica(t, primary.Addr()))
	}
	quorum := max(o.Sentinels, 1)/2 + 1
	for range max(o.Sentinels, 1) {
		s := &sentinel{dir: t.TempDir(), port: testbin.FreePort(t)}
		conf := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
logfile %s
sentinel monitor %s 127.0.0.1 %d %d
sentinel down-after-milliseconds %s %d
sentinel failover-timeout %s 4000
sentinel parallel-syncs %s 1
`, s.port, s.dir, filepath.Join(s.dir, "sentinel.log"), h.Master, primary.port, quorum,
			h.Master, o.DownAfter.Milliseconds(), h.Master, h.Master)
		path := filepath.Join(s.dir, "sentinel.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		s.cmd = exec.Command("redis-sentinel", path)
		if err := s.cmd.Start(); err != nil {
			t.Fatalf("start redis-sentinel: %v", err)
		}
		t.Cleanup(func() {
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait()
		})
		h.sentinels = append(h.sentinels, s)
	}
	err := h.waitFor(20*time.Second, "every sentinel knowing every replica and every other sentinel", func(ctx context.Context) error {
		for _, s := range h.sentinels {
			c := redis.NewSentinelClient(&redis.Options{Addr: s.addr()})
			defer c.Close()
			reps, err := c.Replicas(ctx, h.Master).Result()
			if err != nil {
				return err
			}
			ok := 0
			for _, r := range reps {
				if !strings.Contains(r["flags"], "down") && !strings.Contains(r["flags"], "disconnected") {
					ok++
				}
			}
			if ok < len(h.Nodes)-1 {
				return fmt.Errorf("sentinel %s knows %d healthy replicas of %d", s.addr(), ok, len(h.Nodes)-1)
			}
			others, err := c.Sentinels(ctx, h.Master).Result()
			if err != nil {
				return err
			}
			if len(others) < len(h.sentinels)-1 {
				return fmt.Errorf("sentinel %s knows %d other sentinels of %d", s.addr(), len(others), len(h.sentinels)-1)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// startReplica starts a redis-server replicating primary.
func startReplica(t testing.TB, primary string) *Server {
	t.Helper()
	host, port, _ := net.SplitHostPort(primary)
	s := &Server{t: t, dir: t.TempDir(), port: testbin.FreePort(t),
		args: []string{"--replicaof", host, port, "--repl-diskless-sync-delay", "0"}}
	s.start()
	t.Cleanup(s.Kill)
	return s
}

// URL is the REDIS_URL naming the Sentinels (go-redis' failover URL form).
func (h *HA) URL() string {
	u := fmt.Sprintf("redis://%s/0?master_name=%s", h.sentinels[0].addr(), h.Master)
	for _, s := range h.sentinels[1:] {
		u += "&addr=" + s.addr()
	}
	return u
}

// Primary returns the node every Sentinel names as primary and that
// answers as one, waiting up to within for them to agree.
func (h *HA) Primary(within time.Duration) (*Server, error) {
	var found *Server
	err := h.waitFor(within, "the sentinels agreeing on a primary that answers as one", func(ctx context.Context) error {
		p, err := h.agreed(ctx)
		found = p
		return err
	})
	return found, err
}

// agreed returns the node every Sentinel names as primary, if they agree
// and it answers as primary.
func (h *HA) agreed(ctx context.Context) (*Server, error) {
	var addr string
	for _, s := range h.sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: s.addr()})
		a, err := c.GetMasterAddrByName(ctx, h.Master).Result()
		c.Close()
		if err != nil {
			return nil, err
		}
		got := net.JoinHostPort(a[0], a[1])
		if addr != "" && got != addr {
			return nil, fmt.Errorf("sentinels disagree: %s and %s", addr, got)
		}
		addr = got
	}
	for _, n := range h.Nodes {
		if n.Addr() != addr {
			continue
		}
		if role, _ := nodeRole(ctx, n); role != "master" {
			return nil, fmt.Errorf("%s, named primary, answers role %q", addr, role)
		}
		return n, nil
	}
	return nil, fmt.Errorf("sentinels name %s, no node of this test", addr)
}

// nodeRole is n's INFO replication role and master_link_status.
func nodeRole(ctx context.Context, n *Server) (role, link string) {
	if n.cmd == nil {
		return "", ""
	}
	c := redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return "", ""
	}
	for line := range strings.Lines(info) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		switch k {
		case "role":
			role = v
		case "master_link_status":
			link = v
		}
	}
	return role, link
}

// Failover forces a failover (SENTINEL FAILOVER, no agreement needed; the
// primary may be dead) and returns once the Sentinels agree on another
// primary that answers as one.
func (h *HA) Failover(within time.Duration) (from, to *Server, err error) {
	c := redis.NewSentinelClient(&redis.Options{Addr: h.sentinels[0].addr()})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	a, err := c.GetMasterAddrByName(ctx, h.Master).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("SENTINEL GET-MASTER-ADDR-BY-NAME: %w", err)
	}
	for _, n := range h.Nodes {
		if n.Addr() == net.JoinHostPort(a[0], a[1]) {
			from = n
		}
	}
	if err := c.Failover(ctx, h.Master).Err(); err != nil {
		return from, nil, fmt.Errorf("SENTINEL FAILOVER: %w%s", err, h.logs())
	}
	to, err = h.NewPrimary(from, within)
	return from, to, err
}

// NewPrimary waits until the Sentinels agree on a primary other than old.
func (h *HA) NewPrimary(old *Server, within time.Duration) (*Server, error) {
	var found *Server
	err := h.waitFor(within, "the sentinels agreeing on a new primary", func(ctx context.Context) error {
		p, err := h.agreed(ctx)
		if err == nil && p == old {
			err = fmt.Errorf("still %s", old.Addr())
		}
		found = p
		return err
	})
	return found, err
}

// StartAgainAsReplica starts a killed node again, empty, as a replica of
// the current primary (as an operator brings a failed node back).
func (h *HA) StartAgainAsReplica(n *Server, within time.Duration) error {
	p, err := h.Primary(within)
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(p.Addr())
	n.args = []string{"--replicaof", host, port, "--repl-diskless-sync-delay", "0"}
	n.start()
	return nil
}

// WaitReplicated waits until every running node but the primary replicates
// it with its link up, and every Sentinel sees them so.
func (h *HA) WaitReplicated(within time.Duration) error {
	return h.waitFor(within, "every running replica's link to the primary up", func(ctx context.Context) error {
		p, err := h.agreed(ctx)
		if err != nil {
			return err
		}
		for _, n := range h.Nodes {
			if n == p || n.cmd == nil {
				continue
			}
			if role, link := nodeRole(ctx, n); role != "slave" || link != "up" {
				return fmt.Errorf("%s: role %q link %q", n.Addr(), role, link)
			}
		}
		return nil
	})
}

// waitFor retries check until it returns nil or within has passed, then
// returns its last error with the Sentinels' logs.
func (h *HA) waitFor(within time.Duration, what string, check func(context.Context) error) error {
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := check(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting %s for %s: %w%s", within, what, err, h.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logs is the tail of every Sentinel's log, for a failure message.
func (h *HA) logs() string {
	var b strings.Builder
	for _, s := range h.sentinels {
		log, _ := os.ReadFile(filepath.Join(s.dir, "sentinel.log"))
		lines := strings.Split(strings.TrimSpace(string(log)), "\n")
		fmt.Fprintf(&b, "\nsentinel %s, last lines:\n%s", s.addr(), strings.Join(lines[max(0, len(lines)-30):], "\n"))
	}
	return b.String()
}
