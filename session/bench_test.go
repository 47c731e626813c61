package session_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"soulbridge/kv"
	"soulbridge/session"
)

// BenchmarkLoad decodes a session cookie and loads its record from a store
// on disk: what every authenticated request costs before its handler.
func BenchmarkLoad(b *testing.B) {
	store, err := kv.Open(context.Background(), kv.Options{Dir: b.TempDir(), Prefix: "soulbridge:", LockTimeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	m, err := session.New(store, session.Config{Keys: [][]byte{keyA}, IdleTimeout: 720 * time.Hour, MaxLifetime: 2160 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	w := httptest.NewRecorder()
	if _, err := m.Start(context.Background(), w, httptest.NewRequest("POST", "/login", nil), "alice", "192.0.2.1", ""); err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/community/avatar", nil)
	for _, c := range w.Result().Cookies() {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.Load(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}
