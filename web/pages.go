package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"soulbridge/auth"
	"soulbridge/session"
	"soulbridge/views"
)

// landing: logged out, the landing page; logged in, on to /community.
func (s *Server) landing(w http.ResponseWriter, r *http.Request) error {
	if session.FromContext(r.Context()) != nil {
		http.Redirect(w, r, "/community", http.StatusSeeOther)
		return nil
	}
	s.render(w, r, http.StatusOK, views.Landing(s.layout(r, "Welcome")))
	return nil
}

func (s *Server) signupPage(w http.ResponseWriter, r *http.Request) error {
	if session.FromContext(r.Context()) != nil {
		http.Redirect(w, r, "/community", http.StatusSeeOther)
		return nil
	}
	s.render(w, r, http.StatusOK, views.SignUp(s.layout(r, "Sign up"), views.AuthForm{}))
	return nil
}

// signup creates the account and logs it in: 303 to /community with a new
// session; 400 with the reason for bad input; 409 when the name is taken.
func (s *Server) signup(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	form := views.AuthForm{Username: r.PostForm.Get("username")}
	u, err := s.auth.SignUp(r.Context(), form.Username, r.PostForm.Get("password"))
	var verr *auth.ValidationError
	switch {
	case errors.As(err, &verr):
		return s.signupError(w, r, form, http.StatusBadRequest, verr.Field, verr.Message)
	case errors.Is(err, auth.ErrUsernameTaken):
		return s.signupError(w, r, form, http.StatusConflict, "username", "That username is taken. Pick another, or log in.")
	case err != nil:
		return err
	}
	if _, err := s.sessions.Start(r.Context(), w, r, u.Username, s.clientIP(r)); err != nil {
		return err
	}
	s.log.Info("account created", "user", u.Username)
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
	s.render(w, r, status, views.SignUp(s.layout(r, "Sign up"), form))
	return nil
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.URL.Query().Get("next"))
	if session.FromContext(r.Context()) != nil {
		http.Redirect(w, r, cmpOr(next, "/community"), http.StatusSeeOther)
		return nil
	}
	s.render(w, r, http.StatusOK, views.LogIn(s.layout(r, "Log in"), views.AuthForm{Next: next}))
	return nil
}

// login checks the credentials and starts a new session (the token the
// client presented, if any, is ended, never promoted): 303 to next or
// /community; 401 on failure; 429 with Retry-After when throttled.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	form := views.AuthForm{Username: r.PostForm.Get("username"), Next: safeNext(r.PostForm.Get("next"))}
	ip := s.clientIP(r)
	u, err := s.auth.LogIn(r.Context(), form.Username, r.PostForm.Get("password"), ip)
	var throttled *auth.ThrottledError
	switch {
	case errors.As(err, &throttled):
		s.log.Warn("log-in throttled", "ip", ip)
		return &Error{Status: http.StatusTooManyRequests, RetryAfter: throttled.RetryAfter,
			Message: "Too many failed log-ins. Wait a few minutes and try again."}
	case errors.Is(err, auth.ErrBadCredentials):
		s.log.Info("log-in failed", "ip", ip)
		form.Error = "Wrong username or password."
		if wantsJSON(r) {
			return errorf(http.StatusUnauthorized, "%s", form.Error)
		}
		s.render(w, r, http.StatusUnauthorized, views.LogIn(s.layout(r, "Log in"), form))
		return nil
	case err != nil:
		return err
	}
	if _, err := s.sessions.Start(r.Context(), w, r, u.Username, ip); err != nil {
		return err
	}
	s.log.Info("logged in", "user", u.Username)
	http.Redirect(w, r, cmpOr(form.Next, "/community"), http.StatusSeeOther)
	return nil
}

// logout ends the session server-side and expires the cookie; 303 to /.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if err := s.sessions.End(r.Context(), w, r); err != nil {
		return err
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

// parseForm reads a url-encoded or multipart form body within the body limit.
func parseForm(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(ct, "application/x-www-form-urlencoded") && !strings.HasPrefix(ct, "multipart/form-data") {
		return errorf(http.StatusUnsupportedMediaType, "send the form as application/x-www-form-urlencoded")
	}
	var err error
	if strings.HasPrefix(ct, "multipart/form-data") {
		err = r.ParseMultipartForm(maxBody)
	} else {
		err = r.ParseForm()
	}
	if bodyTooLarge(err) {
		return errTooLarge
	}
	if err != nil {
		return errorf(http.StatusBadRequest, "malformed form")
	}
	return nil
}

// safeNext returns next if it is a local path (to redirect to after log-in),
// else "". It refuses absolute URLs, scheme-relative //host, backslashes
// (which browsers treat as slashes) and control characters.
func safeNext(next string) string {
	if next == "" || len(next) > 512 || next[0] != '/' || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\") || strings.ContainsFunc(next, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") ||
		strings.HasPrefix(u.Path, "//") || hasDotDot(u.Path) {
		return ""
	}
	return next
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
