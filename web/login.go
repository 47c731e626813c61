package web

import (
	"cmp"
	"errors"
	"net/http"

	"soulbridge/auth"
	"soulbridge/kv"
	"soulbridge/metrics"
	"soulbridge/session"
	"soulbridge/views"
)

// loginPage shows the log-in form, keeping a local next path; logged in,
// on to next or /community.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.URL.Query().Get("next"))
	if session.FromContext(r.Context()) != nil {
		http.Redirect(w, r, cmp.Or(next, "/community"), http.StatusSeeOther)
		return nil
	}
	s.render(w, r, http.StatusOK, views.LogIn(s.layout(r, "Log in"), views.AuthForm{Next: next, Passkey: s.passkeyPage(r, true)}))
	return nil
}

// login checks the credentials and starts a new session (the token the
// client presented, if any, is ended, never promoted): 303 to next or
// /community, with a fresh device cookie (web/device.go); 401 on failure;
// 429 with Retry-After when throttled.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	form := views.AuthForm{Username: r.PostForm.Get("username"), Next: safeNext(r.PostForm.Get("next")), Passkey: s.passkeyPage(r, true)}
	ip := s.clientIP(r)
	attempt := auth.Attempt{Username: form.Username, Password: r.PostForm.Get("password"), IP: ip}
	if name, err := auth.NormalizeUsername(form.Username); err == nil {
		attempt.Device = s.deviceNonce(r, name)
	}
	// An account this instance has not seen, right after a start: wait
	// a little for the shared tier's first sync (kv.AwaitFirstSync).
	u, err := s.auth.Authenticate(kv.AwaitFirstSync(r.Context()), attempt)
	var throttled *auth.ThrottledError
	switch {
	case errors.As(err, &throttled):
		s.metrics.Throttled(metrics.ThrottleLogin)
		s.typedNameEvent(r, eventThrottled, form.Username, "action", "log-in")
		return &Error{Status: http.StatusTooManyRequests, RetryAfter: throttled.RetryAfter,
			Message: "Too many failed log-ins. Wait a few minutes and try again."}
	case errors.Is(err, auth.ErrBadCredentials):
		s.typedNameEvent(r, eventLogInFailed, form.Username)
		s.recordFailedLogIn(r, form.Username)
		form.Error = "Wrong username or password."
		if wantsJSON(r) {
			return errorf(http.StatusUnauthorized, "%s", form.Error)
		}
		s.render(w, r, http.StatusUnauthorized, views.LogIn(s.layout(r, "Log in"), form))
		return nil
	case errors.Is(err, auth.ErrLocked):
		s.typedNameEvent(r, eventLogInFailed, form.Username, "reason", "locked")
		return errAccountLocked
	case err != nil:
		return err
	}
	sess, err := s.logInAs(w, r, u, ip, session.How{Method: "password"})
	if errors.Is(err, session.ErrAccountChanged) {
		// The password changed (or the account went) while this log-in
		// was checking it: the password it used is no longer the one.
		s.typedNameEvent(r, eventLogInFailed, form.Username, "reason", "account changed")
		if now, err := s.auth.Get(r.Context(), u.Username); err == nil && now.Locked() {
			return errAccountLocked // an operator's lock landed meanwhile
		}
		return errorf(http.StatusUnauthorized, "Wrong username or password.")
	}
	if err != nil {
		return err
	}
	s.authEvent(r, eventLogIn, u.Username, sess.ID)
	s.recordLogIn(r, sess, attempt.Device == "")
	http.Redirect(w, r, cmp.Or(form.Next, "/community"), http.StatusSeeOther)
	return nil
}

// errAccountLocked answers the correct password of an account an operator
// locked (`soulbridge users lock`).
var errAccountLocked = errorf(http.StatusForbidden, "This account is locked. Contact the site's operator.")

// logInAs starts a new session for u (ending any the request presented)
// under the account generation its credentials were checked under, and
// sets this browser's device cookie for the account: what a successful
// log-in and a sign-up both do. session.ErrAccountChanged when the account
// changed meanwhile.
func (s *Server) logInAs(w http.ResponseWriter, r *http.Request, u auth.User, ip string, how session.How) (*session.Session, error) {
	gen, _ := u.Standing()
	sess, err := s.sessions.StartBy(r.Context(), w, r, u.Username, ip, gen, how)
	if err != nil {
		return nil, err
	}
	return sess, s.setDevice(w, r, u.Username, gen)
}
