package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"soulbridge/kv"
	"soulbridge/metrics"
)

// Recovery codes (docs/architecture.md, "Recovery codes"; ASVS V6.5, lookup
// secrets): ten one-time codes a member saves when the password is still
// known, and trades one of for a new password when it is not.
//
// Each code is 120 random bits, shown as 24 base32 characters in groups of
// four. A code is stored only as HMAC-SHA256 under a random 256-bit key
// made with its set and kept beside it. It is a keyed hash, not argon2:
// with 120 bits of entropy nobody can search the code space from a stolen
// record or backup, so a slow hash would buy nothing and make every attempt
// cost ten argon2 runs. The key is not derived from the site's secret key:
// rotating that key (SECRET_KEY_FALLBACKS) must not void the codes people
// saved, and trying each fallback key would make an attempt cost more for
// some accounts than for others.
const (
	// RecoveryCodeCount is how many codes a set holds.
	RecoveryCodeCount = 10
	recoveryCodeBytes = 15 // 120 bits ≥ ASVS's 112
	// maxCodeInput bounds what of a typed code is hashed.
	maxCodeInput = 64
)

// RecoverySet is an account's recovery codes as stored: the HMAC key and
// the hashes of the codes not used yet.
type RecoverySet struct {
	Key       string    `json:"key"`    // base64, 32 random bytes
	Hashes    []string  `json:"hashes"` // base64 HMAC-SHA256 of each unused code
	CreatedAt time.Time `json:"created_at"`
}

// Left is how many codes of the set are unused.
func (r *RecoverySet) Left() int {
	if r == nil {
		return 0
	}
	return len(r.Hashes)
}

// errCodeUsed is a code the account does not hold (any more); Recover
// answers it as ErrBadCredentials.
var errCodeUsed = errors.New("auth: recovery code not valid")

var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewRecoveryCodes gives username's account a new set of
// RecoveryCodeCount codes, replacing any earlier set, and returns them: the
// only time they are seen in clear. The caller has checked the password
// (Authenticate). ErrNoAccount when the account is gone.
func (s *Service) NewRecoveryCodes(ctx context.Context, username string) ([]string, error) {
	name, err := NormalizeUsername(username)
	if err != nil {
		return nil, err
	}
	codes := make([]string, RecoveryCodeCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
	}
	set := RecoverySet{Key: base64.RawStdEncoding.EncodeToString(randomBytes(32)), CreatedAt: s.cfg.Now().UTC()}
	for _, c := range codes {
		set.Hashes = append(set.Hashes, set.hash(normalizeCode(c)))
	}
	_, err = s.rewrite(ctx, name, "recovery codes", func(u *User, _ time.Time) error {
		u.Recovery = &set
		return nil
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// RecoveryCodesLeft says how many unused recovery codes username's account
// holds (0 when it never made any).
func (s *Service) RecoveryCodesLeft(ctx context.Context, username string) (int, error) {
	b, err := s.store.Get(ctx, userPrefix+username)
	if err != nil {
		return 0, fmt.Errorf("auth: recovery codes: %w", err)
	}
	u, err := decodeUser(b)
	if err != nil {
		return 0, err
	}
	return u.Recovery.Left(), nil
}

// Recovery is one attempt to set a new password with a recovery code.
type Recovery struct {
	Username, Code, NewPassword string
	// IP and Device are as in Attempt: the attempt is throttled as a
	// log-in is, against the same counters.
	IP, Device string
}

// Recover sets a new password for a.Username when a.Code is one of its
// unused recovery codes, and uses the code up. Like a password change it
// gives the account a new generation: every session and device cookie made
// before grants nothing. It returns the account as stored.
//
// A new password that fails CheckNewPassword is a *ValidationError (and
// nothing is counted). An unknown name, a wrong code and a used code are
// all ErrBadCredentials, after the same work: one read and one HMAC
// compared against RecoveryCodeCount hashes (a dummy set for a name with
// none), so neither the answer nor its timing says whether the name
// exists; they count against the log-in throttle (*ThrottledError when
// over). Only a right code costs a password hash. The code is taken out
// by a conditional write of the account: two recoveries with one code,
// on one instance or two, cannot both succeed. A right code for an account
// an operator locked is ErrLocked, and the code stays unused.
func (s *Service) Recover(ctx context.Context, a Recovery) (User, error) {
	name, nameErr := NormalizeUsername(a.Username)
	if nameErr == nil {
		if err := CheckNewPassword(name, a.NewPassword); err != nil {
			return User{}, err
		}
	}
	u, err := s.attempt(ctx, a.IP, name, nameErr, a.Device, func() (User, error) {
		code := normalizeCode(a.Code)
		if err := s.checkCode(ctx, name, nameErr, code); err != nil {
			return User{}, err
		}
		u, err := s.setPassword(ctx, name, a.NewPassword, "recover", func(u *User) error {
			// Checked in the rewrite: a lock landing first refuses, and
			// keeps the code for after the unlock.
			if u.Locked() {
				return ErrLocked
			}
			return u.useCode(code, s.codeCheck)
		})
		if errors.Is(err, errCodeUsed) || errors.Is(err, ErrNoAccount) {
			// Used by a recovery that landed first, or the account deleted.
			return User{}, ErrBadCredentials
		}
		return u, err
	})
	return u, s.counted(metrics.LoginRecovery, err)
}

// checkCode is Recover's cheap first check, before the password is hashed:
// nil when name's account holds code. A name the store does not have is
// checked as a dummy account record is (decoded, then its full dummy set),
// the same work.
func (s *Service) checkCode(ctx context.Context, name string, nameErr error, code string) error {
	b, exists := s.dummyRecord, false
	if nameErr == nil {
		got, err := s.store.Get(ctx, userPrefix+name)
		switch {
		case err == nil:
			b, exists = got, true
		case errors.Is(err, kv.ErrUnavailable) || !errors.Is(err, kv.ErrNotFound):
			return fmt.Errorf("auth: recover: %w", err)
		}
	}
	u, err := decodeUser(b)
	if err != nil {
		return err
	}
	known, set := exists, u.Recovery
	if set.Left() == 0 {
		set, exists = s.dummyCodes, false
	}
	if set.match(code, s.codeCheck) < 0 || !exists {
		if !known {
			return errUnknownUser
		}
		return ErrBadCredentials
	}
	return nil
}

// useCode takes code out of u's set, or returns errCodeUsed when the set
// does not hold it.
func (u *User) useCode(code string, observe func(int)) error {
	i := u.Recovery.match(code, observe)
	if i < 0 {
		return errCodeUsed
	}
	u.Recovery.Hashes = slices.Delete(slices.Clone(u.Recovery.Hashes), i, i+1)
	return nil
}

// match returns the index of code's hash in r, or -1. It hashes once and
// compares against RecoveryCodeCount hashes whatever r holds (missing ones
// as a hash nothing matches), in constant time, without stopping at a
// match: a set with fewer codes left takes the same time. observe, if set,
// is told how many comparisons were made (a test's window on the work).
func (r *RecoverySet) match(code string, observe func(int)) int {
	if r == nil {
		return -1
	}
	h, err := base64.RawStdEncoding.DecodeString(r.hash(code))
	if err != nil {
		return -1
	}
	found := -1
	var none [sha256.Size]byte
	n := max(RecoveryCodeCount, len(r.Hashes))
	for i := range n {
		want := none[:]
		if i < len(r.Hashes) {
			if b, err := base64.RawStdEncoding.DecodeString(r.Hashes[i]); err == nil {
				want = b
			}
		}
		if subtle.ConstantTimeCompare(h, want) == 1 && found < 0 {
			found = i
		}
	}
	if observe != nil {
		observe(n)
	}
	return found
}

// hash is the stored form of a normalized code under r's key.
func (r *RecoverySet) hash(code string) string {
	key, _ := base64.RawStdEncoding.DecodeString(r.Key)
	m := hmac.New(sha256.New, key)
	m.Write([]byte("soulbridge recovery code\x00"))
	m.Write([]byte(code))
	return base64.RawStdEncoding.EncodeToString(m.Sum(nil))
}

// newDummyCodes is a full set of codes nobody knows, checked for names
// without a set so that they cost the same work, and an account record
// holding it, decoded for names the store does not have.
func newDummyCodes() (*RecoverySet, []byte) {
	d := &RecoverySet{Key: base64.RawStdEncoding.EncodeToString(randomBytes(32))}
	for range RecoveryCodeCount {
		d.Hashes = append(d.Hashes, d.hash(normalizeCode(newRecoveryCode())))
	}
	b, _ := encodeUser(User{Username: "dummy", PasswordHash: "dummy", Generation: "dummy", Recovery: d})
	return d, b
}

// newRecoveryCode returns a code as shown: 24 base32 characters in groups
// of four, e.g. "ABCD-EFGH-IJKL-MNOP-QRST-UVWX".
func newRecoveryCode() string {
	s := codeEncoding.EncodeToString(randomBytes(recoveryCodeBytes))
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// normalizeCode is a code as typed, as hashed: upper case, without the
// spaces and dashes people copy with it or type to group it, cut to
// maxCodeInput characters.
func normalizeCode(typed string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(typed) {
		if c == '-' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			continue
		}
		if b.Len() >= maxCodeInput {
			break
		}
		b.WriteRune(c)
	}
	return b.String()
}

// randomBytes returns n bytes from the system's random source (which
// never fails on the systems Go supports).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
