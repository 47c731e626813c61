package web

import (
	"errors"
	"net/http"
	"time"

	"soulbridge/auth"
	"soulbridge/kv"
	"soulbridge/views"
)

// The page of an operator's reset link (`soulbridge users reset-link
// NAME`): /reset?user=NAME&token=TOKEN. The token travels in the query
// string, never in the path, which the access log records.

// resetRefused answers an unknown, used or expired link alike.
const resetRefused = "This link does not work any more: it was used, it expired (after 30 minutes), or it is incomplete. Ask the site's operator for a new one."

// resetPage shows the new-password form of a reset link; whether the link
// still works is told when it is used, so a look at the page uses nothing.
func (s *Server) resetPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := views.ResetForm{Username: q.Get("user")}
	if q.Get("token") == "" || f.Username == "" {
		f.Error = resetRefused
		s.render(w, r, http.StatusBadRequest, views.ResetPassword(s.layout(r, "Set a new password"), f))
		return nil
	}
	s.render(w, r, http.StatusOK, views.ResetPassword(s.layout(r, "Set a new password"), f))
	return nil
}

// resetPassword (form field new_password, the link's user and token in the
// query string) sets the new password (auth.Service.ResetPassword): the
// account gets a new generation, so every session ends, and this browser
// is logged in under it: 303 to /account. 400 for a bad new password (the
// link stays usable) or a link that does not work; 403 for a locked
// account; 503 while the shared tier is down (the link must be single-use
// on every instance).
func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) error {
	if err := s.requireShared(); err != nil {
		return err
	}
	if err := parseForm(r); err != nil {
		return err
	}
	q := r.URL.Query()
	f := views.ResetForm{Username: q.Get("user")}
	u, err := s.auth.ResetPassword(r.Context(), f.Username, q.Get("token"), r.PostForm.Get("new_password"))
	var invalid *auth.ValidationError
	switch {
	case errors.Is(err, auth.ErrBadCredentials):
		s.typedNameEvent(r, eventResetFailed, f.Username)
		f.Error = resetRefused
		return s.refusedForm(w, r, resetRefused, views.ResetPassword(s.layout(r, "Set a new password"), f))
	case errors.Is(err, auth.ErrLocked):
		return errAccountLocked
	case errors.As(err, &invalid):
		f.FieldError = invalid.Message
		return s.refusedForm(w, r, invalid.Message, views.ResetPassword(s.layout(r, "Set a new password"), f))
	case errors.Is(err, kv.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, RetryAfter: 10 * time.Second, Cause: err, Message: passwordOutcomeUnknown}
	case err != nil:
		return err
	}
	sess, ended, err := s.continueUnder(w, r, u, nil)
	if err != nil {
		return err
	}
	s.authEvent(r, eventPasswordReset, u.Username, sess.ID, "sessions_ended", ended)
	s.record(r, u.Username, auth.Event{Kind: auth.KindResetByLink, Session: sess.PublicID(),
		Event: "Password set through a reset link; every other session ended"})
	http.Redirect(w, r, "/account", http.StatusSeeOther)
	return nil
}
