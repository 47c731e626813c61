package session_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"soulbridge/kv/kvtest"
	"soulbridge/session"
)

// BenchmarkList lists an account holding the cap of sessions: one prefix
// scan of the index and one GetMany of the records (the account page and
// GET /account/sessions).
func BenchmarkList(b *testing.B) {
	m := newBenchManager(b)
	for range session.MaxPerUser {
		benchStart(b, m, "alice")
	}
	ctx := context.Background()
	for b.Loop() {
		if list, err := m.List(ctx, "alice"); err != nil || len(list) != session.MaxPerUser {
			b.Fatalf("List = %d, %v", len(list), err)
		}
	}
}

// BenchmarkStartAtCap is a log-in to an account at the cap: the record,
// its index entry, the cap's listing and the least recently seen session
// ended.
func BenchmarkStartAtCap(b *testing.B) {
	m := newBenchManager(b)
	for range session.MaxPerUser {
		benchStart(b, m, "alice")
	}
	for b.Loop() {
		benchStart(b, m, "alice")
	}
}

// BenchmarkStartFirst is a log-in to an account with no other session:
// the record and its index entry (two synced writes) and the cap's listing.
func BenchmarkStartFirst(b *testing.B) {
	m := newBenchManager(b)
	i := 0
	for b.Loop() {
		i++
		benchStart(b, m, "user"+strconv.Itoa(i))
	}
}

func newBenchManager(b *testing.B) *session.Manager {
	b.Helper()
	// On disk, with synced writes, as in production.
	store := kvtest.Dir(b, b.TempDir())
	b.Cleanup(func() { store.Close() })
	m, err := session.New(store, session.Config{Keys: [][]byte{keyA}, IdleTimeout: testIdle, MaxLifetime: testMax})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func benchStart(b *testing.B, m *session.Manager, user string) *session.Session {
	b.Helper()
	s, err := m.Start(context.Background(), httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/login", nil), user, "203.0.113.7", "")
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkEnsureIndex is the first start of this release on a volume
// holding 2,000 sessions from before the index (300 users): the scan and
// 2,000 synced writes, indexWorkers at a time.
func BenchmarkEnsureIndex(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		store := kvtest.Dir(b, b.TempDir())
		m, err := session.New(store, session.Config{Keys: [][]byte{keyA}, IdleTimeout: testIdle, MaxLifetime: testMax})
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		for i := range 2000 {
			v, _ := json.Marshal(session.Record{Username: "u" + strconv.Itoa(i%300), CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(testMax)})
			if err := store.Set(context.Background(), fmt.Sprintf("%s%064d", session.KeyPrefix, i), v, testIdle); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if n, err := m.EnsureIndex(context.Background()); err != nil || n != 2000 {
			b.Fatalf("EnsureIndex = %d, %v", n, err)
		}
		b.StopTimer()
		store.Close()
		b.StartTimer()
	}
}
