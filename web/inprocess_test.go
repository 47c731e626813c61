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
	"soulbridge/kv"
	"soulbridge/web"
)

// inProcessSite is the real router over a real in-memory Badger, called
// in-process (no socket: fuzzing and benchmarks want the handler's own
// cost), with the session cookie of user, signed up through POST /signup.
func inProcessSite(tb testing.TB, user string) (http.Handler, *kv.Badger, *http.Cookie) {
	tb.Helper()
	store, err := kv.Open(context.Background(), kv.Options{InMemory: true, Prefix: "soulbridge:", LockTimeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = store.Close() })
	hasher, err := auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1}, 2)
	if err != nil {
		tb.Fatal(err)
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
		tb.Fatal(err)
	}
	form := url.Values{"username": {user}, "password": {testPassword}}
	r := httptest.NewRequest(http.MethodPost, "/signup", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.Name == "sb_session" {
			return h, store, c
		}
	}
	tb.Fatalf("sign-up: %d, no session cookie", w.Code)
	return nil, nil, nil
}

// addMembers stores accounts for names directly (as sign-up stores them,
// with a hash nobody can log in with): many members without many hashes.
func addMembers(tb testing.TB, store kv.Store, names []string) {
	tb.Helper()
	now := time.Now().UTC()
	for _, n := range names {
		b, err := json.Marshal(auth.User{Username: n, PasswordHash: "unusable", CreatedAt: now, UpdatedAt: now})
		if err != nil {
			tb.Fatal(err)
		}
		if err := store.Create(context.Background(), "user:"+n, b, 0); err != nil {
			tb.Fatalf("add member %s: %v", n, err)
		}
	}
}
