package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"soulbridge/auth"
	"soulbridge/kv"
	"soulbridge/mailer"
	"soulbridge/metrics"
	"soulbridge/views"
)

// The optional e-mail (when the operator sets SMTP_URL): a member adds an
// address on /account and confirms it through a mailed single-use link;
// /recover then offers "e-mail me a link", which mails the same reset link
// as `soulbridge users reset-link` (auth/reset.go, web/reset.go) to the
// confirmed address. Links carry their token in the query string, never
// the path (which the access log records).

// Mailer sends a message in the background (mailer.Mailer): a mail server
// that is down is retried and logged there, never shown to the member.
type Mailer interface {
	Send(mailer.Message)
}

// mailLinkAnswer is the one answer to "e-mail me a link", whether or not
// the name exists or has an address.
const mailLinkAnswer = "If that account has a confirmed e-mail address, a link to set a new password is on its way. It works once, for 30 minutes."

// mailResetLink (form field username) answers mailLinkAnswer, or 429 when
// the name or this address asked too often (counted whether or not the
// name exists). The account is looked up and the link made and mailed off
// the request path, so the answer's time tells nothing either.
func (s *Server) mailResetLink(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	name := r.PostForm.Get("username")
	var throttled *auth.ThrottledError
	if err := s.auth.ReserveMailReset(r.Context(), s.clientIP(r), name); errors.As(err, &throttled) {
		s.metrics.Throttled(metrics.ThrottleMailLink)
		s.typedNameEvent(r, eventThrottled, name, "action", "mail reset link")
		return &Error{Status: http.StatusTooManyRequests, RetryAfter: throttled.RetryAfter,
			Message: "Too many requests for a link. Wait a while and try again."}
	} else if err != nil {
		return err
	}
	go s.sendResetLink(name)
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]string{"message": mailLinkAnswer})
		return nil
	}
	s.render(w, r, http.StatusOK, views.Recover(s.layout(r, "Forgot your password"),
		views.RecoverForm{Mail: true, MailNotice: mailLinkAnswer}))
	return nil
}

// sendResetLink makes and mails name's reset link when the account has a
// confirmed address (auth.Service.MailResetToken).
func (s *Server) sendResetLink(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	to, token, err := s.auth.MailResetToken(ctx, name)
	if err != nil {
		s.log.Warn("mail reset link: not made", "err", err)
		return
	}
	if to == "" {
		return
	}
	link := s.publicURL + "/reset?" + url.Values{"user": {name}, "token": {token}}.Encode()
	s.mail.Send(mailer.Message{To: to, Kind: "reset-link", Subject: "Set a new password",
		Body: "Someone (we hope you) asked for a link to set a new password for your account " + name + ".\n\n" +
			link + "\n\nIt works once, for 30 minutes. If it was not you, ignore this message: your password stays as it is.\n"})
}

// changeEmail (form fields email, password: checked and throttled like a
// password change: 403 / 429) records the address as pending and mails it
// a confirmation link; 303 to /account. 400 for an address that is not
// one.
func (s *Server) changeEmail(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.accountForm(r)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		return s.formFailure(w, r, sess, err, func(a *views.Account, m string) { a.Mail = &views.AccountMail{Error: m} })
	}
	if err := s.checkPassword(r, sess, r.PostForm.Get("password"), "e-mail change"); err != nil {
		return fail(err)
	}
	token, err := s.auth.StartEmailChange(r.Context(), sess.Username, r.PostForm.Get("email"))
	switch {
	case errors.Is(err, auth.ErrNoAccount):
		return errUnauthorized
	case errors.Is(err, kv.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, RetryAfter: 10 * time.Second, Cause: err, Message: "The site's storage is not answering. Try again in a moment."}
	case err != nil:
		return fail(validationError(err))
	}
	addr, _ := auth.NormalizeEmail(r.PostForm.Get("email"))
	link := s.publicURL + "/account/email/confirm?" + url.Values{"user": {sess.Username}, "token": {token}}.Encode()
	s.mail.Send(mailer.Message{To: addr, Kind: "confirm-address", Subject: "Confirm your e-mail address",
		Body: "Confirm this address for your account " + sess.Username + " by opening this link:\n\n" + link +
			"\n\nIt works once, for 30 minutes. If you did not ask for this, ignore this message.\n"})
	s.authEvent(r, "email_change_requested", sess.Username, sess.ID)
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]string{"message": "A confirmation link is on its way."})
		return nil
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
	return nil
}

// confirmRefused answers an unknown, used or expired confirmation link.
const confirmRefused = "This link does not work any more: it was used, it expired (after 30 minutes), a newer one replaced it, or it is incomplete. Ask for a new one on your account page."

// confirmEmailPage shows a button that confirms (a GET changes nothing, so
// a mail scanner that opens the link uses nothing).
func (s *Server) confirmEmailPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := views.ConfirmEmailForm{Username: q.Get("user"), Token: q.Get("token")}
	status := http.StatusOK
	if f.Username == "" || f.Token == "" {
		f.Error, status = confirmRefused, http.StatusBadRequest
	}
	s.render(w, r, status, views.ConfirmEmail(s.layout(r, "Confirm your e-mail address"), f))
	return nil
}

// confirmEmail (user and token in the query string) makes the pending
// address the account's; the address it replaced, if any, is told. 303 to
// /account; 400 for a link that does not work.
func (s *Server) confirmEmail(w http.ResponseWriter, r *http.Request) error {
	if err := s.requireShared(); err != nil {
		return err
	}
	q := r.URL.Query()
	u, old, err := s.auth.ConfirmEmail(r.Context(), q.Get("user"), q.Get("token"))
	switch {
	case errors.Is(err, auth.ErrBadCredentials):
		if wantsJSON(r) {
			return errorf(http.StatusBadRequest, "%s", confirmRefused)
		}
		s.render(w, r, http.StatusBadRequest, views.ConfirmEmail(s.layout(r, "Confirm your e-mail address"),
			views.ConfirmEmailForm{Error: confirmRefused}))
		return nil
	case err != nil:
		return err
	}
	if old != "" {
		s.mail.Send(mailer.Message{To: old, Kind: "address-changed", Subject: "Your e-mail address was changed",
			Body: "The e-mail address of your account " + u.Username + " was changed; password reset links now go to the new address.\n\n" +
				"If you did not do this, log in and change your password, or ask the site's operator for help.\n"})
	}
	s.typedNameEvent(r, "email_confirmed", u.Username)
	s.record(r, u.Username, auth.Event{Kind: auth.KindEmailChanged, Event: "E-mail address confirmed (reset links now go there)"})
	http.Redirect(w, r, "/account", http.StatusSeeOther)
	return nil
}
