package kv

import "strings"

// Keys whose deletion is final. Session ids are never reused, so a
// session record ("session:<sha256>") or its per-user index entry
// ("sessions-of:<name>:<public id>") that was deleted never legitimately
// holds a value again: a tombstone on such a key is final in every path
// of the Redis mirror (the local apply, the Lua put script, the outbox
// replay, the push-back after Redis restarted empty), whatever the
// versions. A live write meeting such a tombstone is refused, and such a
// tombstone replaces a live record even when the record's version is
// newer (a renewal on an instance that had not heard of the log-out).
// docs/architecture.md ("The Redis mirror", "Final tombstones") explains
// why.
const (
	finalSessionPrefix = "session:"
	finalIndexPrefix   = "sessions-of:"
)

// IsFinal reports whether a delete of key is final (see the constants
// above): whether the mirror keeps its tombstone against every later
// write, renewal, replay and push-back. The session package's tests check
// that its key prefixes are final.
func IsFinal(key string) bool {
	return strings.HasPrefix(key, finalSessionPrefix) || strings.HasPrefix(key, finalIndexPrefix)
}

// sharedEverywhere reports whether a live write of key is published with
// its record, so that every instance keeps a local copy at once: the
// per-user session index, so that any instance can end any listed session
// while Redis is down (issue 16 row 7).
func sharedEverywhere(key string) bool { return strings.HasPrefix(key, finalIndexPrefix) }
