//go:build plant_noversion

package kv

// plantNoVersion plants a bug for the fault test to catch (build tag
// plant_noversion; never in a release build): the outbox replay, the
// push-back (Lua, sync mode) and the local copy (Badger.apply) write a
// record without comparing its version with the stored one, so an older
// record overwrites a newer one.
// docs/architecture.md ("Planted bugs") lists where each plant acts.
const plantNoVersion = true
