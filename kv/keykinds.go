package kv

import (
	"errors"
	"fmt"
	"strings"
)

// KeyKind is one kind of key the domain packages keep in the store: the
// store's key layout, written down where a restore can check a backup
// against it and where account deletion can tell which keys belong to an
// account. Each domain package lists its own kinds next to its key
// constants (auth.KeyKinds, session.KeyKinds, avatar.KeyKinds); web.StoreKinds
// is the one list of them all.
type KeyKind struct {
	// Name says what the key holds ("account", "session"), for messages.
	Name string
	// Prefix starts every key of the kind; a key is of the kind with the
	// longest Prefix that starts it.
	Prefix string
	// Check says whether rest (the key after Prefix) and value (nil for a
	// tombstone, which is checked by its key alone) are well formed, and
	// returns the account name the key belongs to, "" for none. Its error
	// never quotes the value.
	Check func(rest string, value []byte) (owner string, err error)
	// Login marks what proves a past log-in (a session, its index entry, a
	// device record): a restore that cannot verify its backup leaves these
	// out, so that a hand-made record cannot log anyone in.
	Login bool
}

// ErrUnknownKey is returned by CheckKey for a key of no listed kind, or
// one its kind refuses.
var ErrUnknownKey = errors.New("kv: not a key this store holds")

// KindOf returns key's kind in kinds: the one with the longest Prefix
// that starts key.
func KindOf(kinds []KeyKind, key string) (KeyKind, bool) {
	var best KeyKind
	found := false
	for _, k := range kinds {
		if strings.HasPrefix(key, k.Prefix) && (!found || len(k.Prefix) > len(best.Prefix)) {
			best, found = k, true
		}
	}
	return best, found
}

// CheckKey checks key and its value (nil for a tombstone) against its kind
// in kinds and returns the kind and the account the key belongs to ("" for
// none), which validOwner must accept. Errors match ErrUnknownKey and name
// the key, never the value.
func CheckKey(kinds []KeyKind, key string, value []byte, validOwner func(string) error) (KeyKind, string, error) {
	k, ok := KindOf(kinds, key)
	if !ok {
		return KeyKind{}, "", fmt.Errorf("%w: %q is of no known kind", ErrUnknownKey, key)
	}
	owner, err := k.Check(key[len(k.Prefix):], value)
	if err == nil && owner != "" && validOwner != nil {
		err = validOwner(owner)
	}
	if err != nil {
		return KeyKind{}, "", fmt.Errorf("%w: %q (%s): %w", ErrUnknownKey, key, k.Name, err)
	}
	return k, owner, nil
}
