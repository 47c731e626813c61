package web

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"soulbridge/auth"
	"soulbridge/metrics"
	"soulbridge/views"
)

// The account's passkey forms (views/passkeys.templ): rename one, remove
// one. Errors follow Accept (a page, or JSON).

// passkeyID reads the {id} of a passkey route: a credential ID in
// base64url.
func passkeyID(r *http.Request) ([]byte, error) {
	id, err := base64.RawURLEncoding.DecodeString(r.PathValue("id"))
	if err != nil || len(id) == 0 || len(id) > 1023 {
		return nil, errNotFound
	}
	return id, nil
}

// renamePasskey: POST /account/passkeys/{id}/rename, field name (1–64
// characters) → 303 to /account; 400 bad name, 404 no such passkey.
func (s *Server) renamePasskey(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.accountForm(r)
	if err != nil {
		return err
	}
	id, err := passkeyID(r)
	if err != nil {
		return err
	}
	_, err = s.auth.RenamePasskey(r.Context(), sess.Username, id, r.PostForm.Get("name"))
	switch {
	case errors.Is(err, auth.ErrNoPasskey):
		return errNotFound
	case err != nil:
		return s.formFailure(w, r, sess, validationError(err), func(a *views.Account, m string) { a.Passkeys.Error = m })
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
	return nil
}

// removePasskey: POST /account/passkeys/{id}/remove, field password or
// reauth (re-authentication) → the passkey removed and every session it
// made ended; 303 to /account (to / when this session was one of them), or
// 200 JSON {"ended": N}. 409 when it is the account's last way to log in.
func (s *Server) removePasskey(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.accountForm(r)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		return s.formFailure(w, r, sess, err, func(a *views.Account, m string) { a.Passkeys.Error = m })
	}
	id, err := passkeyID(r)
	if err != nil {
		return err
	}
	if err := s.checkPassword(r, sess, r.PostForm.Get("password"), "remove passkey"); err != nil {
		return fail(err)
	}
	_, err = s.auth.RemovePasskey(r.Context(), sess.Username, id)
	switch {
	case errors.Is(err, auth.ErrNoPasskey):
		return errNotFound
	case errors.Is(err, auth.ErrLastLogin):
		return fail(errorf(http.StatusConflict, "This is your only passkey and your account has no password: "+
			"removing it would leave no way to log in. Set a password or add another passkey first."))
	case err != nil:
		return err
	}
	credID := base64.RawURLEncoding.EncodeToString(id)
	ended, err := s.sessions.EndMadeWith(r.Context(), sess.Username, credID)
	if err != nil {
		return err
	}
	s.metrics.SessionsEnded(metrics.EndRevoked, ended)
	s.authEvent(r, "passkey removed", sess.Username, sess.ID, "sessions_ended", ended)
	s.recordBy(r, sess, auth.KindPasskeyRemoved, removedText(ended))
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]int{"ended": ended})
		return nil
	}
	if sess.Passkey == credID {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
	return nil
}

// passkeyPage is what a page needs for passkeys at r: nothing when they
// are not offered here (passkeysHere); with login, the options of the
// autofill request (none when issuance is throttled: the button still
// asks for its own).
func (s *Server) passkeyPage(r *http.Request, login bool) views.PasskeyPage {
	if !s.passkeysHere(r) {
		return views.PasskeyPage{}
	}
	p := views.PasskeyPage{On: true, Script: s.assets.URL("passkeys.js")}
	if login {
		if opts, err := s.loginOptions(r); err == nil {
			if b, err := json.Marshal(opts); err == nil {
				p.Options = string(b)
			}
		}
	}
	return p
}

// passkeyReviewFor is how long after a recovery or a reset link the account
// page asks to review the passkeys (they outlive the password and the
// sessions both end).
const passkeyReviewFor = time.Hour

// accountPasskeys is the account page's passkey section for username
// (errMsg shown at it), counting the listed sessions each passkey made.
func (s *Server) accountPasskeys(r *http.Request, username, errMsg string, sessions []sessionJSON) views.AccountPasskeys {
	a := views.AccountPasskeys{PasskeyPage: s.passkeyPage(r, false), Error: errMsg, HasPassword: true}
	u, err := s.auth.Get(r.Context(), username)
	if err != nil {
		return a
	}
	a.HasPassword = u.HasPassword()
	for _, p := range u.Passkeys {
		item := views.PasskeyItem{ID: p.ID(), Name: p.Name, Added: readableTime(p.AddedAt), AddedISO: p.AddedAt.UTC().Format(time.RFC3339)}
		if !p.LastUsedAt.IsZero() {
			item.LastUsed = readableTime(p.LastUsedAt)
		}
		for _, in := range sessions {
			if in.passkey == item.ID {
				item.Sessions++
			}
		}
		a.List = append(a.List, item)
	}
	return a
}

// removePassword: POST /account/password/remove, field password (or
// reauth) → the account becomes passkey-only: like a password change, its
// generation is new, this session continues under a new token and every
// other session ends. 303 to /account, or 200 JSON {"id", "ended"}; 409
// without a passkey.
func (s *Server) removePassword(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.accountForm(r)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		return s.formFailure(w, r, sess, err, func(a *views.Account, m string) { a.Passkeys.Error = m })
	}
	if err := s.checkPassword(r, sess, r.PostForm.Get("password"), "remove password"); err != nil {
		return fail(err)
	}
	u, err := s.auth.RemovePassword(r.Context(), sess.Username)
	switch {
	case errors.Is(err, auth.ErrLastLogin):
		return fail(errorf(http.StatusConflict, "Add a passkey before you remove your password: it would be your only way to log in."))
	case errors.Is(err, auth.ErrNoAccount):
		return errUnauthorized
	case err != nil:
		return err
	}
	sess, ended, err := s.continueUnder(w, r, u, sess)
	if err != nil {
		return err
	}
	s.authEvent(r, "password removed", sess.Username, sess.ID, "sessions_ended", ended)
	s.recordBy(r, sess, auth.KindPasswordRemoved, "Password removed: passkeys only")
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"id": sess.PublicID(), "ended": ended})
		return nil
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
	return nil
}

// removedText is the activity entry of a removed passkey.
func removedText(ended int) string {
	switch ended {
	case 0:
		return "Passkey removed"
	case 1:
		return "Passkey removed, and the session it made ended"
	}
	return fmt.Sprintf("Passkey removed, and the %d sessions it made ended", ended)
}
