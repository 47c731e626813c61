// Package kv is soulbridge's store: Badger on the data dir (always), behind a
// small ctx-first API that a Redis mirror can later sit behind unchanged.
//
// Every key is stored under a configurable prefix ("soulbridge:" by default),
// so several apps can share one Redis and a Badger dump is self-describing.
// Key layout (after the prefix):
//
//	user:<username>     account record (JSON)
//	avatar:<username>   avatar choice (JSON, with updated_at)
//	session:<sha256>    session record (JSON), keyed by the hex SHA-256 of the token
//
// The package knows nothing about HTTP or about what the values mean.
package kv

import "errors"

// Error kinds returned by the store. Callers test them with errors.Is.
var (
	// ErrNotFound is returned by Get (and Delete never returns it) when the key
	// does not exist or its TTL has passed.
	ErrNotFound = errors.New("kv: not found")
	// ErrExists is returned by Create when the key is already present.
	ErrExists = errors.New("kv: already exists")
	// ErrLocked is returned by Open when another process holds the data
	// dir's lock for longer than the lock timeout.
	ErrLocked = errors.New("kv: data dir is locked by another process")
)
