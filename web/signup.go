package web

import (
	"errors"
	"net/http"
	"time"

	"soulbridge/auth"
	"soulbridge/kv"
	"soulbridge/metrics"
	"soulbridge/session"
	"soulbridge/views"
)

// signupPage shows the sign-up form; logged in, on to /community.
func (s *Server) signupPage(w http.ResponseWriter, r *http.Request) error {
	if session.FromContext(r.Context()) != nil {
		http.Redirect(w, r, "/community", http.StatusSeeOther)
		return nil
	}
	s.render(w, r, http.StatusOK, views.SignUp(s.layout(r, "Sign up"), views.AuthForm{Passkey: s.passkeyPage(r, false)}))
	return nil
}

// signup creates the account and logs it in: 303 to /community with a new
// session; 400 with the reason for bad input; 409 when the name is taken;
// 429 with Retry-After when the address signed up too often.
func (s *Server) signup(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	form := views.AuthForm{Username: r.PostForm.Get("username")}
	ip := s.clientIP(r)
	// Right after a start, before the shared tier's first sync, the
	// sign-up waits for it a little rather than answer 503 (kv.AwaitFirstSync).
	u, err := s.auth.SignUpFrom(kv.AwaitFirstSync(r.Context()), form.Username, r.PostForm.Get("password"), ip)
	var verr *auth.ValidationError
	var throttled *auth.ThrottledError
	switch {
	case errors.As(err, &throttled):
		s.metrics.Throttled(metrics.ThrottleSignup)
		s.typedNameEvent(r, eventThrottled, form.Username, "action", "sign-up")
		return &Error{Status: http.StatusTooManyRequests, RetryAfter: throttled.RetryAfter,
			Message: "Too many sign-ups from your network. Please try again later."}
	case errors.As(err, &verr):
		return s.signupError(w, r, form, http.StatusBadRequest, verr.Field, verr.Message)
	case errors.Is(err, auth.ErrUsernameTaken):
		return s.signupError(w, r, form, http.StatusConflict, "username", "That username is taken. Pick another, or log in.")
	case errors.Is(err, kv.ErrUnavailable):
		// Redis is down: a name claimed here could be claimed on another
		// instance at the same time.
		return &Error{Status: http.StatusServiceUnavailable, RetryAfter: 10 * time.Second, Cause: err,
			Message: "Sign-ups are paused for a moment: the site cannot check that your username is free. Please try again shortly."}
	case err != nil:
		return err
	}
	if err := s.clearEarlierOwner(r, u.Username); err != nil {
		return err
	}
	sess, err := s.logInAs(w, r, u, ip, session.How{Method: "password"})
	if err != nil {
		return err
	}
	s.authEvent(r, eventSignUp, u.Username, sess.ID)
	s.record(r, u.Username, auth.Event{Kind: auth.KindSignUp, Event: "Account created", Session: sess.PublicID()})
	s.setWelcome(w, r) // the community page points to recovery codes, once
	http.Redirect(w, r, "/community", http.StatusSeeOther)
	return nil
}

// signupError answers a rejected sign-up: the form again with the message
// next to its field, or JSON for API clients.
func (s *Server) signupError(w http.ResponseWriter, r *http.Request, form views.AuthForm, status int, field, msg string) error {
	if wantsJSON(r) {
		return errorf(status, "%s", msg)
	}
	form.FieldErrors = map[string]string{field: msg}
	form.Passkey = s.passkeyPage(r, false)
	s.render(w, r, status, views.SignUp(s.layout(r, "Sign up"), form))
	return nil
}

// clearEarlierOwner removes what an earlier owner of a name just signed up
// for may have left under it: sessions and their index entries, and the
// avatar with its image reference. The account deletion removed them, but a
// write in flight from one of that owner's sessions (an upload finishing, a
// renewal) can land after it; such sessions grant nothing under the new
// account's generation, and this makes sure nothing of theirs is inherited.
func (s *Server) clearEarlierOwner(r *http.Request, username string) error {
	ctx := r.Context()
	n, err := s.sessions.EndAll(ctx, username)
	if err != nil {
		return err
	}
	if c, err := s.avatars.Get(ctx, username); err != nil || !c.UpdatedAt.IsZero() || c.Image != "" {
		// A choice (or a record that does not read) is there: remove it.
		// A name nobody chose for costs no write.
		if err := s.avatars.Delete(ctx, username); err != nil {
			return err
		}
	}
	if n > 0 {
		s.log.Info("sign-up removed sessions an earlier owner of the name left", "user", username, "sessions", n)
	}
	return nil
}
