package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"soulbridge/auth"
	"soulbridge/kv"
	"soulbridge/metrics"
	"soulbridge/session"
	"soulbridge/views"
)

// Recovery codes and "forgot your password" (docs/architecture.md,
// "Recovery codes"): /account makes the codes, /recover trades one for a
// new password.

// recoveryCodes (form field password, checked and throttled like a log-in:
// 403 / 429) gives the account a new set of recovery codes, replacing any
// earlier one, and shows them once: the page, or 200 JSON {"codes": […]}.
func (s *Server) recoveryCodes(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.accountForm(r)
	if err != nil {
		return err
	}
	if err := s.checkPassword(r, sess, r.PostForm.Get("password"), "recovery codes"); err != nil {
		return s.formFailure(w, r, sess, err, func(a *views.Account, m string) { a.RecoveryError = m })
	}
	codes, err := s.auth.NewRecoveryCodes(r.Context(), sess.Username)
	if errors.Is(err, auth.ErrNoAccount) {
		return errUnauthorized // deleted meanwhile
	}
	if err != nil {
		return err
	}
	s.authEvent(r, eventRecoveryCodes, sess.Username, sess.ID, "codes", len(codes))
	s.recordBy(r, sess, auth.KindRecoveryCodes, "New recovery codes made (the earlier ones stopped working)")
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"codes": codes})
		return nil
	}
	text := "soulbridge recovery codes for " + sess.Username + "\n" +
		"Each code works once at /recover. Keep them somewhere safe.\n\n" + strings.Join(codes, "\n") + "\n"
	s.render(w, r, http.StatusOK, views.RecoveryCodesPage(s.layout(r, "Your recovery codes"), views.RecoveryCodes{
		Codes: codes, Download: "data:text/plain;charset=utf-8," + url.PathEscape(text),
	}))
	return nil
}

// recoverPage shows the "forgot your password" form.
func (s *Server) recoverPage(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, views.Recover(s.layout(r, "Forgot your password"), views.RecoverForm{Mail: s.mail != nil}))
	return nil
}

// recoveryRefused is the one answer to an unknown name, a wrong code and a
// used code alike.
const recoveryRefused = "Wrong username or recovery code, or that code was used already."

// recoverAccount (form fields username, code, new_password) sets a new
// password with a recovery code (auth.Service.Recover): the account gets a
// new generation, so every session ends, and this browser is logged in
// under it: 303 to /account, or 200 JSON {"id", "codes_left",
// "sessions_ended"}. 400 with recoveryRefused for a wrong name or code, 400
// with the reason for a bad new password, 429 when throttled, 503 while
// the shared tier is down (a code must be single-use on every instance).
func (s *Server) recoverAccount(w http.ResponseWriter, r *http.Request) error {
	if err := s.requireShared(); err != nil {
		return err
	}
	if err := parseForm(r); err != nil {
		return err
	}
	form := views.RecoverForm{Username: r.PostForm.Get("username"), Mail: s.mail != nil}
	a := auth.Recovery{Username: form.Username, Code: r.PostForm.Get("code"),
		NewPassword: r.PostForm.Get("new_password"), IP: s.clientIP(r)}
	if name, err := auth.NormalizeUsername(form.Username); err == nil {
		a.Device = s.deviceNonce(r, name)
	}
	u, err := s.auth.Recover(kv.AwaitFirstSync(r.Context()), a)
	var throttled *auth.ThrottledError
	var invalid *auth.ValidationError
	switch {
	case errors.As(err, &throttled):
		s.metrics.Throttled(metrics.ThrottleRecovery)
		s.typedNameEvent(r, eventThrottled, form.Username, "action", "recovery")
		return &Error{Status: http.StatusTooManyRequests, RetryAfter: throttled.RetryAfter,
			Message: "Too many failed attempts. Wait a few minutes and try again."}
	case errors.Is(err, auth.ErrBadCredentials):
		s.typedNameEvent(r, eventRecoveryFailed, form.Username)
		form.Error = recoveryRefused
		return s.refusedForm(w, r, recoveryRefused, views.Recover(s.layout(r, "Forgot your password"), form))
	case errors.Is(err, auth.ErrLocked):
		s.typedNameEvent(r, eventRecoveryFailed, form.Username, "reason", "locked")
		return errAccountLocked
	case errors.As(err, &invalid):
		form.FieldErrors = map[string]string{"new_password": invalid.Message}
		return s.refusedForm(w, r, invalid.Message, views.Recover(s.layout(r, "Forgot your password"), form))
	case errors.Is(err, kv.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, RetryAfter: 10 * time.Second, Cause: err, Message: passwordOutcomeUnknown}
	case err != nil:
		return err
	}
	sess, ended, err := s.continueUnder(w, r, u, nil)
	if errors.Is(err, session.ErrAccountChanged) {
		// The account changed again between the recovery and this log-in.
		return errorf(http.StatusConflict, "Your password was set, but your account changed meanwhile. Log in with your new password.")
	}
	if err != nil {
		return err
	}
	s.authEvent(r, eventRecovered, u.Username, sess.ID, "codes_left", u.Recovery.Left(), "sessions_ended", ended)
	s.record(r, u.Username, auth.Event{Kind: auth.KindRecovered, Session: sess.PublicID(),
		Event: fmt.Sprintf("Password set with a recovery code (%d left); every other session ended", u.Recovery.Left())})
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"id": sess.PublicID(), "codes_left": u.Recovery.Left(), "sessions_ended": ended})
		return nil
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
	return nil
}

// continueUnder carries this browser over to u's new generation after a
// password change or a recovery: the request's session sess is rotated to
// a new token (nil: a new session is started, ending any the request
// presented), the browser gets a device cookie of the new generation, and
// every other session of the account is ended. It returns the session and
// how many others ended.
func (s *Server) continueUnder(w http.ResponseWriter, r *http.Request, u auth.User, sess *session.Session) (*session.Session, int, error) {
	gen, since := u.Standing()
	before := 0
	if sess == nil {
		// Ended first and counted: the new session's start prunes the
		// index of sessions the new generation no longer honours, which
		// would then go uncounted (the log's sessions_ended, the metric).
		var err error
		if before, err = s.sessions.EndOthers(r.Context(), u.Username, ""); err != nil {
			return nil, 0, err
		}
		if sess, err = s.logInAs(w, r, u, s.clientIP(r), session.How{Method: "recovery"}); err != nil {
			return nil, 0, err
		}
	} else {
		if err := s.sessions.Rotate(r.Context(), w, r, sess, gen, since); err != nil {
			return nil, 0, err
		}
		if err := s.setDevice(w, r, sess.Username, gen); err != nil {
			return nil, 0, err
		}
	}
	ended, err := s.sessions.EndOthers(r.Context(), u.Username, sess.ID)
	ended += before
	s.metrics.SessionsEnded(metrics.EndPasswordChange, ended)
	return sess, ended, err
}

// Sign-up's one-time pointer to recovery codes: a short-lived cookie set
// by sign-up and expired by the community page that shows the banner, so
// showing it once costs no store write.
const (
	welcomeCookie   = "sb_welcome"
	welcomeLifetime = 10 * time.Minute
)

// setWelcome marks this browser as just signed up.
func (s *Server) setWelcome(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: welcomeCookie, Value: "1", Path: "/", MaxAge: int(welcomeLifetime / time.Second),
		HttpOnly: true, Secure: s.overHTTPS(r), SameSite: http.SameSiteLaxMode})
}

// takeWelcome reports whether this browser just signed up, and expires the
// mark so the banner shows once.
func (s *Server) takeWelcome(w http.ResponseWriter, r *http.Request) bool {
	if _, err := r.Cookie(welcomeCookie); err != nil {
		return false
	}
	http.SetCookie(w, &http.Cookie{Name: welcomeCookie, Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.overHTTPS(r), SameSite: http.SameSiteLaxMode})
	return true
}
