package kv

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A failover (a replica promoted by Sentinel, or by hand) or a restart of
// the primary may lose the last writes Redis acknowledged: replication is
// asynchronous, and the old primary goes on acknowledging writes until its
// clients learn of the new one. The epoch key does not tell (it was
// replicated long before), so the mirror also remembers the identity of the
// primary it last synced with (its run_id and replication ID, INFO server
// and replication) and, when a Redis answers as primary under another
// identity, pushes every local record back (pushBack: version-checked,
// tombstones included, the rules of the epoch's push-back) before it serves
// from it again. docs/architecture.md ("Failover") states what this
// guarantees.

// localPrimaryKey is the local copy of the identity of the primary this
// instance last synced with ("<run_id> <master_replid>").
const localPrimaryKey = "mirror:primary"

// failoverDoubt is how long, after this instance pushed its records back to
// a new primary, a key that neither Redis nor the local copy holds reads as
// "not found here" (matching ErrNotFound and ErrUnavailable) rather than
// plainly not found, and a sign-up (Create) is refused: the other instances
// push their records back within about a probe interval of the switch,
// and until then a log-in of an account written on another instance just
// before the failover would be a wrong password (and counted as a failure
// by the shared throttle), a sign-up could take a name that comes back.
const failoverDoubt = 3 * time.Second

// errPrimaryChanged fails a command on a new connection to a primary the
// mirror has not synced with yet: nothing is read from or written to it
// until the probe has pushed the local records back.
var errPrimaryChanged = errors.New("kv: redis has a new primary: not used until the local records are pushed back")

// errNotPrimary fails a command on a connection to a Redis that is not a
// primary (a demoted one that a client still knew as primary).
var errNotPrimary = errors.New("kv: redis answered as a replica, not as the primary")

type probeCtxKey struct{}

// probeContext marks ctx as the probe's: its connections are let through
// to a new primary, whose identity the probe then checks itself.
func probeContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, probeCtxKey{}, true)
}

// serverIdentity reads the identity of the Redis on c: "<run_id>
// <master_replid>", and whether it is a primary. A Redis that refuses INFO
// (renamed or denied by ACL, as some managed services do) has identity ""
// and counts as a primary: failovers are then not detected.
func serverIdentity(ctx context.Context, c interface {
	Info(context.Context, ...string) *redis.StringCmd
}) (id string, primary bool, err error) {
	info, err := c.Info(ctx, "server", "replication").Result()
	var rerr redis.Error
	if errors.As(err, &rerr) {
		return "", true, nil
	}
	if err != nil {
		return "", false, err
	}
	var runID, replID, role string
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "run_id":
			runID = v
		case "master_replid":
			replID = v
		case "role":
			role = v
		}
	}
	if runID == "" || replID == "" {
		return "", role != "slave", nil
	}
	return runID + " " + replID, role == "master", nil
}

// onConnect checks every new connection: one to a replica is refused, and
// one to a primary whose identity differs from the one the mirror synced
// with is refused too (except the probe's) and turns the mirror down, so
// that the probe pushes the local records back before anything is read
// from it.
func (m *Mirror) onConnect(ctx context.Context, cn *redis.Conn) error {
	id, primary, err := serverIdentity(ctx, cn)
	if err != nil {
		return err
	}
	if !primary {
		return errNotPrimary
	}
	if id == "" || ctx.Value(probeCtxKey{}) != nil {
		return nil
	}
	if known := m.primaryID.Load(); known != nil && *known != "" && *known != id {
		// From up only: down or syncing, the probe checks the identity
		// itself before the mirror serves again.
		if m.state.CompareAndSwap(stateUp, stateDown) {
			m.cache.invalidate("")
			m.log.Warn("redis mirror down: redis has a new primary (a failover or a restart); pushing the local records back before serving from it")
		}
		m.resyncUntil.Store(m.now().Add(resyncWait).UnixMilli())
		m.wake()
		return errPrimaryChanged
	}
	return nil
}

// checkPrimary reads the identity of the primary Redis answers as, and
// reports whether it differs from the one this instance last synced with
// (which it has not when no identity was ever recorded: the first sync after
// an upgrade or on an empty data dir records it).
func (m *Mirror) checkPrimary(ctx context.Context) (moved bool, id string, err error) {
	id, primary, err := serverIdentity(ctx, m.rdb)
	if err != nil {
		return false, "", err
	}
	if !primary {
		return false, "", errNotPrimary
	}
	mine, err := m.local.Get(ctx, localPrimaryKey)
	if err != nil && err != ErrNotFound {
		return false, "", err
	}
	return id != "" && len(mine) > 0 && string(mine) != id, id, nil
}

// drainOnline waits for the online writes that began while the mirror was
// up: the caller has just turned it from up, so no new one begins, and a
// push-back that scans the local copy after this sees every write Redis
// acknowledged (each is written to the local copy before it returns).
func (m *Mirror) drainOnline() {
	m.online.Lock()
	m.online.Unlock() //nolint:staticcheck // an empty critical section: a barrier
}

// inDoubt reports whether a key missing from Redis may still be pushed back
// by another instance (failoverDoubt).
func (m *Mirror) inDoubt() bool {
	return m.now().UnixMilli() < m.doubtUntil.Load()
}

// missing answers a read of key that Redis has no trace of: from the local
// copy, as getHere while in doubt after a failover (the key may be pushed
// back by another instance).
func (m *Mirror) missing(ctx context.Context, key string) ([]byte, error) {
	if m.inDoubt() {
		return m.getHere(ctx, key)
	}
	return m.local.Get(ctx, key)
}

// pushBackReason names why a push-back ran, for the log.
func pushBackReason(epochChanged, moved bool) string {
	switch {
	case epochChanged && moved:
		return "redis is empty or new, and a new primary"
	case epochChanged:
		return "redis is empty or new"
	}
	return "a new primary (failover or restart): it may lack the last acknowledged writes"
}

// remember keeps, locally, the epoch and the primary's identity this
// instance has now synced with, when they differ from the ones it had.
func (m *Mirror) remember(ctx context.Context, epochChanged bool, epoch, primary string) {
	var ops []localOp
	if epochChanged {
		ops = append(ops, localOp{key: localEpochKey, stored: []byte(epoch)})
	}
	if known := m.primaryID.Load(); primary != "" && (known == nil || *known != primary) {
		ops = append(ops, localOp{key: localPrimaryKey, stored: []byte(primary)})
	}
	if len(ops) == 0 {
		return
	}
	if _, err := m.local.apply(ctx, ops); err != nil {
		m.log.Error("saving the redis epoch and primary locally failed", "err", err)
		return
	}
	if primary != "" {
		m.primaryID.Store(&primary)
	}
}

// followPrimary asks the Pub/Sub listener for a new subscription, which
// go-redis makes on the primary the Sentinels name now (listenOnce).
func (m *Mirror) followPrimary() {
	select {
	case m.resubscribe <- struct{}{}:
	default:
	}
}

// resyncWait bounds how long a request that met a new primary (its
// connection refused by onConnect) waits for this instance's push-back to
// end before it is answered from the local copy instead: the push-back
// takes milliseconds for a small store, and an answer from Redis after it
// is better than the local copy's (which lacks what this instance never
// read).
const resyncWait = time.Second

type resyncCtxKey struct{}

// awaitResync waits, within resyncWait of a new primary being met, until
// the mirror serves again, and reports whether it does; the returned ctx
// is marked so that the caller's retry does not wait again.
func (m *Mirror) awaitResync(ctx context.Context) (context.Context, bool) {
	until := m.resyncUntil.Load()
	if until == 0 || ctx.Value(resyncCtxKey{}) != nil {
		return ctx, false
	}
	ctx = context.WithValue(ctx, resyncCtxKey{}, true)
	for !m.up() && m.now().UnixMilli() < until {
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return ctx, false
		case <-m.stop:
			return ctx, false
		}
	}
	return ctx, m.up()
}
