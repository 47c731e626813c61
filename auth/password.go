package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, 1
// lane). Memory per hash is bounded and the number of hashes at once is
// capped by the Hasher, so a burst of log-ins cannot exhaust a 512 MB
// container.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultParams is used for new hashes.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// Hasher hashes and verifies passwords with argon2id, at most `limit` at a time.
type Hasher struct {
	params Params
	sem    chan struct{}
	// dummy is a hash to verify against for unknown users, so an unknown
	// name costs as much time as a wrong password.
	dummy string
}

// NewHasher returns a Hasher running at most limit hashes at once.
func NewHasher(p Params, limit int) (*Hasher, error) {
	if limit < 1 {
		limit = 1
	}
	// The dummy needs only the shape and cost of a real hash, not a real
	// password behind it, so it costs nothing at start-up.
	dummy := encodeHash(p, make([]byte, saltLen), make([]byte, keyLen))
	return &Hasher{params: p, sem: make(chan struct{}, limit), dummy: dummy}, nil
}

// encodeHash is the PHC-style string stored for a hash.
func encodeHash(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.sem }

// Hash returns the PHC-style encoding of password's argon2id hash.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	p := h.params
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	return encodeHash(p, salt, key), nil
}

var errBadHash = errors.New("auth: malformed password hash")

// Verify reports whether password matches encoded (a Hash result).
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return false, errBadHash
	}
	// Refuse parameters that would let a tampered record exhaust memory.
	if p.Memory == 0 || p.Memory > 64*1024 || p.Time == 0 || p.Time > 16 || p.Threads == 0 || p.Threads > 16 {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(want) < 16 || len(want) > 64 {
		return false, errBadHash
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// burn spends the time of one verification, for unknown users.
func (h *Hasher) burn(ctx context.Context, password string) {
	_, _ = h.Verify(ctx, password, h.dummy)
}
