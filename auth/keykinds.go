package auth

import (
	"errors"
	"fmt"

	"soulbridge/kv"
)

// KeyKinds are the keys auth keeps in the store (kv.KeyKind; web.StoreKinds
// lists every package's): user:<name>, the account, whose name follows the
// username rules in its stored form (lower case) and whose record decodes
// and names the same account; events:<name>:<time>-<nonce>, one of the
// account's security events, and events:<name>:failed:<hour>-<net>, its
// failed log-ins from one network in one hour (events.go), removed with it;
// reset:<name>:<sha256>, a reset link (reset.go), removed with it. The log-in throttle's counters live in Redis
// only (kv.Mirror.Reserve), never in the store.
func KeyKinds() []kv.KeyKind {
	return []kv.KeyKind{
		{Name: "account", Prefix: userPrefix, Check: checkAccountKey},
		{Name: "account event", Prefix: eventPrefix, Check: checkEventKey},
		// A reset link sets a password: a proof of log-in, left out of a
		// restore that cannot verify its backup.
		{Name: "reset link", Prefix: resetPrefix, Check: checkResetKey, Login: true},
		// passkey:<handle> → the account whose passkeys carry that user
		// handle (passkeys.go), removed with it.
		{Name: "passkey user handle", Prefix: handlePrefix, Check: checkHandleKey},
		// passkeyused:<nonce>, a passkey challenge already used, until it
		// expires.
		{Name: "used passkey challenge", Prefix: usedPrefix, Check: checkUsedKey},
	}
}

func checkAccountKey(name string, value []byte) (string, error) {
	if err := CheckStoredUsername(name); err != nil {
		return "", err
	}
	if value == nil {
		return name, nil
	}
	u, err := decodeUser(value)
	if err != nil {
		return "", errors.New("the account record does not decode")
	}
	if u.Username != name {
		return "", errors.New("the account record names another account")
	}
	return name, nil
}

// CheckStoredUsername says whether name is a username in the form it is
// stored in: one NormalizeUsername accepts and leaves as it is.
func CheckStoredUsername(name string) error {
	n, err := NormalizeUsername(name)
	if err != nil {
		return fmt.Errorf("not a valid username: %w", err)
	}
	if n != name {
		return errors.New("not a username in its stored (lower-case, trimmed) form")
	}
	return nil
}
