package session

import (
	"errors"
	"strings"

	"soulbridge/kv"
)

// KeyKinds are the keys session keeps in the store (kv.KeyKind; web.StoreKinds
// lists every package's): session records under session:<64 lower-case hex,
// the SHA-256 of the token>, the per-user index sessions-of:<name>:<32 hex
// public id> holding a record id, and the index's marker. Sessions and
// index entries prove a log-in (Login); the owner each returns is checked
// against the username rules by the caller.
func KeyKinds() []kv.KeyKind {
	return []kv.KeyKind{
		{Name: "session", Prefix: KeyPrefix, Login: true, Check: checkSessionKey},
		{Name: "session index entry", Prefix: IndexPrefix, Login: true, Check: checkIndexKey},
		{Name: "session index marker", Prefix: indexMarker, Check: checkMarkerKey},
	}
}

func checkSessionKey(id string, value []byte) (string, error) {
	if !lowerHex(id, 64) {
		return "", errors.New("a session key is session: and 64 lower-case hex digits")
	}
	if value == nil {
		return "", nil
	}
	r, err := decodeRecord(value)
	if err != nil || r.Username == "" {
		return "", errors.New("the session record does not decode")
	}
	return r.Username, nil
}

func checkIndexKey(rest string, value []byte) (string, error) {
	name, pub, ok := strings.Cut(rest, ":")
	if !ok || !lowerHex(pub, 32) {
		return "", errors.New("an index entry is sessions-of:<username>:<32 lower-case hex digits>")
	}
	if value != nil && !lowerHex(string(value), 64) {
		return "", errors.New("an index entry holds a session record id")
	}
	return name, nil
}

func checkMarkerKey(rest string, _ []byte) (string, error) {
	if rest != "" {
		return "", errors.New("unknown meta key")
	}
	return "", nil
}

// lowerHex reports whether s is n lower-case hex digits.
func lowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
