// Package passkey is the site's WebAuthn relying party: its identity,
// taken from the configured public address (never from a request's Host),
// and the stateless signed challenges its ceremonies use. It knows nothing
// about HTTP routes or accounts; web runs the ceremonies and auth stores
// the credentials.
package passkey

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// RP is the relying party: its ID (the public address's host name), its
// one origin (scheme, host and port of the public address), and the
// library configured with them.
type RP struct {
	ID     string
	Origin string
	WA     *webauthn.WebAuthn
}

// Timeout is how long a ceremony's challenge is good for.
const Timeout = 5 * time.Minute

// NewRP returns the relying party of origin, a site address such as
// https://community.example.org or http://localhost:8080 (a path is
// ignored). Plain http is accepted only for localhost, the one host
// browsers treat as a secure context without TLS.
func NewRP(origin string) (*RP, error) {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("passkey: %q is not a site address", origin)
	}
	host := strings.ToLower(u.Hostname())
	if u.Scheme == "http" && host != "localhost" {
		return nil, errors.New("passkey: over plain http, passkeys work only on localhost")
	}
	o := u.Scheme + "://" + strings.ToLower(u.Host)
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          host,
		RPDisplayName: "soulbridge",
		RPOrigins:     []string{o},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: Timeout, TimeoutUVD: Timeout},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: Timeout, TimeoutUVD: Timeout},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: relying party: %w", err)
	}
	return &RP{ID: host, Origin: o, WA: wa}, nil
}

// Origin is the relying party's origin for a site: publicURL when set,
// else http://localhost:port (the local default; 127.0.0.1 is refused by
// browsers for WebAuthn).
func Origin(publicURL, port string) string {
	if publicURL != "" {
		return publicURL
	}
	return "http://localhost:" + port
}

// credParams are the public-key algorithms accepted at registration: the
// same list at the beginning and the end of a ceremony, which the library
// checks the new credential against.
var credParams = []protocol.CredentialParameter{
	{Type: protocol.PublicKeyCredentialType, Algorithm: -7},   // ES256
	{Type: protocol.PublicKeyCredentialType, Algorithm: -8},   // EdDSA
	{Type: protocol.PublicKeyCredentialType, Algorithm: -257}, // RS256
}
