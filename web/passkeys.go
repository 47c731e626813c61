package web

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"soulbridge/auth"
	"soulbridge/kv"
	"soulbridge/passkey"
	"soulbridge/session"
)

// Passkey ceremonies (README "Passkeys"): JSON API paths under /passkeys/
// (errors as JSON). Every challenge is stateless (passkey.Challenges),
// signed for one purpose: a log-in, a sign-up of one name under one user
// handle, an addition to one account from one session, a
// re-authentication of one session. Its single use is recorded in the
// shared store when the ceremony finishes (auth.ClaimChallenge), so a
// ceremony begun on one instance finishes on any other, and none finishes
// twice; while the shared store is down that cannot be had: 503.

const passkeyPrefix = "/passkeys/"

// Challenge issuance is throttled per address on each instance: issuing
// stores nothing, so this bounds only the work.
const (
	challengeLimit  = 60
	challengeWindow = time.Minute
)

func purposeSignup(name string, handle []byte) string {
	return "signup\x00" + name + "\x00" + string(handle)
}

func purposeAdd(name, sessionID string, handle []byte) string {
	return "add\x00" + name + "\x00" + sessionID + "\x00" + string(handle)
}

func purposeReauth(name, sessionID string) string { return "reauth\x00" + name + "\x00" + sessionID }

// purposeReauthProof signs the proof a re-authentication gives back: for
// one session, good for passkey.Timeout.
func purposeReauthProof(sessionID string) string { return "reauthed\x00" + sessionID }

const purposeLogin = "login"

var (
	errPasskeysOff     = errorf(http.StatusNotFound, "Passkeys are not enabled on this site.")
	errPasskeyRefused  = errorf(http.StatusUnauthorized, "That passkey was not accepted. Try again, or log in another way.")
	errPasskeyCounter  = errorf(http.StatusUnauthorized, "That passkey's signature counter went backwards, so it may have been copied: it was refused. Log in another way and remove it from your account.")
	errChallengeGone   = errorf(http.StatusBadRequest, "That passkey request has expired or was already used. Please try again.")
	errPasskeysPaused  = &Error{Status: http.StatusServiceUnavailable, RetryAfter: 10 * time.Second, Message: "Passkeys are paused for a moment: the site's shared storage is unavailable. Please try again shortly, or use your password."}
	errNoPasskeyFields = errorf(http.StatusBadRequest, `send {"credential": {…}} as the browser gave it`)
)

// passkeysHere reports whether passkeys can be offered for r: they are on,
// and r came to the relying party's own host (a page served under another
// name, a raw IP say, could not use them).
func (s *Server) passkeysHere(r *http.Request) bool {
	if s.rp == nil {
		return false
	}
	u, err := url.Parse(s.rp.Origin)
	if err != nil {
		return false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.EqualFold(host, u.Hostname())
}

// issue returns a challenge for purpose, throttled per address.
func (s *Server) issue(r *http.Request, purpose string) ([]byte, error) {
	if wait := s.challengeRate.Reserve(auth.AddrKey(s.clientIP(r))); wait > 0 {
		return nil, &Error{Status: http.StatusTooManyRequests, RetryAfter: wait, Message: "Too many passkey requests. Wait a moment and try again."}
	}
	return s.challenges.Issue(purpose)
}

// claim records the single use of a checked challenge.
func (s *Server) claim(r *http.Request, nonce string, expires time.Time) error {
	err := s.auth.ClaimChallenge(r.Context(), nonce, expires)
	switch {
	case errors.Is(err, auth.ErrChallengeUsed):
		return errChallengeGone
	case errors.Is(err, kv.ErrUnavailable):
		return errPasskeysPaused
	}
	return err
}

// passkeyBody reads a ceremony's JSON body into v.
func (s *Server) passkeyBody(r *http.Request, v any) error {
	if s.rp == nil {
		return errPasskeysOff
	}
	body, err := readJSON(r)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errorf(http.StatusBadRequest, "malformed JSON")
	}
	return nil
}

// passkeyLoginBegin: POST /passkeys/login/begin → 200 {"publicKey": …},
// the options of a discoverable log-in (the "Log in with a passkey"
// button; the log-in page carries its own for autofill).
func (s *Server) passkeyLoginBegin(w http.ResponseWriter, r *http.Request) error {
	if s.rp == nil {
		return errPasskeysOff
	}
	opts, err := s.loginOptions(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, opts)
	return nil
}

// loginOptions are the options of a discoverable log-in under a new
// challenge.
func (s *Server) loginOptions(r *http.Request) (any, error) {
	ch, err := s.issue(r, purposeLogin)
	if err != nil {
		return nil, err
	}
	return s.rp.LoginOptions(ch, nil)
}

// passkeyLoginFinish: POST /passkeys/login/finish?next=PATH with the
// assertion {"credential": …} → 200 {"redirect": PATH} with a new session
// made "by passkey"; 401 for an assertion refused (counted in the log-in
// throttle like a wrong password), 403 for a locked account, 429 throttled,
// 400 for a challenge expired or used, 503 while single use cannot be
// enforced.
func (s *Server) passkeyLoginFinish(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Credential json.RawMessage `json:"credential"`
	}
	if err := s.passkeyBody(r, &req); err != nil {
		return err
	}
	ctx, ip := kv.AwaitFirstSync(r.Context()), s.clientIP(r)
	p, ch, err := passkey.ParseAssertion(req.Credential)
	if err != nil {
		return s.passkeyFailed(r, "", err)
	}
	nonce, expires, err := s.challenges.Check(ch, purposeLogin)
	if err != nil {
		s.auth.FailPasskey(ctx, ip)
		return errChallengeGone
	}
	owner, err := s.auth.PasskeyUser(ctx, p.Response.UserHandle)
	if errors.Is(err, auth.ErrBadCredentials) {
		return s.passkeyFailed(r, "", errors.New("unknown user handle"))
	}
	if err != nil {
		return err
	}
	// As for a password log-in: a browser without a valid device cookie
	// for the account is a new device (web/device.go).
	newDevice := s.deviceNonce(r, owner.Username) == ""
	var cred *webauthn.Credential
	u, err := s.auth.PasskeyAttempt(ctx, ip, owner.Username, func() (auth.User, error) {
		// Single use first: a replayed assertion is told as such.
		if err := s.claim(r, nonce, expires); err != nil {
			return auth.User{}, err
		}
		c, err := s.rp.VerifyAssertion(owner, p, ch)
		if err != nil {
			return auth.User{}, errors.Join(auth.ErrBadCredentials, err)
		}
		cred = c
		return usedPasskey(s.auth.UsedPasskey(ctx, owner.Username, *c))
	})
	var throttled *auth.ThrottledError
	switch {
	case errors.As(err, &throttled):
		s.typedNameEvent(r, eventThrottled, owner.Username, "action", "passkey log-in")
		return &Error{Status: http.StatusTooManyRequests, RetryAfter: throttled.RetryAfter,
			Message: "Too many failed log-ins. Wait a few minutes and try again."}
	case errors.Is(err, auth.ErrLocked):
		s.typedNameEvent(r, eventLogInFailed, owner.Username, "reason", "locked", "method", "passkey")
		return errAccountLocked
	case errors.Is(err, auth.ErrBadCredentials):
		return s.passkeyFailed(r, owner.Username, err)
	case errors.Is(err, kv.ErrUnavailable):
		return errPasskeysPaused
	case err != nil:
		return err
	}
	how := session.How{Method: "passkey", Passkey: base64.RawURLEncoding.EncodeToString(cred.ID)}
	sess, err := s.logInAs(w, r, u, ip, how)
	if errors.Is(err, session.ErrAccountChanged) {
		return errPasskeyRefused
	}
	if err != nil {
		return err
	}
	s.authEvent(r, eventLogIn, u.Username, sess.ID, "method", "passkey")
	s.record(r, u.Username, auth.Event{Kind: auth.KindLogIn, Event: "Logged in with a passkey", NewDevice: newDevice, Session: sess.PublicID()})
	writeJSON(w, http.StatusOK, map[string]string{"redirect": cmp.Or(safeNext(r.URL.Query().Get("next")), "/community")})
	return nil
}

// usedPasskey passes on what recording a passkey's use returned, a passkey
// removed (or an account deleted) since the assertion was checked
// refusing it like a wrong one.
func usedPasskey(u auth.User, err error) (auth.User, error) {
	if errors.Is(err, auth.ErrNoPasskey) || errors.Is(err, auth.ErrNoAccount) {
		return auth.User{}, errors.Join(auth.ErrBadCredentials, err)
	}
	return u, err
}

// passkeyFailed answers a refused passkey log-in: counted against the
// address (the account's own failures are counted by PasskeyAttempt).
func (s *Server) passkeyFailed(r *http.Request, username string, cause error) error {
	if username == "" {
		s.auth.FailPasskey(r.Context(), s.clientIP(r))
	}
	s.typedNameEvent(r, eventLogInFailed, username, "method", "passkey", "reason", passkeyReason(cause))
	if username != "" {
		s.recordFailedLogIn(r, username)
	}
	if errors.Is(cause, passkey.ErrSignCount) {
		return errPasskeyCounter
	}
	return errPasskeyRefused
}

// passkeyReason is a short reason for the log, never the response's bytes.
func passkeyReason(err error) string {
	switch {
	case errors.Is(err, passkey.ErrSignCount):
		return "signature counter went backwards"
	case errors.Is(err, passkey.ErrResponse):
		return "assertion not valid"
	case err != nil:
		return err.Error()
	}
	return ""
}

// creationUser is the account a registration is for, as the library sees
// it: its name, user handle and passkeys (excluded from the new one).
func creationUser(name string, handle []byte, existing []auth.Passkey) auth.User {
	return auth.User{Username: name, PasskeyHandle: handle, Passkeys: existing}
}

// passkeySignupBegin: POST /passkeys/signup/begin {"username": NAME} →
// 200 {"publicKey": …} under a new random user handle; 400 bad name, 409
// taken, 429 throttled.
func (s *Server) passkeySignupBegin(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Username string `json:"username"`
	}
	if err := s.passkeyBody(r, &req); err != nil {
		return err
	}
	name, err := auth.NormalizeUsername(req.Username)
	if err != nil {
		return validationError(err)
	}
	if _, err := s.auth.Get(r.Context(), name); err == nil {
		return errorf(http.StatusConflict, "That username is taken. Pick another, or log in.")
	}
	handle, err := auth.NewHandle()
	if err != nil {
		return err
	}
	ch, err := s.issue(r, purposeSignup(name, handle))
	if err != nil {
		return err
	}
	opts, err := s.rp.CreationOptions(creationUser(name, handle, nil), ch)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, opts)
	return nil
}

// registration is a registration ceremony's finish body: the credential
// as the browser gave it, the user handle of the options (base64url), and
// a name for the passkey.
type registration struct {
	Username   string          `json:"username"`
	Handle     string          `json:"handle"`
	Name       string          `json:"name"`
	Credential json.RawMessage `json:"credential"`
}

// verifyRegistration checks req's credential against a challenge for
// purpose(handle) and returns the new passkey, named, and its handle.
func (s *Server) verifyRegistration(r *http.Request, req registration, name string, existing []auth.Passkey, purpose func(handle []byte) string) (auth.Passkey, []byte, error) {
	handle, err := base64.RawURLEncoding.DecodeString(req.Handle)
	if err != nil || len(handle) != auth.HandleBytes {
		return auth.Passkey{}, nil, errorf(http.StatusBadRequest, `missing or malformed "handle"`)
	}
	label := "Passkey"
	if strings.TrimSpace(req.Name) != "" {
		if label, err = auth.CheckPasskeyName(req.Name); err != nil {
			return auth.Passkey{}, nil, validationError(err)
		}
	}
	p, ch, err := passkey.ParseCreation(req.Credential)
	if err != nil {
		return auth.Passkey{}, nil, errorf(http.StatusBadRequest, "The passkey could not be read. Please try again.")
	}
	nonce, expires, err := s.challenges.Check(ch, purpose(handle))
	if err != nil {
		return auth.Passkey{}, nil, errChallengeGone
	}
	if err := s.claim(r, nonce, expires); err != nil {
		return auth.Passkey{}, nil, err
	}
	c, err := s.rp.VerifyCreation(creationUser(name, handle, existing), p, ch)
	if err != nil {
		return auth.Passkey{}, nil, errorf(http.StatusBadRequest, "The passkey was not accepted. Please try again.")
	}
	return auth.Passkey{Credential: *c, Name: label}, handle, nil
}

// passkeySignupFinish: POST /passkeys/signup/finish {"username", "handle",
// "name", "credential"} → 200 {"redirect": "/community"} with the new
// account (no password) and its session; 409 taken, 429, 503 as sign-up.
func (s *Server) passkeySignupFinish(w http.ResponseWriter, r *http.Request) error {
	var req registration
	if err := s.passkeyBody(r, &req); err != nil {
		return err
	}
	name, err := auth.NormalizeUsername(req.Username)
	if err != nil {
		return validationError(err)
	}
	pk, handle, err := s.verifyRegistration(r, req, name, nil, func(h []byte) string { return purposeSignup(name, h) })
	if err != nil {
		return err
	}
	ip := s.clientIP(r)
	u, err := s.auth.SignUpWithPasskey(kv.AwaitFirstSync(r.Context()), name, handle, pk, ip)
	var throttled *auth.ThrottledError
	switch {
	case errors.As(err, &throttled):
		return &Error{Status: http.StatusTooManyRequests, RetryAfter: throttled.RetryAfter,
			Message: "Too many sign-ups from your network. Please try again later."}
	case errors.Is(err, auth.ErrUsernameTaken):
		return errorf(http.StatusConflict, "That username is taken. Pick another, or log in.")
	case errors.Is(err, kv.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, RetryAfter: 10 * time.Second, Cause: err,
			Message: "Sign-ups are paused for a moment: the site cannot check that your username is free. Please try again shortly."}
	case err != nil:
		return validationError(err)
	}
	if err := s.clearEarlierOwner(r, u.Username); err != nil {
		return err
	}
	sess, err := s.logInAs(w, r, u, ip, session.How{Method: "passkey", Passkey: pk.ID()})
	if err != nil {
		return err
	}
	s.authEvent(r, eventSignUp, u.Username, sess.ID, "method", "passkey")
	s.record(r, u.Username, auth.Event{Kind: auth.KindSignUp, Event: "Account created with a passkey", Session: sess.PublicID()})
	s.setWelcome(w, r)
	writeJSON(w, http.StatusOK, map[string]string{"redirect": "/community"})
	return nil
}

// reauthRequest is the re-authentication a sensitive JSON request carries:
// the password, or the proof of a passkey re-authentication.
type reauthRequest struct {
	Password string `json:"password"`
	Reauth   string `json:"reauth"`
}

// passkeyAddBegin: POST /passkeys/add/begin {"password"} or {"reauth"}
// (session; re-authentication as every sensitive action) → 200
// {"publicKey": …} for a new passkey of the account, under its user handle
// (a new one at its first passkey).
func (s *Server) passkeyAddBegin(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.passkeyAccount(r)
	if err != nil {
		return err
	}
	var req reauthRequest
	if err := s.passkeyBody(r, &req); err != nil {
		return err
	}
	if err := s.reauthenticate(r, sess, req.Password, req.Reauth, "add passkey"); err != nil {
		return err
	}
	u, err := s.auth.Get(r.Context(), sess.Username)
	if err != nil {
		return err
	}
	handle := u.PasskeyHandle
	if len(handle) == 0 {
		if handle, err = auth.NewHandle(); err != nil {
			return err
		}
	}
	ch, err := s.issue(r, purposeAdd(u.Username, sess.ID, handle))
	if err != nil {
		return err
	}
	opts, err := s.rp.CreationOptions(creationUser(u.Username, handle, u.Passkeys), ch)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, opts)
	return nil
}

// passkeyAccount starts a session's passkey request: passkeys on (404), a
// session (401), the shared tier up (503).
func (s *Server) passkeyAccount(r *http.Request) (*session.Session, error) {
	if s.rp == nil {
		return nil, errPasskeysOff
	}
	sess, err := requireSession(r)
	if err != nil {
		return nil, err
	}
	return sess, s.requireShared()
}

// passkeyAddFinish: POST /passkeys/add/finish {"handle", "name",
// "credential"} (session) → 200 {"id": CREDENTIAL ID}.
func (s *Server) passkeyAddFinish(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.passkeyAccount(r)
	if err != nil {
		return err
	}
	var req registration
	if err := s.passkeyBody(r, &req); err != nil {
		return err
	}
	u, err := s.auth.Get(r.Context(), sess.Username)
	if err != nil {
		return err
	}
	pk, handle, err := s.verifyRegistration(r, req, u.Username, u.Passkeys, func(h []byte) string { return purposeAdd(u.Username, sess.ID, h) })
	if err != nil {
		return err
	}
	_, err = s.auth.AddPasskey(r.Context(), u.Username, handle, pk)
	switch {
	case errors.Is(err, auth.ErrTooManyPasskeys):
		return errorf(http.StatusConflict, "An account holds at most %d passkeys: remove one first.", auth.MaxPasskeys)
	case errors.Is(err, auth.ErrHandleChanged):
		return errorf(http.StatusConflict, "Your account changed meanwhile. Please try again.")
	case err != nil:
		return validationError(err)
	}
	s.authEvent(r, "passkey added", u.Username, sess.ID)
	s.recordBy(r, sess, auth.KindPasskeyAdded, "Passkey added: "+pk.Name)
	writeJSON(w, http.StatusOK, map[string]string{"id": pk.ID()})
	return nil
}

// passkeyReauthBegin: POST /passkeys/reauth/begin (session) → 200
// {"publicKey": …} asking for one of the account's passkeys.
func (s *Server) passkeyReauthBegin(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.passkeyAccount(r)
	if err != nil {
		return err
	}
	u, err := s.auth.Get(r.Context(), sess.Username)
	if err != nil {
		return err
	}
	if len(u.Passkeys) == 0 {
		return errorf(http.StatusBadRequest, "Your account has no passkey: confirm with your password.")
	}
	ch, err := s.issue(r, purposeReauth(u.Username, sess.ID))
	if err != nil {
		return err
	}
	opts, err := s.rp.LoginOptions(ch, u.WebAuthnCredentials())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, opts)
	return nil
}

// passkeyReauthFinish: POST /passkeys/reauth/finish {"credential"}
// (session) → 200 {"reauth": PROOF}: the proof a sensitive action takes
// instead of the password (field "reauth"), for this session, for five
// minutes. Refusals count in the log-in throttle.
func (s *Server) passkeyReauthFinish(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.passkeyAccount(r)
	if err != nil {
		return err
	}
	var req struct {
		Credential json.RawMessage `json:"credential"`
	}
	if err := s.passkeyBody(r, &req); err != nil {
		return err
	}
	if len(req.Credential) == 0 {
		return errNoPasskeyFields
	}
	ctx := r.Context()
	_, err = s.auth.PasskeyAttempt(ctx, s.clientIP(r), sess.Username, func() (auth.User, error) {
		owner, err := s.auth.Get(ctx, sess.Username)
		if err != nil {
			return auth.User{}, err
		}
		p, ch, err := passkey.ParseAssertion(req.Credential)
		if err != nil {
			return auth.User{}, errors.Join(auth.ErrBadCredentials, err)
		}
		nonce, expires, err := s.challenges.Check(ch, purposeReauth(owner.Username, sess.ID))
		if err != nil {
			return auth.User{}, errors.Join(auth.ErrBadCredentials, err)
		}
		if err := s.claim(r, nonce, expires); err != nil {
			return auth.User{}, err
		}
		c, err := s.rp.VerifyAssertion(owner, p, ch)
		if err != nil {
			return auth.User{}, errors.Join(auth.ErrBadCredentials, err)
		}
		return usedPasskey(s.auth.UsedPasskey(ctx, owner.Username, *c))
	})
	if err := s.reauthError(r, sess, err, "passkey"); err != nil {
		return err
	}
	proof, err := s.challenges.Issue(purposeReauthProof(sess.ID))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"reauth": base64.RawURLEncoding.EncodeToString(proof)})
	return nil
}

// reauthenticate checks that the person behind sess is the account's
// owner before a sensitive action: the password (checked and throttled
// like a log-in), or the proof a passkey re-authentication of this same
// session gave in the last five minutes (passkeyReauthFinish). 403 when
// neither holds.
func (s *Server) reauthenticate(r *http.Request, sess *session.Session, password, proof, action string) error {
	if password == "" && proof != "" {
		return s.checkProof(sess, proof)
	}
	return s.checkPassword(r, sess, password, action)
}

// checkProof checks a passkey re-authentication's proof for sess: 403
// when it is not one, is another session's or has expired.
func (s *Server) checkProof(sess *session.Session, proof string) error {
	b, err := base64.RawURLEncoding.DecodeString(proof)
	if err == nil && s.challenges != nil {
		_, _, err = s.challenges.Check(b, purposeReauthProof(sess.ID))
	}
	if err != nil || s.challenges == nil {
		return errorf(http.StatusForbidden, "Your confirmation with a passkey has expired. Please confirm again.")
	}
	return nil
}

// reauthError turns a refused re-authentication into its answer.
func (s *Server) reauthError(r *http.Request, sess *session.Session, err error, action string) error {
	var throttled *auth.ThrottledError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &throttled):
		s.authEvent(r, eventThrottled, sess.Username, sess.ID, "action", action)
		return &Error{Status: http.StatusTooManyRequests, RetryAfter: throttled.RetryAfter,
			Message: "Too many failed attempts. Wait a few minutes and try again."}
	case errors.Is(err, auth.ErrBadCredentials):
		s.authEvent(r, eventLogInFailed, sess.Username, sess.ID, "action", action, "reason", passkeyReason(err))
		return errorf(http.StatusForbidden, "That passkey was not accepted.")
	case errors.Is(err, auth.ErrLocked):
		return errAccountLocked
	case errors.Is(err, kv.ErrUnavailable):
		return errPasskeysPaused
	}
	return err
}
