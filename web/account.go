package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"soulbridge/auth"
	"soulbridge/avatar"
	"soulbridge/kv"
	"soulbridge/metrics"
	"soulbridge/session"
	"soulbridge/views"
)

// The account page and its two password-checked actions: change the
// password, delete the account (docs/architecture.md, "Your sessions").
// Their responses are Cache-Control: no-store, as every response but the
// hashed assets and uploaded images (securityHeaders, middleware.go).

// account shows your sessions and the password and deletion forms; without
// a session it sends you to log in and back.
func (s *Server) account(w http.ResponseWriter, r *http.Request) error {
	sess := session.FromContext(r.Context())
	if sess == nil {
		http.Redirect(w, r, "/login?next="+url.QueryEscape("/account"), http.StatusSeeOther)
		return nil
	}
	return s.renderAccount(w, r, sess, http.StatusOK, views.Account{})
}

// renderAccount renders the account page for sess with status (a refused
// form re-renders it with its message in a).
func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, a views.Account) error {
	list, err := s.sessions.List(r.Context(), sess.Username)
	if err != nil {
		return err
	}
	a.Username = sess.Username
	a.RecoveryCodesLeft = s.recoveryCodesLeft(r, sess.Username)
	a.Activity = s.activityItems(r, sess)
	if u, err := s.auth.Get(r.Context(), sess.Username); err == nil && u.OperatorNote != "" {
		a.OperatorNote, a.OperatorAt = u.OperatorNote, readableTime(u.OperatorAt)
	}
	if s.mail != nil {
		if a.Mail == nil {
			a.Mail = &views.AccountMail{}
		}
		if u, err := s.auth.Get(r.Context(), sess.Username); err == nil {
			a.Mail.Email = u.Email
			if u.EmailPending != nil {
				a.Mail.Pending = u.EmailPending.Address
			}
		}
	}
	for _, in := range s.sessionViews(list, sess) {
		a.Sessions = append(a.Sessions, views.AccountSession{
			ID: in.ID, Device: in.Device, IP: in.IP, Current: in.Current,
			Created: readableTime(in.created), LastSeen: readableTime(in.lastSeen),
			CreatedISO: in.CreatedAt, LastSeenISO: in.LastSeen, Method: in.Method,
		})
	}
	a.Passkeys = s.accountPasskeys(r, sess.Username, a.Passkeys.Error, s.sessionViews(list, sess))
	a.Passkeys.Review = len(a.Passkeys.List) > 0 && sess.Method == "recovery" && time.Since(sess.CreatedAt) < passkeyReviewFor
	s.render(w, r, status, views.AccountPage(s.layout(r, "Your account"), a))
	return nil
}

// recoveryCodesLeft is how many recovery codes user has left, or -1 when
// the account cannot be read (the mirror down and no copy here): the page
// still shows the sessions then, as it does without the count.
func (s *Server) recoveryCodesLeft(r *http.Request, user string) int {
	n, err := s.auth.RecoveryCodesLeft(r.Context(), user)
	if err != nil {
		s.log.Warn("account page: recovery codes left unknown", "user", user, "err", err)
		return -1
	}
	return n
}

// readableTime formats t for the account page (UTC, to the minute).
func readableTime(t time.Time) string { return t.UTC().Format("2 Jan 2006, 15:04 UTC") }

// requireShared refuses the account's writes (503) while the Redis mirror is
// down: a password change or a deletion queued on one instance would leave
// the others honouring the old password or the deleted account meanwhile.
func (s *Server) requireShared() error {
	if s.mirror != nil && s.mirror.Status() != "ok" {
		return &Error{Status: http.StatusServiceUnavailable, RetryAfter: 10 * time.Second,
			Message: "This cannot be done right now: the site's shared storage is unavailable. Please try again in a moment."}
	}
	return nil
}

// checkPassword checks sess's user's password as a log-in would, throttled
// the same way (per address, and per account or per device cookie), so a
// stolen session cannot be used to guess the password: 403 when wrong,
// 429 with Retry-After when throttled.
//
// A form without a password that carries "reauth", the proof of a passkey
// re-authentication of this session (web/passkeys.go), is checked by it
// instead: every sensitive action takes one or the other.
func (s *Server) checkPassword(r *http.Request, sess *session.Session, password, action string) error {
	if proof := r.PostForm.Get("reauth"); password == "" && proof != "" {
		return s.checkProof(sess, proof)
	}
	_, err := s.auth.Authenticate(r.Context(), auth.Attempt{
		Username: sess.Username, Password: password, IP: s.clientIP(r),
		Device: s.deviceNonce(r, sess.Username),
	})
	var throttled *auth.ThrottledError
	switch {
	case errors.As(err, &throttled):
		s.metrics.Throttled(metrics.ThrottlePassword)
		s.authEvent(r, eventThrottled, sess.Username, sess.ID, "action", action)
		return &Error{Status: http.StatusTooManyRequests, RetryAfter: throttled.RetryAfter,
			Message: "Too many wrong passwords. Wait a few minutes and try again."}
	case errors.Is(err, auth.ErrBadCredentials):
		s.authEvent(r, eventLogInFailed, sess.Username, sess.ID, "action", action)
		return errorf(http.StatusForbidden, "Wrong password.")
	case errors.Is(err, auth.ErrLocked):
		return errAccountLocked
	}
	return err
}

// formFailure answers a refused account form: JSON clients get the error,
// a browser gets the account page again with the message at the form.
func (s *Server) formFailure(w http.ResponseWriter, r *http.Request, sess *session.Session, err error, set func(*views.Account, string)) error {
	var e *Error
	if wantsJSON(r) || !errors.As(err, &e) || (e.Status != http.StatusForbidden && e.Status != http.StatusBadRequest) {
		return err
	}
	var a views.Account
	set(&a, e.Message)
	return s.renderAccount(w, r, sess, e.Status, a)
}

// accountForm starts a password-checked account action: a
// session required (401), the shared tier up (503), the form read (400 /
// 413). It returns the request's session.
func (s *Server) accountForm(r *http.Request) (*session.Session, error) {
	sess, err := requireSession(r)
	if err != nil {
		return nil, err
	}
	if err := s.requireShared(); err != nil {
		return nil, err
	}
	if err := parseForm(r); err != nil {
		return nil, err
	}
	return sess, nil
}

// changePassword (form fields current_password, new_password): the current
// password checked and throttled like a log-in (403 / 429), then the new one
// against the new-password rules (400 with the reason); then this session
// gets a new token and every other session ends. 303 to /account, or 200
// JSON {"id": "<this session's new public id>", "ended": N}.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.accountForm(r)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		return s.formFailure(w, r, sess, err, func(a *views.Account, m string) { a.PasswordError = m })
	}
	// The current password first: whatever the new one, a wrong one is 403
	// (and counted); a right one gives its reservation back.
	if err := s.checkPassword(r, sess, r.PostForm.Get("current_password"), "password change"); err != nil {
		return fail(err)
	}
	newPassword := r.PostForm.Get("new_password")
	if err := auth.CheckNewPassword(sess.Username, newPassword); err != nil {
		return fail(validationError(err))
	}
	u, err := s.auth.ChangePassword(r.Context(), sess.Username, newPassword)
	switch {
	case errors.Is(err, auth.ErrNoAccount):
		return errUnauthorized // deleted meanwhile
	case errors.Is(err, kv.ErrUnavailable):
		// Redis went away during the change, or did not answer it: the
		// change may still land (only over the account as it was read).
		return &Error{Status: http.StatusServiceUnavailable, RetryAfter: 10 * time.Second, Cause: err, Message: passwordOutcomeUnknown}
	}
	if err != nil {
		return fail(validationError(err))
	}
	// From here every session and device cookie of the account made before
	// grants nothing (its generation changed); this one goes on under a new
	// token and the new generation, and this browser stays a known device.
	oldID := sess.ID
	sess, ended, err := s.continueUnder(w, r, u, sess)
	if err != nil {
		return err
	}
	s.authEvent(r, eventPasswordChange, sess.Username, sess.ID, "previous_session", session.LogIDOf(oldID), "sessions_ended", ended)
	s.recordBy(r, sess, auth.KindPasswordChanged, "Password changed; every other session ended")
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"id": sess.PublicID(), "ended": ended})
		return nil
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
	return nil
}

// passwordOutcomeUnknown answers a password change the shared store did
// not confirm. A client can tell it from the refusal before any change
// (requireShared) by its words "may have".
const passwordOutcomeUnknown = "The site's shared storage did not confirm the change, so your password may have changed or not. " +
	"If you are logged out, log in with your new password (or your old one if the new one does not work), then try again if needed."

// validationError turns an auth validation error into a 400 with its
// reason; other errors pass through.
func validationError(err error) error {
	var v *auth.ValidationError
	if errors.As(err, &v) {
		return errorf(http.StatusBadRequest, "%s", v.Message)
	}
	return err
}

// deleteAccount (form field password, checked and throttled like a log-in:
// 403 / 429) removes the account record, the avatar, every session and its
// index entries; the name is free again. The session cookie is expired
// (the device cookie too: it names the account). 303 to /, or 204 for JSON
// clients.
func (s *Server) deleteAccount(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.accountForm(r)
	if err != nil {
		return err
	}
	if err := s.checkPassword(r, sess, r.PostForm.Get("password"), "account deletion"); err != nil {
		return s.formFailure(w, r, sess, err, func(a *views.Account, m string) { a.DeleteError = m })
	}
	ctx := r.Context()
	ended, err := s.RemoveAccount(ctx, sess.Username)
	if err != nil {
		return err
	}
	if err := s.sessions.End(ctx, w, r); err != nil {
		return err
	}
	s.expireDevice(w, r)
	s.authEvent(r, eventAccountDeleted, sess.Username, sess.ID, "sessions_ended", ended)
	if wantsJSON(r) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

// RemoveAccount removes username's account record, every session and its
// index entries, and the avatar (its uploaded image released, removed when
// no one else uses it); the name is free again. It is what deleting an
// account removes, whoever asks: the member (deleteAccount) or an operator
// (`soulbridge users delete`). It returns how many sessions were ended.
func (s *Server) RemoveAccount(ctx context.Context, username string) (int, error) {
	// The account first: from then on nobody can log in to it.
	if err := s.auth.Delete(ctx, username); err != nil {
		return 0, err
	}
	ended, err := s.sessions.EndAll(ctx, username)
	s.metrics.SessionsEnded(metrics.EndDeletion, ended)
	if err != nil {
		return ended, err
	}
	return ended, s.avatars.Delete(ctx, username)
}

// Services are the services a Server is built over, for the operator
// commands (package ops), which act on the same accounts, sessions and
// avatars as the site.
type Services struct {
	Accounts *auth.Service
	Sessions *session.Manager
	Avatars  *avatar.Service
	// Metrics counts the sessions operator commands end (nil: none).
	Metrics *metrics.Metrics
}

// Services returns the services s is built over.
func (s *Server) Services() Services {
	return Services{Accounts: s.auth, Sessions: s.sessions, Avatars: s.avatars, Metrics: s.metrics}
}

// expireDevice expires this browser's device cookie (of a deleted account).
func (s *Server) expireDevice(w http.ResponseWriter, r *http.Request) {
	name := DeviceCookieName
	if s.overHTTPS(r) {
		name = SecureDeviceCookieName
	}
	if _, err := r.Cookie(name); err != nil {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: name, Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: strings.HasPrefix(name, "__Host-"), SameSite: http.SameSiteLaxMode})
}
