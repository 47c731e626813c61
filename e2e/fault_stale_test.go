package e2e

import (
	"fmt"
	"net/http"
	"time"
)

// invStale: what the mirror's in-memory cache (kv/mirror_cache.go) could
// break. An instance answers from memory only while its link to Redis is
// not in doubt, so an acknowledged end (log-out, session end, revocation,
// password change) is honoured everywhere within staleEndBound once it
// holds; a cache that missed an invalidation, or served while in doubt,
// answers the ended cookie longer.
const invStale = "ended session honoured (200) past the bound, no fault anywhere"

// staleEndBound is the README's bound for a log-out to be honoured on
// every instance with healthy links.
const staleEndBound = time.Second

// staleEnds checks every read of an ended cookie during the run (getAll
// sends them, as a stale tab would): one answered 200 more than
// staleEndBound after the end was acknowledged is a failure when, from the
// end's start to the read's answer, no fault (grace included) touched any
// instance or Redis and no instance said its mirror was down (a change
// queued in an outbox, or a link in doubt, is the outage windows' to
// explain, not the cache's).
func (k *faultChecker) staleEnds() []faultFailure {
	var fails []faultFailure
	for _, u := range k.users {
		for i, o := range u.ops {
			if o.kind != opGetEnded || o.status != http.StatusOK {
				continue
			}
			end := u.sessions[o.sess].ended
			if end < 0 {
				continue
			}
			e := u.ops[end]
			if o.start() <= e.stop()+staleEndBound || !k.calm(e.start(), o.stop()) {
				continue
			}
			fails = append(fails, faultFailure{invStale, u, int(o.sess), i, fmt.Sprintf(
				"%s %s, %.3fs after the end %s was acknowledged", u.name, o.format(i), (o.start() - e.stop()).Seconds(), e.format(end)), ""})
		}
	}
	return fails
}

// calm reports whether no fault touched any instance and no instance said
// its mirror was down during [from, to].
func (k *faultChecker) calm(from, to time.Duration) bool {
	for i := range k.c.insts {
		if k.faultsAt(i, from, to) != "none" || k.saidDown(i, from, to) {
			return false
		}
	}
	return true
}
