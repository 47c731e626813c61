// Package views holds the site's templ components. Components receive plain
// data and never touch storage; all user data goes through templ's escaping.
package views

//go:generate go tool templ generate -path .

import (
	"net/url"
	"strings"

	"github.com/a-h/templ"
)

// SiteName is appended to every page title and shown in the header.
const SiteName = "soulbridge"

// Layout is what every page needs.
type Layout struct {
	Title    string // page title (the site name "soulbridge" is appended by the layout)
	CSS      string // hashed URL of app.css
	JS       string // hashed URL of app.js
	Favicon  string // hashed URL of favicon.svg
	Username string // logged-in user, "" when logged out: the header then shows "Log in" / "Sign up" links, else the username, a link to /account and a logout form (POST /logout, a button "Log out")
	// NewSignIns are log-ins from a new device by another session of the
	// account, shown under the header with "End that session" and
	// "Dismiss" (activity.templ).
	NewSignIns []NewSignIn
}

// AuthForm is the sign-up or log-in form state.
type AuthForm struct {
	Username    string            // value to refill (never refill the password)
	Next        string            // local path to continue to after log-in ("" = none); rendered as hidden input name="next" when non-empty
	Error       string            // form-level message (e.g. "Wrong username or password.")
	FieldErrors map[string]string // "username" / "password" → message shown next to that field, with aria-invalid and aria-describedby
	Passkey     PasskeyPage       // the passkey parts (views/passkeys.templ)
}

// AvatarOption is one preset in the avatar picker.
type AvatarOption struct {
	ID, Name, URL string
	Selected      bool
}

// Member is one user in the members list.
type Member struct {
	Username, AvatarID, AvatarName, AvatarURL string
}

// Community is the state of the community page for the logged-in user.
type Community struct {
	Username         string
	AvatarID         string // "default" until chosen
	AvatarName       string
	AvatarURL        string
	DefaultAvatarURL string
	Options          []AvatarOption
	Members          []Member // one page of members
	// PrevURL and NextURL link to the pages of members before and after
	// this one; "" when there is none.
	PrevURL, NextURL string
	// RecoveryBanner shows, once after sign-up, where to make recovery
	// codes.
	RecoveryBanner bool
}

// ErrorPage is the content of an HTML error page.
type ErrorPage struct {
	Status         int
	Title, Message string
}

// pageTitle returns the document title: "<title> · soulbridge", or the site
// name alone when title is empty.
func pageTitle(title string) string {
	if title == "" {
		return SiteName
	}
	return title + " · " + SiteName
}

// field describes one labelled text input with its hint and error.
type field struct {
	ID, Name, Label, Type string
	Value                 string
	Hint, Error           string
	Attrs                 templ.Attributes // extra input attributes (autocomplete, minlength, …)
}

// describedBy returns the ids of the error and hint elements, space-separated,
// error first (the order screen readers announce them, and the order shown).
func (f field) describedBy() string {
	var ids []string
	if f.Error != "" {
		ids = append(ids, f.ID+"-error")
	}
	if f.Hint != "" {
		ids = append(ids, f.ID+"-hint")
	}
	return strings.Join(ids, " ")
}

// Account is the state of the account page.
type Account struct {
	Username string
	Sessions []AccountSession // most recently seen first
	// PasswordError and DeleteError are shown at their form (a refused
	// change re-renders the page with the reason).
	PasswordError, DeleteError string
	// OperatorNote, if set, says what an operator of the site last changed
	// on the account, and when (OperatorAt, readable UTC).
	OperatorNote, OperatorAt string
	// RecoveryCodesLeft is how many unused recovery codes the account
	// holds (-1: unknown, not shown); RecoveryError is shown at the form that makes new ones.
	RecoveryCodesLeft int
	RecoveryError     string
	// Mail is set when the site sends mail: the e-mail section is shown.
	Mail *AccountMail
	// Activity is the account's recent security events, newest first
	// (nil: it could not be read, and the section says so).
	Activity []ActivityItem
	// Passkeys is the passkey section (views/passkeys.templ).
	Passkeys AccountPasskeys
}

// ActivityItem is one entry of "Recent activity" on the account page.
type ActivityItem struct {
	Kind      string // auth.Kind*: "log-in", "log-in-failed", …
	Text      string // "Logged in", "7 failed log-in attempts from 203.0.113.0/24", …
	Device    string // "Firefox on Linux", "" when none
	IP        string // an address, or a network for failed log-ins
	NewDevice bool   // a log-in from a browser the account had not seen
	By        string // "this session", "another of your sessions", "an operator", ""
	When, ISO string // readable UTC time and RFC 3339
}

// NewSignIn is a log-in from a new device by another session of the
// account: the notice names it and offers to end that session.
type NewSignIn struct {
	Session   string // the session's public id
	Device    string
	IP        string
	When, ISO string
}

// AccountMail is the account page's e-mail section.
type AccountMail struct {
	Email   string // the confirmed address, "" when none
	Pending string // an address waiting for its confirmation link
	Error   string // shown at the form
	Notice  string // e.g. "a confirmation link is on its way"
}

// ConfirmEmailForm is the page of an address confirmation link.
type ConfirmEmailForm struct {
	Username, Token string
	Error           string
}

// RecoveryCodes is the page that shows a new set of recovery codes, once.
type RecoveryCodes struct {
	Codes []string
	// Download is a data: URL of the codes as a text file, so saving them
	// needs neither JavaScript nor a second request that could show them
	// again.
	Download string
}

// RecoverForm is the "forgot your password" form (/recover).
type RecoverForm struct {
	Username    string            // refilled; the code and the password never are
	Error       string            // form-level message
	FieldErrors map[string]string // "new_password" → message at that field
	// Mail is set when the site sends mail: the "e-mail me a link" form is
	// shown; MailNotice is its one answer.
	Mail       bool
	MailNotice string
}

// AccountSession is one of the user's sessions on the account page.
type AccountSession struct {
	ID       string // public id: the form posts to /account/sessions/{ID}/end
	Device   string // e.g. "Firefox on Linux"
	IP       string
	Created  string // readable UTC time
	LastSeen string
	// CreatedISO and LastSeenISO are RFC 3339, for <time datetime>.
	CreatedISO, LastSeenISO string
	Current                 bool   // the session this page was requested with
	Method                  string // how it was made: "password", "passkey", "recovery", "" unknown
}

// ResetForm is the reset link's page.
type ResetForm struct {
	Username   string // the account the link is for
	Error      string // form-level message
	FieldError string // at the new password
}

// urlQuery escapes a value for a URL's query string.
func urlQuery(s string) string { return url.QueryEscape(s) }
