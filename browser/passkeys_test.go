package browser_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// Passkeys in Chromium (README "Passkeys"), on http://localhost:PORT (the
// relying party's origin) with a virtual authenticator of the DevTools
// WebAuthn domain: CTAP2, internal transport, resident keys, user
// verification.

// virtualAuthenticator enables the WebAuthn domain (no UI) and adds a
// platform-like authenticator that verifies the user at once.
func (tb *tab) virtualAuthenticator() webauthn.AuthenticatorID {
	tb.t.Helper()
	if _, err := chromedp.Call(tb.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		tb.t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(tb.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
			IsUserVerified: true, AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		tb.t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

// credentials returns the passkeys the authenticator holds.
func (tb *tab) credentials(id webauthn.AuthenticatorID) []*webauthn.Credential {
	tb.t.Helper()
	res, err := chromedp.Call(tb.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		tb.t.Fatalf("WebAuthn.getCredentials: %v", err)
	}
	return res.Credentials
}

// clearCredentials removes every passkey from the authenticator.
func (tb *tab) clearCredentials(id webauthn.AuthenticatorID) {
	tb.t.Helper()
	if _, err := chromedp.Call(tb.ctx, webauthn.ClearCredentials, webauthn.ClearCredentialsParams{AuthenticatorID: id}); err != nil {
		tb.t.Fatalf("WebAuthn.clearCredentials: %v", err)
	}
}

// addCredential gives the authenticator c. Sent by hand: the generated
// params always carry the CMTG fields, which this Chromium refuses.
func (tb *tab) addCredential(id webauthn.AuthenticatorID, c *webauthn.Credential) {
	tb.t.Helper()
	add := cdp.Command[map[string]any, cdp.Empty]{Method: webauthn.CommandAddCredential}
	params := map[string]any{"authenticatorId": id, "credential": map[string]any{
		"credentialId": c.CredentialID, "isResidentCredential": c.IsResidentCredential, "rpId": c.RpID,
		"privateKey": c.PrivateKey, "userHandle": c.UserHandle, "signCount": c.SignCount,
		"backupEligibility": c.BackupEligibility, "backupState": c.BackupState,
		"userName": c.UserName, "userDisplayName": c.UserDisplayName,
	}}
	if _, err := chromedp.Call(tb.ctx, add, params); err != nil {
		tb.t.Fatalf("WebAuthn.addCredential: %v", err)
	}
}

// waitPath waits until the page is at path.
func (tb *tab) waitPath(path string) {
	tb.t.Helper()
	tb.waitTrue("at "+path, `location.pathname === '`+path+`'`)
}

// waitCommunity waits until a log-in made after mark has landed on
// /community and the page has loaded the avatar (and gone quiet), so that
// leaving it cancels nothing in flight.
func (tb *tab) waitCommunity(mark int) {
	tb.t.Helper()
	tb.waitPath("/community")
	if e := tb.waitExchange(mark, "GET", "/community/avatar"); e.status != 200 {
		tb.t.Fatalf("the community page's GET /community/avatar: %d, want 200 (logged in)", e.status)
	}
	tb.idle()
}

// passkeySignUp signs name up with the sign-up page's passkey button and
// waits for the community page.
func (tb *tab) passkeySignUp(name string) {
	tb.t.Helper()
	if res := tb.navigate("/signup"); res.Status != 200 {
		tb.t.Fatalf("GET /signup: %d", res.Status)
	}
	tb.waitTrue("the passkey sign-up button shown", `!document.getElementById('passkey-signup').hidden`)
	mark := tb.rec.mark()
	tb.do("type a name and sign up with a passkey",
		chromedp.SendKeys(chromedp.ID("username"), name, chromedp.NodeVisible),
		chromedp.Click(chromedp.ID("passkey-signup"), chromedp.NodeVisible),
	)
	tb.waitCommunity(mark)
}

// exchangesTo counts the page's requests to path after mark.
func (tb *tab) exchangesTo(mark int, method, path string) int {
	n := 0
	for _, e := range tb.rec.since(mark) {
		if e.method == method && e.path() == path {
			n++
		}
	}
	return n
}

// mediationProbe wraps navigator.credentials.get to note each request's
// mediation in sessionStorage.
const mediationProbe = `if (navigator.credentials) {
  const get = navigator.credentials.get.bind(navigator.credentials);
  navigator.credentials.get = (o) => { sessionStorage.setItem('mediation', (o && o.mediation) || 'optional'); return get(o); };
}`

func TestPasskeysInBrowser(t *testing.T) {
	srv := startServer(t)
	srv.localhost = true
	tb := newTab(t, srv, tabOptions{})
	auth := tb.virtualAuthenticator()
	// Every credential request records its mediation where the test can
	// read it after the page has moved on.
	if _, err := chromedp.Call(tb.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: mediationProbe}); err != nil {
		t.Fatalf("install the mediation probe: %v", err)
	}

	// Sign up with a passkey: the name only.
	tb.passkeySignUp("ada")
	creds := tb.credentials(auth)
	if len(creds) != 1 || !creds[0].IsResidentCredential {
		t.Fatalf("after the sign-up the authenticator holds %d credentials (%+v), want one resident", len(creds), creds)
	}
	first := creds[0]
	tb.logOut()

	// Log in with the button. The credential is added only once the page
	// has loaded: a conditional (autofill) request made while the
	// authenticator holds a passkey resolves at once. Made with none, it
	// fails at once and quietly.
	tb.clearCredentials(auth)
	if res := tb.navigate("/login"); res.Status != 200 {
		t.Fatalf("GET /login: %d", res.Status)
	}
	if got := eval[string](tb, `document.getElementById('username').getAttribute('autocomplete')`); got != "username webauthn" {
		t.Fatalf("username autocomplete = %q, want \"username webauthn\"", got)
	}
	if got := eval[bool](tb, `document.querySelector('[data-passkey-login]').dataset.options.includes('"challenge"')`); !got {
		t.Fatal("the log-in page carries no autofill request options")
	}
	tb.waitTrue("the autofill request made", `document.querySelector('[data-passkey-login]').dataset.mediation === 'conditional'`)
	tb.addCredential(auth, first)
	mark := tb.rec.mark()
	tb.do("log in with the button", chromedp.Click(chromedp.ID("passkey-login"), chromedp.NodeVisible))
	tb.waitCommunity(mark)
	if n := tb.exchangesTo(mark, "POST", "/passkeys/login/begin"); n != 1 {
		t.Errorf("the button's log-in asked for %d challenges, want 1", n)
	}
	if got := eval[string](tb, `sessionStorage.getItem('mediation')`); got != "optional" {
		t.Errorf("the button's request had mediation %q, want optional (a modal request)", got)
	}
	tb.logOut()

	// A signature counter gone backwards (the credential put back with its
	// count at 0, as a copy of an old state would answer): refused, and
	// the page says why.
	counted := tb.credentials(auth)
	if len(counted) != 1 || counted[0].SignCount < 1 {
		t.Fatalf("after two log-ins the authenticator's counter is %+v, want it counting", counted)
	}
	tb.clearCredentials(auth)
	if res := tb.navigate("/login"); res.Status != 200 {
		t.Fatalf("GET /login: %d", res.Status)
	}
	tb.waitTrue("the autofill request made", `document.querySelector('[data-passkey-login]').dataset.mediation === 'conditional'`)
	stale := *counted[0]
	stale.SignCount = 0
	tb.addCredential(auth, &stale)
	mark = tb.rec.mark()
	tb.do("log in with a passkey whose counter went back", chromedp.Click(chromedp.ID("passkey-login"), chromedp.NodeVisible))
	if e := tb.waitExchange(mark, "POST", "/passkeys/login/finish"); e.status != 401 {
		t.Fatalf("assertion with a counter gone back: %d, want 401", e.status)
	}
	tb.waitTrue("the refusal shown", `document.getElementById('passkey-login-status').textContent.includes('counter')`)
	if tb.path() != "/login" {
		t.Fatalf("after the refusal at %s, want /login", tb.path())
	}
	// The genuine counter again, ahead of the stored one.
	tb.clearCredentials(auth)
	genuine := *counted[0]
	genuine.SignCount += 10
	tb.addCredential(auth, &genuine)

	// Log in through autofill: the authenticator holds the passkey when the
	// page loads, and the page's own conditional request (its embedded
	// challenge) resolves: no button, no challenge asked for.
	mark = tb.rec.mark()
	if res := tb.navigate("/login"); res.Status != 200 {
		t.Fatalf("GET /login: %d", res.Status)
	}
	tb.waitCommunity(mark)
	if n := tb.exchangesTo(mark, "POST", "/passkeys/login/begin"); n != 0 {
		t.Errorf("the autofill log-in asked for %d challenges, want 0 (the page's own)", n)
	}
	if n := tb.exchangesTo(mark, "POST", "/passkeys/login/finish"); n != 1 {
		t.Errorf("the autofill log-in finished %d times, want 1", n)
	}
	if got := eval[string](tb, `sessionStorage.getItem('mediation')`); got != "conditional" {
		t.Errorf("the autofill request had mediation %q, want conditional", got)
	}

	// A deploy: still logged in (on /account, whose page makes no requests
	// of its own while the server is down).
	if res := tb.navigate("/account"); res.Status != 200 || tb.path() != "/account" {
		t.Fatalf("GET /account: %d at %s", res.Status, tb.path())
	}
	srv.restart("")
	if res := tb.reload(); res.Status != 200 || tb.path() != "/account" {
		t.Fatalf("reload after restart: %d at %s, want 200 at /account", res.Status, tb.path())
	}

	// Add a second passkey on /account (confirmed with the first, the
	// account has no password). The authenticator holds the first, which
	// the new one's options exclude: it is taken out while the options
	// are on their way (the request paused). It is not put back: an
	// authenticator keeps one resident passkey per account and site, and
	// the second took its place.
	tb.rec.mu.Lock()
	tb.rec.paused = make(chan *fetch.EventRequestPaused, 1)
	tb.rec.mu.Unlock()
	if _, err := chromedp.Call(tb.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/passkeys/add/begin"}}}); err != nil {
		t.Fatalf("Fetch.enable: %v", err)
	}
	tb.do("name and add a passkey",
		chromedp.SendKeys(chromedp.ID("passkey_name"), "Second", chromedp.NodeVisible),
		chromedp.Click(chromedp.ID("passkey-add"), chromedp.NodeVisible),
	)
	var paused *fetch.EventRequestPaused
	select {
	case paused = <-tb.rec.paused:
	case <-time.After(10 * time.Second):
		t.Fatal("POST /passkeys/add/begin never sent")
	}
	tb.clearCredentials(auth)
	if _, err := chromedp.Call(tb.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: paused.RequestID}); err != nil {
		t.Fatalf("Fetch.continueRequest: %v", err)
	}
	tb.waitTrue("two passkeys listed", `document.querySelectorAll('li.passkey').length === 2`)
	if _, err := chromedp.Call(tb.ctx, fetch.Disable, struct{}{}); err != nil {
		t.Fatalf("Fetch.disable: %v", err)
	}
	second := tb.credentials(auth)
	if len(second) != 1 {
		t.Fatalf("the authenticator made %d credentials, want 1", len(second))
	}
	if got := eval[string](tb, `document.querySelector('#passkeys').textContent`); !strings.Contains(got, "Second") {
		t.Fatalf("the passkeys section does not name the new passkey: %q", got)
	}

	// Remove the first (confirmed with the second): the sessions it made
	// end, this one among them.
	firstID := base64.RawURLEncoding.EncodeToString(first.CredentialID)
	mark = tb.rec.mark()
	res := tb.clickAndLoad(`li.passkey[data-passkey="` + firstID + `"] form[action$="/remove"] button`)
	if res.Status != 200 || tb.path() != "/" {
		t.Fatalf("after removing the passkey this session was made with: %d at %s, want / (logged out)", res.Status, tb.path())
	}
	// (Without a passkey in the authenticator: the log-in page's autofill
	// would log in again at once with the second.)
	tb.clearCredentials(auth)
	if res := tb.navigate("/account"); tb.path() != "/login?next=%2Faccount" {
		t.Fatalf("GET /account after removing the passkey of this session: %d at %s, want the log-in page", res.Status, tb.path())
	}
	// The one refusal above is the counter's, on purpose.
	tb.checkClean(allowStatus(srv, "/passkeys/login/finish", 401))
}

// TestPasskeyScreenshots writes the passkey parts of the sign-up, log-in
// and account pages at desktop and phone sizes ($SCREENSHOT_DIR; the
// committed ones are in docs/screenshots), checking their contrast.
func TestPasskeyScreenshots(t *testing.T) {
	srv := startServer(t)
	srv.localhost = true
	dir := screenshotDir(t)
	tb := newTab(t, srv, tabOptions{})
	auth := tb.virtualAuthenticator()
	for _, v := range viewports {
		// The authenticator is empty: the log-in page's autofill request
		// has nothing to offer and the page stays.
		for _, p := range []string{"signup", "login"} {
			if res := tb.navigate("/" + p); res.Status != 200 {
				t.Fatalf("GET /%s: %d", p, res.Status)
			}
			tb.waitTrue("passkey parts shown", `!!document.querySelector('#passkey-signup:not([hidden]), #passkey-login:not([hidden])')`)
			tb.shoot(dir, p+"-passkeys", v)
			tb.checkAxe(p + " with passkeys at " + v.name)
		}
	}
	tb.passkeySignUp("ada")
	if n := len(tb.credentials(auth)); n != 1 {
		t.Fatalf("%d credentials after the sign-up", n)
	}
	for _, v := range viewports {
		tb.do("viewport "+v.name, chromedp.EmulateViewport(v.width, v.height))
		if res := tb.navigate("/account"); res.Status != 200 {
			t.Fatalf("GET /account: %d", res.Status)
		}
		tb.idle()
		tb.checkContrast("account passkeys at " + v.name)
		tb.checkAxe("account with a passkey at " + v.name)
		buf, err := chromedp.Run(tb.ctx, chromedp.Screenshot(chromedp.ID("passkeys"), chromedp.NodeVisible))
		if err != nil {
			t.Fatalf("screenshot of the passkeys section: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "account-passkeys-"+v.name+".png"), recompress(t, buf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tb.checkClean(nil)
}

// TestPasskeyOnlyAndBackInBrowser: a password account adds a passkey
// (confirmed with its password), removes its password (passkey-only), and
// sets one again confirmed with the passkey (the form's hidden reauth field,
// filled by the page's script); the new password then logs in.
func TestPasskeyOnlyAndBackInBrowser(t *testing.T) {
	srv := startServer(t)
	srv.localhost = true
	tb := newTab(t, srv, tabOptions{})
	auth := tb.virtualAuthenticator()
	tb.signUp("bea")
	tb.idle()

	if res := tb.navigate("/account"); res.Status != 200 {
		t.Fatalf("GET /account: %d", res.Status)
	}
	mark := tb.rec.mark()
	tb.do("add a passkey, confirmed with the password",
		chromedp.SendKeys(chromedp.ID("passkey_name"), "Laptop", chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.ID("passkey_add_password"), password, chromedp.NodeVisible),
		chromedp.Click(chromedp.ID("passkey-add"), chromedp.NodeVisible),
	)
	if e := tb.waitExchange(mark, "POST", "/passkeys/add/finish"); e.status != 200 {
		t.Fatalf("POST /passkeys/add/finish: %d", e.status)
	}
	tb.waitTrue("the passkey listed", `[...document.querySelectorAll('li.passkey .passkey-name')].some((e) => e.textContent.includes('Laptop'))`)
	tb.idle()

	// Passkey-only.
	tb.do("type the password", chromedp.SendKeys(chromedp.ID("remove_password_password"), password, chromedp.NodeVisible))
	if res := tb.clickAndLoad(`form[action="/account/password/remove"] button`); res.Status != 200 || tb.path() != "/account" {
		t.Fatalf("remove the password: %d at %s", res.Status, tb.path())
	}
	if !eval[bool](tb, `!!document.querySelector('form[action="/account/password"] input[name="reauth"]') && !document.getElementById('current_password')`) {
		t.Fatal("after removing the password, the password form still asks for the current password")
	}

	// Back: a new password, confirmed with the passkey.
	const newPassword = "staple violet quarry"
	tb.do("type a new password", chromedp.SendKeys(chromedp.ID("new_password"), newPassword, chromedp.NodeVisible))
	mark = tb.rec.mark()
	tb.do("send the password form", chromedp.Click(chromedp.CSS(`form[action="/account/password"] button[type="submit"]`), chromedp.NodeVisible))
	if e := tb.waitExchange(mark, "POST", "/passkeys/reauth/finish"); e.status != 200 {
		t.Fatalf("the passkey confirmation: %d", e.status)
	}
	tb.waitTrue("the password set", `location.pathname === '/account' && !!document.getElementById('remove_password_password')`)
	tb.idle()

	// The new password logs in (no passkey in the authenticator, so the log-in
	// page's autofill does not log in first).
	tb.logOut()
	tb.clearCredentials(auth)
	if res := tb.navigate("/login"); res.Status != 200 {
		t.Fatalf("GET /login: %d", res.Status)
	}
	tb.do("fill in the log-in form",
		chromedp.SendKeys(chromedp.ID("username"), "bea", chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.ID("password"), newPassword, chromedp.NodeVisible),
	)
	if res := tb.clickAndLoad(`main form[action="/login"] button[type="submit"]`); res.Status != 200 || tb.path() != "/community" {
		t.Fatalf("log-in with the new password: %d at %s", res.Status, tb.path())
	}
	tb.checkClean(nil)
}

// TestPasskeyPagesWithoutJavaScript: at the relying party's host with
// scripts off, the sign-up, log-in and account pages say that passkeys
// need JavaScript, offer no passkey control that could not work, keep the
// password path, and pass axe-core.
func TestPasskeyPagesWithoutJavaScript(t *testing.T) {
	srv := startServer(t)
	srv.localhost = true
	tb := newTab(t, srv, tabOptions{noScript: true})
	for _, p := range []string{"/signup", "/login"} {
		if res := tb.navigate(p); res.Status != 200 {
			t.Fatalf("GET %s: %d", p, res.Status)
		}
		if !strings.Contains(eval[string](tb, `document.body.textContent`), "JavaScript") {
			t.Errorf("%s without JavaScript does not say passkeys need it", p)
		}
		if eval[bool](tb, `!!document.querySelector('#passkey-signup:not([hidden]), #passkey-login:not([hidden])')`) {
			t.Errorf("%s without JavaScript shows a passkey button that cannot work", p)
		}
		tb.checkAxe(p + " with passkeys, no JavaScript")
	}
	tb.signUp("noor")
	if res := tb.navigate("/account"); res.Status != 200 {
		t.Fatalf("GET /account: %d", res.Status)
	}
	if !strings.Contains(eval[string](tb, `document.getElementById('passkeys').textContent`), "JavaScript") {
		t.Error("the account's passkey section without JavaScript does not say passkeys need it")
	}
	tb.checkAxe("account with the passkey section, no JavaScript")
}
