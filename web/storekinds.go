package web

import (
	"slices"

	"soulbridge/auth"
	"soulbridge/avatar"
	"soulbridge/kv"
	"soulbridge/session"
)

// StoreKinds is the one list of every kind of key the site keeps in the
// store, each package contributing its own (kv.KeyKind). A restore checks
// every key of a backup against it (CheckStoreKey); account deletion, and
// every later feature that stores something under an account, goes by it:
// a new kind of key is added to its package's KeyKinds, and so to this
// list, or restores refuse it.
func StoreKinds() []kv.KeyKind {
	return slices.Concat(auth.KeyKinds(), session.KeyKinds(), avatar.KeyKinds())
}

// CheckStoreKey checks key and its value (nil for a tombstone) against
// StoreKinds, and the account it belongs to against the username rules; it
// returns the key's kind and that account ("" for none). Errors match
// kv.ErrUnknownKey.
func CheckStoreKey(key string, value []byte) (kv.KeyKind, string, error) {
	return kv.CheckKey(StoreKinds(), key, value, auth.CheckStoredUsername)
}
