package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"soulbridge/avatar"
)

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
	h, _, cookie := inProcessSite(f, "fuzzer")
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
