// Package testpasskey is a software WebAuthn authenticator for tests: an
// ES256 key (crypto/ecdsa) whose registration ("none" attestation) and
// assertions it builds itself, for any origin and RP ID, so tests can make
// the answers a browser never would (another origin, another RP ID, a
// replay, a counter gone backwards).
package testpasskey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator holds one credential.
type Authenticator struct {
	Key       *ecdsa.PrivateKey
	ID        []byte
	Handle    []byte // the user handle it was registered under
	SignCount uint32 // the counter the next assertion reports (0: synced, never moves)
	Counting  bool   // whether each assertion adds one to SignCount
	// BackupEligible and BackedUp are the BE and BS flags it reports.
	BackupEligible, BackedUp bool
}

// New returns an authenticator with a fresh key and credential ID.
func New(t testing.TB) *Authenticator {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &Authenticator{Key: k, ID: id}
}

var b64 = base64.RawURLEncoding

// clientData is the clientDataJSON of a ceremony of typ at origin.
func clientData(typ string, challenge []byte, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": b64.EncodeToString(challenge), "origin": origin, "crossOrigin": false})
	return b
}

func (a *Authenticator) flags(attested bool) byte {
	f := byte(0x01 | 0x04) // user present, user verified
	if a.BackupEligible {
		f |= 0x08
	}
	if a.BackedUp {
		f |= 0x10
	}
	if attested {
		f |= 0x40
	}
	return f
}

func (a *Authenticator) authData(rpID string, attested bool) []byte {
	h := sha256.Sum256([]byte(rpID))
	d := append(h[:], a.flags(attested))
	d = binary.BigEndian.AppendUint32(d, a.SignCount)
	if !attested {
		return d
	}
	d = append(d, make([]byte, 16)...) // AAGUID: none
	d = binary.BigEndian.AppendUint16(d, uint16(len(a.ID)))
	d = append(d, a.ID...)
	pub := a.Key.PublicKey
	x, y := make([]byte, 32), make([]byte, 32)
	pub.X.FillBytes(x)
	pub.Y.FillBytes(y)
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		panic(err)
	}
	return append(d, cose...)
}

// Create registers the credential for user handle handle and returns the
// registration response (the browser's PublicKeyCredential as JSON).
func (a *Authenticator) Create(challenge []byte, handle []byte, origin, rpID string) []byte {
	a.Handle = handle
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(rpID, true)})
	if err != nil {
		panic(err)
	}
	b, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.ID), "rawId": b64.EncodeToString(a.ID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData("webauthn.create", challenge, origin)),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"internal"},
		},
	})
	return b
}

// Assert answers challenge for origin and RP ID and returns the assertion
// response; a counting authenticator's counter moves on first.
func (a *Authenticator) Assert(challenge []byte, origin, rpID string) []byte {
	if a.Counting {
		a.SignCount++
	}
	cd := clientData("webauthn.get", challenge, origin)
	ad := a.authData(rpID, false)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.Key, digest[:])
	if err != nil {
		panic(err)
	}
	b, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.ID), "rawId": b64.EncodeToString(a.ID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(ad),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(a.Handle),
		},
	})
	return b
}

// Challenge returns the challenge of a ceremony's options as the server
// sent them ({"publicKey": {"challenge": "…"}}), failing t otherwise.
func Challenge(t testing.TB, options []byte) []byte {
	t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatalf("options %s: %v", options, err)
	}
	c, err := b64.DecodeString(o.PublicKey.Challenge)
	if err != nil || len(c) == 0 {
		t.Fatalf("options without a challenge: %s", options)
	}
	return c
}

// UserID returns the user handle of registration options.
func UserID(t testing.TB, options []byte) []byte {
	t.Helper()
	var o struct {
		PublicKey struct {
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatalf("options %s: %v", options, err)
	}
	id, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil || len(id) == 0 {
		t.Fatalf("registration options without a user id: %s", options)
	}
	return id
}
