package web_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// TestHealth: liveness and readiness bodies, while the store serves.
func TestHealth(t *testing.T) {
	s := newSite(t, siteOptions{})
	tests := []struct {
		path string
		want map[string]any
	}{
		{"/healthz", map[string]any{"status": "ok"}},
		{"/readyz", map[string]any{"status": "ok", "store": "ok", "redis": "disabled", "outbox": float64(0), "persistent": true, "disk_free_bytes": float64(0), "version": testVersion}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			res := s.do(t, req{method: "GET", path: tc.path})
			if res.status != http.StatusOK {
				t.Fatalf("%d %s, want 200", res.status, res.body)
			}
			if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(res.body), &got); err != nil {
				t.Fatalf("%v: %s", err, res.body)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("body %v, want %v", got, tc.want)
			}
			if sessionCookie(res) != nil {
				t.Errorf("%s set a session cookie", tc.path)
			}
		})
	}
}

// TestStoreDown: with the store closed, liveness stays 200, readiness says
// 503, and requests that need the store get a generic 500 that names no
// internal error.
func TestStoreDown(t *testing.T) {
	s := newSite(t, siteOptions{})
	alice := s.signup(t, "alice")
	if err := s.store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	tests := []struct {
		name     string
		req      req
		want     int
		wantJSON bool
	}{
		{"healthz", req{method: "GET", path: "/healthz"}, 200, false},
		{"readyz", req{method: "GET", path: "/readyz"}, 503, false},
		{"avatar API with a session", req{method: "GET", path: "/community/avatar", cookie: alice}, 500, true},
		{"community page with a session", req{method: "GET", path: "/community", cookie: alice}, 500, false},
		{"catalogue needs no store", req{method: "GET", path: "/community/avatars"}, 200, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := s.do(t, tc.req) // do checks the body for internal text
			if res.status != tc.want {
				t.Fatalf("%d %.300s, want %d", res.status, res.body, tc.want)
			}
			checkSecurityHeaders(t, tc.name, res)
			if tc.want == 500 {
				if tc.wantJSON {
					if msg := jsonError(t, tc.name, res); msg != "internal server error" {
						t.Errorf("message %q, want the generic \"internal server error\"", msg)
					}
				} else {
					isHTML(t, tc.name, res)
				}
			}
			if tc.name == "readyz" {
				var got map[string]any
				if err := json.Unmarshal([]byte(res.body), &got); err != nil {
					t.Fatalf("%v: %s", err, res.body)
				}
				if got["status"] == "ok" || got["store"] != "down" {
					t.Errorf("readyz with the store closed: %v, want store down", got)
				}
			}
		})
	}
}
