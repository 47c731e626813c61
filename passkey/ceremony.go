package passkey

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// ErrSignCount is an assertion whose signature counter did not move
// forward from the stored one (the library's clone warning): refused, the
// stored count left as it was. Authenticators that keep no counter (synced
// passkeys) report 0 every time, and a stored 0 with a reported 0 is not a
// warning, so they keep working.
var ErrSignCount = errors.New("passkey: the passkey's signature counter went backwards (a cloned authenticator?)")

// ErrResponse is a ceremony response that does not parse or verify.
var ErrResponse = errors.New("passkey: the passkey's answer is not valid")

// LoginOptions returns the options of an assertion under challenge: for a
// discoverable log-in (allow empty: the browser offers every passkey it
// holds for the site) or a re-authentication with one of allow.
func (rp *RP) LoginOptions(challenge []byte, allow []webauthn.Credential) (*protocol.CredentialAssertion, error) {
	opts := []webauthn.LoginOption{
		webauthn.WithChallenge(challenge),
		webauthn.WithUserVerification(protocol.VerificationRequired),
	}
	if len(allow) > 0 {
		opts = append(opts, webauthn.WithAllowedCredentials(webauthn.Credentials(allow).CredentialDescriptors()))
	}
	a, _, err := rp.WA.BeginDiscoverableLogin(opts...)
	if err != nil {
		return nil, fmt.Errorf("passkey: log-in options: %w", err)
	}
	return a, nil
}

// CreationOptions returns the options of a registration for user under
// challenge: a discoverable credential (a passkey), user verification
// required, no attestation, the user's passkeys excluded.
func (rp *RP) CreationOptions(user webauthn.User, challenge []byte) (*protocol.CredentialCreation, error) {
	c, _, err := rp.WA.BeginRegistration(user,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationRequired,
		}),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		webauthn.WithCredentialParameters(credParams),
		webauthn.WithExclusions(webauthn.Credentials(user.WebAuthnCredentials()).CredentialDescriptors()),
	)
	if err != nil {
		return nil, fmt.Errorf("passkey: creation options: %w", err)
	}
	c.Response.Challenge = challenge
	return c, nil
}

// ParseAssertion parses an assertion (the browser's PublicKeyCredential as
// JSON) and returns it with the challenge it answers.
func ParseAssertion(body []byte) (*protocol.ParsedCredentialAssertionData, []byte, error) {
	return parse(body, protocol.ParseCredentialRequestResponseBytes,
		func(p *protocol.ParsedCredentialAssertionData) string {
			return p.Response.CollectedClientData.Challenge
		})
}

// ParseCreation parses a registration response and returns it with the
// challenge it answers.
func ParseCreation(body []byte) (*protocol.ParsedCredentialCreationData, []byte, error) {
	return parse(body, protocol.ParseCredentialCreationResponseBytes,
		func(p *protocol.ParsedCredentialCreationData) string { return p.Response.CollectedClientData.Challenge })
}

// parse parses a ceremony response with parseBytes and decodes the
// challenge its client data names.
func parse[T any](body []byte, parseBytes func([]byte) (T, error), challenge func(T) string) (T, []byte, error) {
	var zero T
	p, err := parseBytes(body)
	if err != nil {
		return zero, nil, fmt.Errorf("%w: %w", ErrResponse, err)
	}
	ch, err := base64.RawURLEncoding.DecodeString(challenge(p))
	if err != nil {
		return zero, nil, ErrResponse
	}
	return p, ch, nil
}

// session is the library's ceremony state, rebuilt from a checked
// challenge: this relying party's ID and origin, user verification
// required. Its expiry is left to Challenges.Check.
func (rp *RP) session(challenge, userID []byte) webauthn.SessionData {
	return webauthn.SessionData{
		Challenge:        base64.RawURLEncoding.EncodeToString(challenge),
		RelyingPartyID:   rp.ID,
		Origin:           rp.Origin,
		UserID:           userID,
		UserVerification: protocol.VerificationRequired,
		CredParams:       credParams,
	}
}

// VerifyAssertion checks p (answering challenge, already checked) against
// user's passkeys: origin, RP ID, signature, user verification, backup
// flags. It returns the credential as it is after the log-in (its new sign
// count and flags), ErrSignCount when the counter went backwards, else
// ErrResponse.
func (rp *RP) VerifyAssertion(user webauthn.User, p *protocol.ParsedCredentialAssertionData, challenge []byte) (*webauthn.Credential, error) {
	c, err := rp.WA.ValidateLogin(user, rp.session(challenge, user.WebAuthnID()), p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrResponse, err)
	}
	if c.Authenticator.CloneWarning {
		return nil, ErrSignCount
	}
	return c, nil
}

// VerifyCreation checks p (answering challenge, already checked) as a new
// passkey of user and returns the credential to store.
func (rp *RP) VerifyCreation(user webauthn.User, p *protocol.ParsedCredentialCreationData, challenge []byte) (*webauthn.Credential, error) {
	c, err := rp.WA.CreateCredential(user, rp.session(challenge, user.WebAuthnID()), p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrResponse, err)
	}
	return c, nil
}
