//go:build plant_notombstone

package kv

// plantNoTombstone plants a bug for the fault test to catch (build tag
// plant_notombstone; never in a release build): a mirror Delete writes no
// tombstone. The key is removed from Redis (DEL) and from the local copy,
// and a delete queued while Redis is down replays as a DEL, so a stale
// copy replayed or pushed back later brings the key back.
// docs/architecture.md ("Planted bugs") lists where each plant acts.
const plantNoTombstone = true
