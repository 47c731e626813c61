//go:build plant_nocacheinval

package kv

// plantNoCacheInval plants a bug for the fault test to catch (build tag
// plant_nocacheinval; never in a release build): a change heard on Pub/Sub
// does not drop the key from the mirror's cache, so an instance answers
// what it cached until the backstop TTL (a log-out made elsewhere
// included).
// docs/architecture.md ("Planted bugs") lists where each plant acts.
const plantNoCacheInval = true
