package e2e

// TestFaultSentinel: issue 20's failover under load. A primary, a replica
// and three Sentinels on loopback (internal/testredis.HA); three instances
// of the real binary whose REDIS_URL names the Sentinels (go-redis' failover
// URL form), so they follow the primary as the Sentinels name it, reaching
// every node directly at the address the Sentinels announce. The fault
// test's users (fault_user_test.go) run while the schedule below forces a
// failover (SENTINEL FAILOVER: the replica promoted, the old primary
// demoted; writes it acknowledged in between are lost), then kills the new
// primary with -9 (the Sentinels promote the demoted one) and brings it
// back as a replica. Then the fault test's checks (fault_check_test.go,
// fault_reads_test.go): no acknowledged end undone, no acknowledged log-in
// lost, avatars the last acknowledged write, the instances agree, no
// throttle count left by successful log-ins.
//
// The replicated epoch key hides such a loss, so without the push-back to
// a new primary (kv/failover.go) this fails: sessions and avatars written
// in the window answer as before them.
//
// FAULT_SEED, FAULT_USERS and FAULT_DURATION (default 25s) as for TestFault.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testproxy"
	"soulbridge/internal/testredis"
)

// sentinelFaultDuration is the load's default length: both failovers and
// the node's return fit in it with a quiet spell after each.
const sentinelFaultDuration = 25 * time.Second

func TestFaultSentinel(t *testing.T) {
	testbin.SkipShort(t)
	cfg := faultConfigFromEnv(t)
	if os.Getenv("FAULT_DURATION") == "" {
		cfg.duration = sentinelFaultDuration
	}
	bin := testbin.BinaryWithTags(t, cfg.tags)
	ha := testredis.StartHA(t, testredis.HAOptions{Replicas: 1, Sentinels: 3, DownAfter: time.Second})
	c := &faultCluster{t: t, bin: bin, probe: oneShotClient(2 * time.Second)}
	c.primary = func() string {
		p, err := ha.Primary(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return p.Addr()
	}
	c.startInstances(3, func() (string, *testproxy.Proxy) { return ha.URL(), nil })
	t.Logf("fault run with sentinels: seed %d, %s, %d users, build tags %q", cfg.seed, cfg.duration, cfg.users, cfg.tags)
	run := runFaultLoadWith(t, cfg, c, func(ch *faultChaos, ctx context.Context) {
		sentinelSchedule(ch, ctx, ha)
	})
	for _, e := range run.chaos.events {
		t.Logf("seed %d: %s", cfg.seed, e)
	}
	checkFaultRun(t, cfg, c, run)
	if t.Failed() { // the mirror's own account of the failovers
		for _, in := range c.insts {
			for _, p := range in.procs {
				for line := range strings.Lines(p.Output()) {
					if strings.Contains(line, "mirror") {
						t.Logf("%s %s", in.name, line)
					}
				}
			}
		}
	}
}

// sentinelSchedule applies the failovers: a forced one after a few seconds
// of load, then the new primary killed, then that node back as a replica.
// Each fault's event lasts until every instance is ready again (redis ok,
// outbox empty), so that answers the README lets be 503 during an outage
// are judged against it.
func sentinelSchedule(ch *faultChaos, ctx context.Context, ha *testredis.HA) {
	const within = 20 * time.Second
	fault := func(kind faultKind, do func() error) bool {
		e := faultEvent{kind: kind, inst: -1, start: time.Since(ch.began)}
		err := do()
		if err == nil {
			err = ch.c.waitReady(within)
		}
		e.end = time.Since(ch.began)
		ch.events = append(ch.events, e)
		if err != nil {
			ch.err = fmt.Errorf("%s: %w", kind, err)
			return false
		}
		return true
	}
	sleepCtx(ctx, 4*time.Second)
	if ctx.Err() != nil || !fault(faultFailover, func() error {
		_, _, err := ha.Failover(within)
		return err
	}) {
		return
	}
	// The demoted primary must be a replica in sync before the next
	// failover can promote it.
	if err := ha.WaitReplicated(within); err != nil {
		ch.err = err
		return
	}
	sleepCtx(ctx, 3*time.Second)
	var killed *testredis.Server
	if ctx.Err() != nil || !fault(faultPrimaryKill, func() error {
		p, err := ha.Primary(within)
		if err != nil {
			return err
		}
		killed = p
		p.Kill()
		_, err = ha.NewPrimary(p, within)
		return err
	}) {
		return
	}
	sleepCtx(ctx, 2*time.Second)
	if err := ha.StartAgainAsReplica(killed, within); err != nil {
		ch.err = err
		return
	}
	if err := ha.WaitReplicated(within); err != nil {
		ch.err = err
		return
	}
	<-ctx.Done()
}
