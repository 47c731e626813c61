package web_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"soulbridge/auth"
	"soulbridge/internal/testpasskey"
	"soulbridge/passkey"
	"soulbridge/web"
)

// passkeyFinishPaths are the ceremony finish endpoints the fuzz target
// drives; the first byte of an input picks one.
var passkeyFinishPaths = []string{"/passkeys/login/finish", "/passkeys/signup/finish", "/passkeys/add/finish", "/passkeys/reauth/finish"}

// FuzzPasskeyFinish sends arbitrary bodies to the ceremony finish
// endpoints through the real router (with a session, from a new address
// each time so the throttle does not hide the deeper paths): every answer
// is a JSON error of a client's kind, never a 5xx, never a session, and
// never a success (a body the fuzzer makes cannot carry a signed challenge
// and a valid signature).
func FuzzPasskeyFinish(f *testing.F) {
	store := memStore(f)
	rp, err := passkey.NewRP(pkOrigin)
	if err != nil {
		f.Fatal(err)
	}
	hasher, err := auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1}, 2)
	if err != nil {
		f.Fatal(err)
	}
	h, err := web.NewSite(store, web.SiteConfig{
		Keys: [][]byte{pkKey}, IdleLifetime: idleLifetime, MaxLifetime: maxLifetime,
		Hasher: hasher, Persistent: true, Version: testVersion, Passkeys: rp,
	})
	if err != nil {
		f.Fatal(err)
	}
	serve := func(method, path, body, ct, addr string, cookie *http.Cookie) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		r.RemoteAddr = addr
		if cookie != nil {
			r.AddCookie(cookie)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := serve(http.MethodPost, "/signup", url.Values{"username": {"fuzzer"}, "password": {testPassword}}.Encode(), "application/x-www-form-urlencoded", "192.0.2.1:1", nil)
	var cookie *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == "sb_session" {
			cookie = c
		}
	}
	if cookie == nil {
		f.Fatalf("sign-up: %d", w.Code)
	}

	// Seeds: well-formed answers to real challenges, and shapes around them.
	a := testpasskey.New(f)
	w = serve(http.MethodPost, "/passkeys/login/begin", "{}", "application/json", "192.0.2.1:1", nil)
	assertion := a.Assert(testpasskey.Challenge(f, w.Body.Bytes()), pkOrigin, pkRPID)
	w = serve(http.MethodPost, "/passkeys/signup/begin", `{"username":"seed"}`, "application/json", "192.0.2.1:1", nil)
	handle := testpasskey.UserID(f, w.Body.Bytes())
	creation := a.Create(testpasskey.Challenge(f, w.Body.Bytes()), handle, pkOrigin, pkRPID)
	wrap := func(v map[string]any) []byte { b, _ := json.Marshal(v); return b }
	for i, body := range [][]byte{
		wrap(map[string]any{"credential": json.RawMessage(assertion)}),
		wrap(map[string]any{"username": "seed", "handle": base64.RawURLEncoding.EncodeToString(handle), "credential": json.RawMessage(creation)}),
		wrap(map[string]any{"handle": base64.RawURLEncoding.EncodeToString(handle), "name": "x", "credential": json.RawMessage(creation)}),
		[]byte(`{"credential":{}}`), []byte(`{"credential":null}`), []byte(`[]`), []byte(``), []byte(`{"credential":"AAAA"}`),
	} {
		// Spent here first (the sign-up succeeds once): as seeds they must
		// be refused.
		serve(http.MethodPost, passkeyFinishPaths[i%len(passkeyFinishPaths)], string(body), "application/json", "192.0.2.2:1", cookie)
		f.Add(byte(i), body)
	}

	n := 0
	f.Fuzz(func(t *testing.T, which byte, body []byte) {
		n++
		path := passkeyFinishPaths[int(which)%len(passkeyFinishPaths)]
		addr := fmt.Sprintf("10.%d.%d.%d:1", n>>16&0xff, n>>8&0xff, n&0xff)
		w := serve(http.MethodPost, path, string(body), "application/json", addr, cookie)
		switch w.Code {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusConflict,
			http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		default:
			t.Fatalf("POST %s %q: %d %s, want a client error", path, body, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("POST %s %q: Content-Type %q, want JSON", path, body, ct)
		}
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Fatalf("POST %s %q: body %q is not a JSON error", path, body, w.Body)
		}
		for _, c := range w.Result().Cookies() {
			if c.Name == "sb_session" && c.MaxAge >= 0 && c.Value != "" {
				t.Fatalf("POST %s %q: a session cookie was set on a refusal", path, body)
			}
		}
		if bytes.Contains(w.Body.Bytes(), []byte(".go:")) {
			t.Fatalf("POST %s: internal text in %q", path, w.Body)
		}
	})
}
