package views

// PasskeyPage is what a log-in or sign-up page needs for passkeys.
type PasskeyPage struct {
	// On: passkeys are offered at this address (the relying party's
	// host); off, the pages show the password path only.
	On bool
	// Script is the hashed URL of passkeys.js.
	Script string
	// Options is the JSON of a discoverable log-in's options (the log-in
	// page's autofill request), "" when none could be issued.
	Options string
}

// AccountPasskeys is the account page's passkey section.
type AccountPasskeys struct {
	PasskeyPage
	// HasPassword: the account has a password, so sensitive actions
	// confirm with it (or a passkey); without, with a passkey only.
	HasPassword bool
	// Review: this session was made by a recovery or a reset link a short
	// while ago, and the account has passkeys, which still log in: the
	// section asks to check them.
	Review bool
	List   []PasskeyItem
	Error  string // shown at the section
}

// PasskeyItem is one passkey on the account page.
type PasskeyItem struct {
	ID       string // credential ID, base64url: the forms post to /account/passkeys/{ID}/…
	Name     string
	Added    string // readable UTC time
	AddedISO string
	LastUsed string // readable UTC time, "" never
	// Sessions is how many of the listed sessions it made.
	Sessions int
}

// loginAutocomplete is the log-in username field's autocomplete: with
// passkeys offered, "username webauthn", so the browser lists passkeys in
// the field's autofill (the conditional request passkeys.js makes).
func loginAutocomplete(p PasskeyPage) string {
	if p.On {
		return "username webauthn"
	}
	return "username"
}
