package e2e

// The fault test's chaos: one goroutine that breaks the cluster in turn,
// one fault at a time, each undone before the next, on a schedule drawn
// from the run's seed (which fault, where, for how long; the timing of the
// users' requests against it is the machine's).

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// faultKind is one kind of fault.
type faultKind uint8

const (
	faultCut          faultKind = iota // an instance's link to Redis cut
	faultHang                          // an instance's link hung
	faultStall                         // an instance's link slow
	faultRedisPause                    // Redis stopped (SIGSTOP): every link hangs
	faultRedisKill                     // Redis killed, later started again empty
	faultRedisRestart                  // Redis killed and started again empty at once
	faultKill                          // an instance killed -9, restarted on its data dir
	// Sentinel failovers (fault_sentinel_test.go; never drawn here).
	faultFailover    // SENTINEL FAILOVER: a replica promoted, the primary demoted
	faultPrimaryKill // the primary killed -9, a replica promoted by the Sentinels
	numFaultKinds
)

var faultKindNames = [numFaultKinds]string{
	"cut", "hang", "stall", "redis-pause", "redis-kill", "redis-restart-empty", "kill-9",
	"sentinel-failover", "primary-kill",
}

func (k faultKind) String() string { return faultKindNames[k] }

// faultWeights is how often each kind is drawn, out of their sum.
var faultWeights = [numFaultKinds]int{3, 3, 3, 2, 1, 1, 2, 0, 0}

// faultGrace is how long after a fault ends an instance may still answer
// as during it: its breaker probes Redis every 250 ms, then replays its
// outbox before it says "ok" again.
const faultGrace = 3 * time.Second

// faultEvent is one fault as applied: when (since the run began) and
// where. inst is the instance's index, or -1 for Redis (every instance).
type faultEvent struct {
	kind       faultKind
	inst       int
	stall      time.Duration
	start, end time.Duration
}

// affects reports whether e concerns instance i.
func (e faultEvent) affects(i int) bool { return e.inst < 0 || e.inst == i }

// covers reports whether e, or its grace after, overlaps [from, to] on
// instance i.
func (e faultEvent) covers(i int, from, to time.Duration) bool {
	return e.affects(i) && from <= e.end+faultGrace && to >= e.start
}

func (e faultEvent) String() string {
	where := "redis"
	if e.inst >= 0 {
		where = instName(e.inst)
	}
	s := fmt.Sprintf("%7.3fs–%7.3fs %s %s", e.start.Seconds(), e.end.Seconds(), e.kind, where)
	if e.kind == faultStall {
		s += " " + e.stall.String()
	}
	return s
}

// instName is the name of instance i: A, B, C, ...
func instName(i int) string { return string(rune('A' + i)) }

// faultChaos applies the fault schedule to a cluster.
type faultChaos struct {
	c      *faultCluster
	rng    *rand.Rand
	began  time.Time
	events []faultEvent // read after run returns
	err    error        // an instance that would not start again
}

func newFaultChaos(c *faultCluster, seed uint64, began time.Time) *faultChaos {
	return &faultChaos{c: c, rng: rand.New(rand.NewPCG(seed, 1<<32)), began: began}
}

// run applies faults until ctx ends: a quiet spell (0.3–4 s), then one
// fault held for a while (0.5–3 s) and undone. The fault in progress when ctx ends is undone at
// once.
func (ch *faultChaos) run(ctx context.Context) {
	for ctx.Err() == nil {
		sleepCtx(ctx, ch.between(300*time.Millisecond, 4*time.Second))
		if ctx.Err() != nil {
			return
		}
		e := faultEvent{kind: ch.draw(), inst: -1}
		hold := ch.between(500*time.Millisecond, 3*time.Second)
		if e.kind <= faultStall || e.kind == faultKill {
			e.inst = ch.rng.IntN(len(ch.c.insts))
		}
		if e.kind == faultStall {
			e.stall = ch.between(50*time.Millisecond, 400*time.Millisecond)
		}
		e.start = time.Since(ch.began)
		ch.apply(e)
		if e.kind != faultRedisRestart {
			sleepCtx(ctx, hold)
		}
		err := ch.undo(e)
		e.end = time.Since(ch.began)
		ch.events = append(ch.events, e)
		if err != nil {
			ch.err = err
			return
		}
	}
}

func (ch *faultChaos) draw() faultKind {
	total := 0
	for _, w := range faultWeights {
		total += w
	}
	n := ch.rng.IntN(total)
	for k, w := range faultWeights {
		if n < w {
			return faultKind(k)
		}
		n -= w
	}
	panic("unreachable")
}

// between draws a duration in [lo, hi).
func (ch *faultChaos) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(ch.rng.Int64N(int64(hi-lo)))
}

func (ch *faultChaos) apply(e faultEvent) {
	c := ch.c
	switch e.kind {
	case faultCut:
		c.insts[e.inst].proxy.Cut()
	case faultHang:
		c.insts[e.inst].proxy.Hang()
	case faultStall:
		c.insts[e.inst].proxy.Stall(e.stall)
	case faultRedisPause:
		c.redis.Pause()
		c.setRedis(true, false)
	case faultRedisKill:
		c.redis.Kill()
		c.setRedis(false, true)
	case faultRedisRestart:
		c.redis.Restart()
	case faultKill:
		c.kill(c.insts[e.inst])
	}
}

func (ch *faultChaos) undo(e faultEvent) error {
	c := ch.c
	switch e.kind {
	case faultCut, faultHang, faultStall:
		c.insts[e.inst].proxy.Pass()
	case faultRedisPause:
		c.redis.Resume()
		c.setRedis(false, false)
	case faultRedisKill:
		c.redis.StartAgain()
		c.setRedis(false, false)
	case faultKill:
		return c.start(c.insts[e.inst])
	}
	return nil
}

// sleepCtx sleeps d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
