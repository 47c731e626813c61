package e2e

// TestFault: issue 16's randomized fault test. Three instances of the real
// binary share a real redis-server, each through its own proxy; a chaos
// goroutine cuts, hangs and stalls their links, pauses, kills and empties
// Redis and kills instances with -9, while one sequential client per user
// signs up, logs in and out, ends sessions, changes its avatar and, now
// and then, its password or deletes its account and signs up again. Then
// everything is healed and the invariants are checked (fault_check_test.go).
// A passkey client (fault_passkey_test.go) logs in across instances all the
// while and replays what was acknowledged.
//
// Environment:
//
//	FAULT_SEED=N         replay a run's schedule (printed at the start and in failures;
//	                     default faultDefaultSeed, "random" for a new one)
//	FAULT_DURATION=5m    run longer than the default minute
//	FAULT_USERS=N        clients (default 10)
//	FAULT_TAGS=tags      build the binary with these build tags (planted bugs)
//
// The seed fixes every choice (which operation, which instance, which
// fault, when and for how long); the interleaving of requests with faults
// is the machine's, so a replay retraces the schedule, not every outcome.
//
// Every instance has a persistent data dir, so none may answer 503 to a
// log-out, a session end or an avatar write, and window (b) of issue 16
// (a push-back by an instance that missed a log-out, after Redis restarted
// empty, when the instance holding the tombstone is gone) cannot occur:
// the tombstone's holder always comes back on its data dir. Window (c)
// (log out everywhere else on an instance whose mirror is down ends only
// the sessions that instance has heard of) is exempted
// exactly (windowC) and counted in the log.

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// faultConvergeBound is how long after healing (every instance ready, its
// outbox empty) the instances must agree and answer right: the mirror
// caches a session for a second.
const faultConvergeBound = 10 * time.Second

// faultDefaultSeed is the schedule `go test ./...` runs (CI included), so
// that a red run there is a regression to replay, not a draw; FAULT_SEED
// picks another, FAULT_SEED=random a new one. Random seeds still find one
// open case (the closing note of issue 16: a log-in made on an instance
// whose link to Redis is cut, in the last seconds before it heals, was
// lost in 2 of 11 runs).
const faultDefaultSeed = 1

// faultConfig is a run's settings, from the environment.
type faultConfig struct {
	seed     uint64
	duration time.Duration
	users    int
	tags     string
}

func faultConfigFromEnv(t *testing.T) faultConfig {
	t.Helper()
	cfg := faultConfig{seed: faultDefaultSeed, duration: time.Minute, users: 10, tags: os.Getenv("FAULT_TAGS")}
	if v := os.Getenv("FAULT_SEED"); v == "random" {
		cfg.seed = rand.Uint64() >> 1
	} else if v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("FAULT_SEED=%q: %v", v, err)
		}
		cfg.seed = n
	}
	if v := os.Getenv("FAULT_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("FAULT_DURATION=%q: want a duration such as 5m", v)
		}
		cfg.duration = d
	}
	if v := os.Getenv("FAULT_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			t.Fatalf("FAULT_USERS=%q: want 1 to 200", v)
		}
		cfg.users = n
	}
	return cfg
}

func TestFault(t *testing.T) {
	testbin.SkipShort(t)
	cfg := faultConfigFromEnv(t)
	t.Logf("fault run: seed %d (replay with FAULT_SEED=%d), %s, %d users, build tags %q",
		cfg.seed, cfg.seed, cfg.duration, cfg.users, cfg.tags)
	c := startFaultCluster(t, testbin.BinaryWithTags(t, cfg.tags), 3)

	checkFaultRun(t, cfg, c, runFaultLoad(t, cfg, c))
}

// checkFaultRun heals the cluster after a run and checks the invariants,
// failing t with each one broken.
func checkFaultRun(t *testing.T, cfg faultConfig, c *faultCluster, run faultRun) {
	t.Helper()
	if run.chaos.err != nil {
		t.Fatalf("seed %d: %v", cfg.seed, run.chaos.err)
	}
	healing := time.Now()
	if err := c.heal(); err != nil {
		t.Fatalf("seed %d: healing: %v", cfg.seed, err)
	}
	if err := c.waitReady(60 * time.Second); err != nil {
		t.Fatalf("seed %d: after healing: %v", cfg.seed, err)
	}
	ready := time.Now()

	k := &faultChecker{c: c, users: run.users, events: run.chaos.events, hc: testbin.Client(t), exempt: map[string]bool{}}
	t.Logf("seed %d: mirror down, as the instances logged it (a start counts): %s", cfg.seed, k.readMirrorDown(run.began))
	// A user whose every session ended logs in once more, so that its
	// avatar can be read.
	for _, u := range run.users {
		for try := 0; try < 3 && u.account == acctYes && len(u.passwords) == 1 && len(u.live()) == 0; try++ {
			u.login()
		}
	}
	cv, fails := k.converge(ready, faultConvergeBound)
	fails = append(fails, k.statuses()...)
	fails = append(fails, k.staleEnds()...) // fault_stale_test.go
	thr, keys, err := k.throttle(context.Background())
	if err != nil {
		t.Fatalf("seed %d: reading the throttle counters: %v", cfg.seed, err)
	}
	fails = append(fails, thr...)
	fails = append(fails, k.passwords()...)
	actFails, actRead := k.activity()
	fails = append(fails, actFails...)
	t.Logf("seed %d: activity lists read after healing: %d", cfg.seed, actRead)
	fails = append(fails, run.passkeys.check()...)
	t.Logf("seed %d: %s", cfg.seed, run.passkeys)

	logFaultFigures(t, cfg, run, ready.Sub(healing), cv, keys)
	for _, o := range k.observations() {
		t.Logf("seed %d: %s", cfg.seed, o)
	}
	if len(k.exempt) > 0 {
		t.Logf("seed %d: %d sessions exempted as a window the design leaves open: (c) outlived their end (log out everywhere else on an instance whose mirror was down, of a session made on another instance), or (a) a log-in on a cut-off instance against its stale copy of an account changed elsewhere, ended at healing: %s",
			cfg.seed, len(k.exempt), strings.Join(slices.Sorted(maps.Keys(k.exempt)), ", "))
	}
	reportFaultFailures(t, cfg.seed, fails, run.chaos.events)
}

// faultRun is the load and chaos phase of a run, once it is over.
type faultRun struct {
	users []*faultUser
	// passkeys logs in with passkeys begun on one instance and finished
	// on another, and replays them (fault_passkey_test.go).
	passkeys *faultPasskeyClient
	chaos    *faultChaos
	began    time.Time
	ran      time.Duration
}

// runFaultLoad runs the users' clients and the chaos against c for
// cfg.duration and waits for them all to stop (the chaos undoes its last
// fault first).
func runFaultLoad(t *testing.T, cfg faultConfig, c *faultCluster) faultRun {
	t.Helper()
	return runFaultLoadWith(t, cfg, c, (*faultChaos).run)
}

// runFaultLoadWith is runFaultLoad with chaos instead of the randomized
// schedule: it records each fault it applies in ch.events, and an error
// that ends the run in ch.err.
func runFaultLoadWith(t *testing.T, cfg faultConfig, c *faultCluster, chaos func(ch *faultChaos, ctx context.Context)) faultRun {
	t.Helper()
	var presets []string
	for _, id := range testbin.Catalogue(t, testbin.Client(t), c.insts[0].base) {
		if id != "default" {
			presets = append(presets, id)
		}
	}
	hc := testbin.Client(t)
	hc.Timeout = 5 * time.Second
	var bases []string
	for _, in := range c.insts {
		bases = append(bases, in.base)
	}
	run := faultRun{began: time.Now()}
	for i := range cfg.users {
		run.users = append(run.users, newFaultUser(i, cfg.seed, run.began, bases, presets, hc))
	}
	run.chaos = newFaultChaos(c, cfg.seed, run.began)
	run.passkeys = newFaultPasskeyClient(t, c, cfg.seed)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.duration)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { chaos(run.chaos, ctx) })
	wg.Go(func() { run.passkeys.run(ctx) })
	for _, u := range run.users {
		wg.Go(func() { u.run(ctx) })
	}
	wg.Wait()
	run.ran = time.Since(run.began)
	return run
}

// logFaultFigures logs what the run did: operations by kind and status,
// faults by kind, and how long healing and convergence took.
func logFaultFigures(t *testing.T, cfg faultConfig, run faultRun, heal time.Duration, cv convergence, keys int) {
	t.Helper()
	users, events, ran := run.users, run.chaos.events, run.ran
	var total, ended, live int
	byKind := map[opKind]map[int16]int{}
	for _, u := range users {
		total += len(u.ops)
		for _, o := range u.ops {
			if byKind[o.kind] == nil {
				byKind[o.kind] = map[int16]int{}
			}
			byKind[o.kind][o.status]++
		}
		for _, s := range u.sessions {
			switch {
			case s.ended >= 0:
				ended++
			case s.live():
				live++
			}
		}
	}
	var lines []string
	for kind := range numOpKinds {
		var parts []string
		for st, n := range byKind[kind] {
			name := strconv.Itoa(int(st))
			if st == noAnswer {
				name = "no answer"
			}
			parts = append(parts, fmt.Sprintf("%s ×%d", name, n))
		}
		slices.Sort(parts)
		lines = append(lines, fmt.Sprintf("  %-13s %s", kind, strings.Join(parts, ", ")))
	}
	var faults [numFaultKinds]int
	for _, e := range events {
		faults[e.kind]++
	}
	var fparts []string
	for kind, n := range faults {
		fparts = append(fparts, fmt.Sprintf("%s ×%d", faultKind(kind), n))
	}
	agreed, correct := "not within "+faultConvergeBound.String(), "not within "+faultConvergeBound.String()
	if cv.agreedOK {
		agreed = cv.agreed.Round(time.Millisecond).String()
	}
	if cv.correctOK {
		correct = cv.correct.Round(time.Millisecond).String()
	}
	t.Logf("seed %d: ran %s with %d users: %d operations (%.0f/s), %d sessions checked ended, %d live; by kind and status:\n%s",
		cfg.seed, ran.Round(time.Millisecond), len(users), total, float64(total)/ran.Seconds(), ended, live, strings.Join(lines, "\n"))
	t.Logf("seed %d: %d faults: %s", cfg.seed, len(events), strings.Join(fparts, ", "))
	t.Logf("seed %d: healed (every instance ready, outbox empty) in %s; then, over %d cookies × %d instances: instances agreed after %s, every answer right after %s (%d rounds; bound %s); %d throttle keys in redis",
		cfg.seed, heal.Round(time.Millisecond), cv.items, 3, agreed, correct, cv.rounds, faultConvergeBound, keys)
}

// reportFaultFailures fails the test with each broken invariant: how often,
// the first few cases, and the history of the first one; then the fault
// timeline.
func reportFaultFailures(t *testing.T, seed uint64, fails []faultFailure, events []faultEvent) {
	t.Helper()
	if len(fails) == 0 {
		return
	}
	byInv := map[string][]faultFailure{}
	var order []string
	for _, f := range fails {
		if byInv[f.invariant] == nil {
			order = append(order, f.invariant)
		}
		byInv[f.invariant] = append(byInv[f.invariant], f)
	}
	for _, inv := range order {
		fs := byInv[inv]
		var b strings.Builder
		fmt.Fprintf(&b, "seed %d (FAULT_SEED=%d): %s: %d cases", seed, seed, inv, len(fs))
		kinds := map[string]int{}
		for _, f := range fs {
			if f.kind != "" {
				kinds[f.kind]++
			}
		}
		if len(kinds) > 0 {
			var parts []string
			for kind, n := range kinds {
				parts = append(parts, fmt.Sprintf("%s ×%d", kind, n))
			}
			slices.Sort(parts)
			fmt.Fprintf(&b, " (%s)", strings.Join(parts, "; "))
		}
		for i, f := range fs {
			if i == 5 {
				fmt.Fprintf(&b, "\n  … %d more", len(fs)-5)
				break
			}
			if f.kind != "" && inv == invEnded {
				fmt.Fprintf(&b, "\n  - [%s] %s", f.kind, f.detail)
			} else {
				fmt.Fprintf(&b, "\n  - %s", f.detail)
			}
		}
		// The history of the first case of each kind (of three at most).
		shown := map[string]bool{}
		for _, f := range fs {
			if len(shown) == 3 || shown[f.kind] || f.user == nil || (f.sess < 0 && f.op < 0) {
				continue
			}
			shown[f.kind] = true
			at := fmt.Sprintf("s%d", f.sess)
			if f.sess < 0 {
				at = fmt.Sprintf("around #%d", f.op)
			}
			fmt.Fprintf(&b, "\n  history of %s %s (%s):\n%s", f.user.name, at, cmp.Or(f.kind, "first case"), f.history(25))
		}
		t.Error(b.String())
	}
	lines := make([]string, len(events))
	for i, e := range events {
		lines[i] = "  " + e.String()
	}
	t.Logf("seed %d: fault timeline (grace after each: %s):\n%s", seed, faultGrace, strings.Join(lines, "\n"))
}
