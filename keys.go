package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Secret key resolution: parsing a key, generating one, and the key file
// persisted in the data dir. The environment's keys are read by
// Config.readKeysFromEnv (config.go); the key file is read after the
// privilege drop, by Config.resolveKeys.

// minKeyLen is the least number of bytes a signing key may have.
const minKeyLen = 32

// keyFileName is the persisted key in the data dir.
const keyFileName = "secret.key"

// parseKey decodes a key: 64+ hex characters are hex-decoded, anything else
// is used as raw bytes. Either way it must be at least 32 bytes. The error
// never contains the key.
func parseKey(s string) ([]byte, error) {
	var k []byte
	if len(s) >= 64 && len(s)%2 == 0 {
		if b, err := hex.DecodeString(s); err == nil {
			k = b
		}
	}
	if k == nil {
		k = []byte(s)
	}
	if len(k) < minKeyLen {
		return nil, fmt.Errorf("key is too short (%d bytes, need at least %d): generate one with `soulbridge keygen`", len(k), minKeyLen)
	}
	if oneByteValue(k) {
		return nil, fmt.Errorf("key has no entropy (all %d bytes are one byte value, such as an all-zero placeholder): generate one with `soulbridge keygen`", len(k))
	}
	return k, nil
}

// oneByteValue reports whether every byte of k is the same: a placeholder
// (all zeros, "aaaa…"), not a secret. This is the one shape refused beyond
// the length rule; a real entropy estimate would also refuse honest
// passphrases, and keygen's output never trips it.
func oneByteValue(k []byte) bool {
	for _, b := range k[1:] {
		if b != k[0] {
			return false
		}
	}
	return true
}

// newKeyHex returns a fresh random 32-byte key as 64 hex characters.
func newKeyHex() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// resolvedKeys is the signing key and where it came from.
type resolvedKeys struct {
	keys      [][]byte // current first, then fallbacks
	source    string   // "SECRET_KEY", "FLASK_SECRET_KEY", "key file"
	generated bool     // the key file was created on this boot
	path      string   // the key file, when source is "key file"
}

// resolveKeys returns the signing keys: the environment's, else the key
// file in the data dir, created (0600) on first boot.
func (c *Config) resolveKeys() (resolvedKeys, error) {
	if c.secretKey != nil {
		return resolvedKeys{keys: append([][]byte{c.secretKey}, c.fallbackKeys...), source: c.secretKeySource}, nil
	}
	path := filepath.Join(c.DataDir, keyFileName)
	r := resolvedKeys{source: "key file", path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		hexKey, err := newKeyHex()
		if err != nil {
			return r, fmt.Errorf("generate key: %w", err)
		}
		switch err := writeKeyFile(path, hexKey); {
		case err == nil:
			b, r.generated = []byte(hexKey+"\n"), true
		case errors.Is(err, fs.ErrExist):
			// Another process created it first: use theirs.
			if b, err = os.ReadFile(path); err != nil {
				return r, fmt.Errorf("read key file %s: %w", path, err)
			}
		default:
			return r, err
		}
	} else if err != nil {
		return r, fmt.Errorf("read key file %s: %w", path, err)
	}
	k, err := parseKey(strings.TrimSpace(string(b)))
	if err != nil {
		return r, fmt.Errorf("key file %s: %w", path, err)
	}
	r.keys = append([][]byte{k}, c.fallbackKeys...)
	return r, nil
}

// commandKeys returns the signing keys for backup and restore when they
// open the store themselves, without creating a key file: the current key
// (the environment's, else the data dir's key file; nil when neither is
// there) and every key a backup may be signed with (the current one, then
// SECRET_KEY_FALLBACKS).
func (c *Config) commandKeys() (current []byte, all [][]byte, err error) {
	current = c.secretKey
	if current == nil {
		path := filepath.Join(c.DataDir, keyFileName)
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, nil, fmt.Errorf("read key file %s: %w", path, err)
		default:
			if current, err = parseKey(strings.TrimSpace(string(b))); err != nil {
				return nil, nil, fmt.Errorf("key file %s: %w", path, err)
			}
		}
	}
	if current != nil {
		all = append(all, current)
	}
	return current, append(all, c.fallbackKeys...), nil
}

// writeKeyFile creates path with mode 0600 holding key, failing if it
// exists (another process won the race), and syncs it to disk.
func writeKeyFile(path, key string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create key file %s: %w", path, err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync key file %s: %w", path, err)
	}
	return f.Close()
}
