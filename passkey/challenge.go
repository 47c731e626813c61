package passkey

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// A challenge is stateless: nothing is stored when one is issued (a log-in
// page offers one to every visitor, and a page view must not write). It is
// a random nonce, its expiry and an HMAC-SHA256 over purpose, nonce and
// expiry under a key derived from the site key for this use only, so a
// challenge issued for one ceremony (or one account, one session) is worth
// nothing in another, and any instance sharing the key can check it. Its
// single use is enforced when the ceremony finishes (web records the nonce
// in the shared store).

// ErrChallenge is a challenge that is not ours, was issued for another
// purpose, or has expired.
var ErrChallenge = errors.New("passkey: the challenge is not valid (expired, or issued for something else)")

const (
	nonceBytes     = 16
	challengeBytes = nonceBytes + 8 + sha256.Size
)

// Challenges issues and checks signed challenges.
type Challenges struct {
	key []byte
	now func() time.Time
}

// NewChallenges returns challenges signed under a key derived from
// siteKey; now nil means time.Now.
func NewChallenges(siteKey []byte, now func() time.Time) *Challenges {
	m := hmac.New(sha256.New, siteKey)
	m.Write([]byte("soulbridge passkey challenge v1"))
	if now == nil {
		now = time.Now
	}
	return &Challenges{key: m.Sum(nil), now: now}
}

// Issue returns a new challenge for purpose, good for Timeout.
func (c *Challenges) Issue(purpose string) ([]byte, error) {
	b := make([]byte, challengeBytes)
	if _, err := rand.Read(b[:nonceBytes]); err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint64(b[nonceBytes:], uint64(c.now().Add(Timeout).Unix()))
	copy(b[nonceBytes+8:], c.mac(purpose, b[:nonceBytes+8]))
	return b, nil
}

// Check verifies challenge for purpose and returns its nonce (in base64url,
// the key of its single use) and its expiry.
func (c *Challenges) Check(challenge []byte, purpose string) (nonce string, expires time.Time, err error) {
	if len(challenge) != challengeBytes {
		return "", time.Time{}, ErrChallenge
	}
	if !hmac.Equal(challenge[nonceBytes+8:], c.mac(purpose, challenge[:nonceBytes+8])) {
		return "", time.Time{}, ErrChallenge
	}
	expires = time.Unix(int64(binary.BigEndian.Uint64(challenge[nonceBytes:nonceBytes+8])), 0)
	if !c.now().Before(expires) {
		return "", time.Time{}, ErrChallenge
	}
	return base64.RawURLEncoding.EncodeToString(challenge[:nonceBytes]), expires, nil
}

func (c *Challenges) mac(purpose string, body []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(purpose)))
	m.Write(n[:])
	m.Write([]byte(purpose))
	m.Write(body)
	return m.Sum(nil)
}
