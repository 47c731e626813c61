package session

import (
	"crypto/sha256"
	"encoding/hex"
)

// publicIDLen is the length of a public session id in hex characters
// (128 bits: unguessable, and short enough for a URL).
const publicIDLen = 32

// PublicIDOf returns the public identifier of the session whose record id
// (the SHA-256 of its token) is id: what the account page and
// /account/sessions show and what DELETE /account/sessions/{id} takes. It
// is derived one way from the record id, so it reveals neither the token
// nor the stored key, and it is stable for the session's whole life.
func PublicIDOf(id string) string {
	sum := sha256.Sum256([]byte("soulbridge public session id\x00" + id))
	return hex.EncodeToString(sum[:])[:publicIDLen]
}

// PublicID returns s's public identifier (see PublicIDOf).
func (s *Session) PublicID() string { return PublicIDOf(s.ID) }

// LogID returns the short hash of s's id that log lines carry: the first 12
// characters of its public id, so an operator can match a log line to an
// entry on the account page, and a log reader learns nothing usable.
func (s *Session) LogID() string { return LogIDOf(s.ID) }

// LogIDOf is LogID for a record id.
func LogIDOf(id string) string { return PublicIDOf(id)[:12] }
