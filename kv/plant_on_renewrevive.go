//go:build plant_renewrevive

package kv

// plantRenewRevive plants a bug for the fault test to catch (build tag
// plant_renewrevive; never in a release build): a renewal (Renew) is
// written over a tombstone and creates a missing key, in Badger, in the
// Lua script (renew mode) and in the local copy, so a renewal on an
// instance that missed a log-out revives the session.
// docs/architecture.md ("Planted bugs") lists where each plant acts.
const plantRenewRevive = true
