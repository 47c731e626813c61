package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

type avatarBody struct {
	Username  string  `json:"username"`
	Avatar    string  `json:"avatar"`
	URL       string  `json:"url"`
	UpdatedAt *string `json:"updated_at"`
}

// decodeAvatar checks res is a 200 avatar document of exactly the shape in
// docs/architecture.md ("Errors: JSON or a page"), not cached, and returns it.
func decodeAvatar(t *testing.T, what string, res resp) avatarBody {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("%s: %d %s, want 200", what, res.status, res.body)
	}
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
	if cc := res.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(res.body), &raw); err != nil {
		t.Fatalf("%s: %v: %s", what, err, res.body)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"avatar", "updated_at", "url", "username"}; !slices.Equal(keys, want) {
		t.Errorf("%s: keys %v, want %v", what, keys, want)
	}
	var a avatarBody
	if err := json.Unmarshal([]byte(res.body), &a); err != nil {
		t.Fatalf("%s: %v: %s", what, err, res.body)
	}
	if !strings.HasPrefix(a.URL, "/assets/") {
		t.Errorf("%s: url %q, want an /assets/ URL", what, a.URL)
	}
	return a
}

type preset struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

// catalogue fetches GET /community/avatars.
func (s *site) catalogue(t *testing.T) map[string]string {
	t.Helper()
	res := s.do(t, req{method: "GET", path: "/community/avatars"})
	if res.status != http.StatusOK {
		t.Fatalf("GET /community/avatars: %d %s", res.status, res.body)
	}
	var list []preset
	if err := json.Unmarshal([]byte(res.body), &list); err != nil {
		t.Fatalf("GET /community/avatars: %v: %s", err, res.body)
	}
	urls := map[string]string{}
	for _, p := range list {
		if p.ID == "" || p.URL == "" {
			t.Errorf("preset %+v lacks an id or url", p)
		}
		if _, dup := urls[p.ID]; dup {
			t.Errorf("preset %q listed twice", p.ID)
		}
		urls[p.ID] = p.URL
	}
	if len(list) < 12 {
		t.Errorf("%d presets, want at least 12", len(list))
	}
	return urls
}

// TestAvatarAPI: GET shows the default until a choice; PUT (JSON) and POST
// (form) change it; every answer has the documented shape.
func TestAvatarAPI(t *testing.T) {
	s := newSite(t, siteOptions{})
	alice := s.signup(t, "alice")
	presets := s.catalogue(t)

	a := decodeAvatar(t, "GET before a choice", s.do(t, req{method: "GET", path: "/community/avatar", cookie: alice}))
	if a.Username != "alice" || a.Avatar != "default" || a.UpdatedAt != nil {
		t.Errorf("GET before a choice: %+v, want alice, default, updated_at null", a)
	}

	steps := []struct {
		name string
		req  req
		want string
	}{
		{"PUT owl", req{method: "PUT", path: "/community/avatar", body: `{"avatar":"owl"}`,
			header: map[string]string{"Content-Type": "application/json"}}, "owl"},
		{"PUT fox with charset", req{method: "PUT", path: "/community/avatar", body: `{"avatar":"fox"}`,
			header: map[string]string{"Content-Type": "application/json; charset=utf-8"}}, "fox"},
		{"PUT from the same origin", req{method: "PUT", path: "/community/avatar", body: `{"avatar":"cat"}`,
			header: map[string]string{"Content-Type": "application/json", "Origin": s.srv.URL, "Sec-Fetch-Site": "same-origin"}}, "cat"},
		{"POST form", req{method: "POST", path: "/community/avatar", form: url.Values{"avatar": {"owl"}}}, "owl"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := time.Now().Add(-2 * time.Second)
			r := st.req
			r.cookie = alice
			res := s.do(t, r)
			if r.method == "POST" {
				if res.status != http.StatusSeeOther || res.header.Get("Location") != "/community" {
					t.Fatalf("%d %q, want 303 /community", res.status, res.header.Get("Location"))
				}
			} else {
				a := decodeAvatar(t, st.name, res)
				if a.Avatar != st.want || a.Username != "alice" || a.URL != presets[st.want] {
					t.Errorf("%+v, want alice with %s at %s", a, st.want, presets[st.want])
				}
			}
			got := decodeAvatar(t, "GET after "+st.name, s.do(t, req{method: "GET", path: "/community/avatar", cookie: alice}))
			if got.Avatar != st.want || got.URL != presets[st.want] {
				t.Errorf("GET after: %+v, want %s at %s", got, st.want, presets[st.want])
			}
			if got.UpdatedAt == nil {
				t.Fatalf("GET after: updated_at is null")
			}
			ts, err := time.Parse(time.RFC3339, *got.UpdatedAt)
			if err != nil {
				t.Fatalf("updated_at %q is not RFC 3339: %v", *got.UpdatedAt, err)
			}
			if ts.Before(before) || ts.After(time.Now().Add(2*time.Second)) {
				t.Errorf("updated_at %v, want about now", ts)
			}
		})
	}
}

// TestAvatarCatalogue: the presets include owl and fox, and every URL (and
// the default's) is served by the assets route as a cached-forever SVG.
func TestAvatarCatalogue(t *testing.T) {
	s := newSite(t, siteOptions{})
	presets := s.catalogue(t)
	for _, id := range []string{"owl", "fox"} {
		if presets[id] == "" {
			t.Errorf("catalogue lacks %q", id)
		}
	}
	alice := s.signup(t, "alice")
	def := decodeAvatar(t, "GET default", s.do(t, req{method: "GET", path: "/community/avatar", cookie: alice}))
	presets["default"] = def.URL

	for id, u := range presets {
		t.Run(id, func(t *testing.T) {
			if !strings.HasPrefix(u, "/assets/avatars/") || !strings.HasSuffix(u, ".svg") || strings.HasSuffix(u, "/"+id+".svg") {
				t.Errorf("url %q, want a content-hashed /assets/avatars/%s.<hash>.svg", u, id)
			}
			res := s.do(t, req{method: "GET", path: u})
			if res.status != http.StatusOK {
				t.Fatalf("GET %s: %d", u, res.status)
			}
			if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "image/svg+xml") {
				t.Errorf("Content-Type %q, want image/svg+xml", ct)
			}
			cc := res.header.Get("Cache-Control")
			if !strings.Contains(cc, "immutable") || !strings.Contains(cc, "max-age=31536000") {
				t.Errorf("Cache-Control %q, want max-age=31536000, immutable", cc)
			}
			if !strings.Contains(res.body, "<svg") {
				t.Errorf("body is not an SVG: %.100s", res.body)
			}
			checkSecurityHeaders(t, u, res)
		})
	}
}
