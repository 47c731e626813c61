package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"soulbridge/auth"
	"soulbridge/avatar"
	"soulbridge/kv"
	"soulbridge/web"
)

// fuzzSite is the real router over a real in-memory Badger, called
// in-process (no socket: the fuzzer wants executions), with the session
// cookie of a signed-up user.
func fuzzSite(f *testing.F) (http.Handler, *http.Cookie) {
	f.Helper()
	store, err := kv.Open(context.Background(), kv.Options{InMemory: true, Prefix: "soulbridge:", LockTimeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = store.Close() })
	hasher, err := auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1}, 2)
	if err != nil {
		f.Fatal(err)
	}
	h, err := web.NewSite(store, web.SiteConfig{
		Keys:         [][]byte{bytes.Repeat([]byte{0x5b}, 32)},
		IdleLifetime: idleLifetime,
		MaxLifetime:  maxLifetime,
		Hasher:       hasher,
		Persistent:   true,
		Version:      testVersion,
	})
	if err != nil {
		f.Fatal(err)
	}
	form := url.Values{"username": {"fuzzer"}, "password": {testPassword}}
	r := httptest.NewRequest(http.MethodPost, "/signup", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.Name == "sb_session" {
			return h, c
		}
	}
	f.Fatalf("sign-up: %d, no session cookie", w.Code)
	return nil, nil
}

// FuzzAvatarBody sends arbitrary bodies as PUT /community/avatar (JSON)
// through the real router. It answers only 200, 400 or 413, always with a
// JSON body; 200 exactly when the body is a JSON object whose "avatar" is a
// preset id other than "default" (and the body fits in 64 KiB), and then
// GET /community/avatar shows that choice; any other answer leaves the
// choice as it was. Seeds: testdata/fuzz/FuzzAvatarBody (wrong types,
// duplicate keys, case variants of the key, nested objects, null, escapes,
// invalid UTF-8, NUL, a body just over 64 KiB).
func FuzzAvatarBody(f *testing.F) {
	for _, s := range []string{`{"avatar":"owl"}`, `{"avatar":"default"}`, `{"avatar":1}`, `[]`, `{"avatar":"fox","avatar":"owl"}`, ``} {
		f.Add([]byte(s))
	}
	h, cookie := fuzzSite(f)
	current := avatar.Default
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPut, "/community/avatar", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.AddCookie(cookie)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		var want struct {
			Avatar *string `json:"avatar"`
		}
		valid := len(body) <= 64<<10 && json.Unmarshal(body, &want) == nil && want.Avatar != nil
		if valid {
			_, known := avatar.Lookup(*want.Avatar)
			valid = known && *want.Avatar != avatar.Default
		}
		switch {
		case valid && w.Code != http.StatusOK:
			t.Fatalf("PUT %q: %d %s, want 200", body, w.Code, w.Body)
		case !valid && w.Code == http.StatusOK:
			t.Fatalf("PUT %q: 200 %s for a body that names no preset", body, w.Body)
		case w.Code != http.StatusOK && w.Code != http.StatusBadRequest && w.Code != http.StatusRequestEntityTooLarge:
			t.Fatalf("PUT %q: %d %s, want 200, 400 or 413", body, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("PUT %q: Content-Type %q, want JSON", body, ct)
		}
		var got map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("PUT %q: body %q is not JSON: %v", body, w.Body, err)
		}
		if w.Code == http.StatusOK {
			current = *want.Avatar
			if got["avatar"] != current || got["username"] != "fuzzer" {
				t.Fatalf("PUT %q: answered %v, want avatar %q for fuzzer", body, got, current)
			}
		} else if msg, _ := got["error"].(string); msg == "" {
			t.Fatalf("PUT %q: %d without an error message: %s", body, w.Code, w.Body)
		}

		r = httptest.NewRequest(http.MethodGet, "/community/avatar", nil)
		r.AddCookie(cookie)
		w = httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var shown struct{ Avatar string }
		if err := json.Unmarshal(w.Body.Bytes(), &shown); err != nil || w.Code != http.StatusOK || shown.Avatar != current {
			t.Fatalf("after PUT %q: GET shows %d %s, want avatar %q", body, w.Code, w.Body, current)
		}
	})
}
