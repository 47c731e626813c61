package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"soulbridge/auth"
	"soulbridge/internal/testclock"
	"soulbridge/kv"
	"soulbridge/session"
)

// accountsManager is a Manager whose sessions are judged by real accounts
// (auth.Service over the same store), with the accounts' service.
func accountsManager(t *testing.T, store *kv.Badger, clk *testclock.Clock) (*session.Manager, *auth.Service) {
	t.Helper()
	h, err := auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	accounts, err := auth.New(store, auth.Config{Hasher: h, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, session.Config{
		Keys: [][]byte{keyA}, IdleTimeout: testIdle, MaxLifetime: testMax, TouchInterval: testTouch,
		Now: clk.Now, Accounts: accounts,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, accounts
}

func startUnder(t *testing.T, m *session.Manager, user, gen string) (*session.Session, *http.Cookie, error) {
	t.Helper()
	w := httptest.NewRecorder()
	s, err := m.Start(context.Background(), w, newRequest(http.MethodPost, plainHTTP), user, "203.0.113.7", gen)
	if err != nil {
		return nil, nil, err
	}
	return s, w.Result().Cookies()[0], nil
}

// A session grants something only while its account stands as when it was
// made: a password change or a deletion ends it on the next load, without
// any write; a log-in that checked the old password and stores its session
// after the change is undone by Start itself.
func TestSessionEndsWithItsAccountGeneration(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	clk := newClock()
	m, accounts := accountsManager(t, store, clk)
	u, err := accounts.SignUp(ctx, "alice", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	gen, _ := u.Standing()
	_, c, err := startUnder(t, m, "alice", gen)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := load(m, c); err != nil {
		t.Fatalf("a session of the current generation: %v", err)
	}

	clk.Advance(time.Second)
	if _, err := accounts.ChangePassword(ctx, "alice", "staple violet quarry"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := load(m, c); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("after a password change: %v, want ErrNoSession", err)
	}
	// The log-in that checked the old password finishes now.
	before := sessionKeys(t, store)
	if _, _, err := startUnder(t, m, "alice", gen); !errors.Is(err, session.ErrAccountChanged) {
		t.Fatalf("Start under the old generation: %v, want ErrAccountChanged", err)
	}
	if after := sessionKeys(t, store); len(after) != len(before) {
		t.Fatalf("an undone Start left %d session keys behind", len(after)-len(before))
	}

	u2, err := accounts.ChangePassword(ctx, "alice", "quarry staple violet")
	if err != nil {
		t.Fatal(err)
	}
	gen2, _ := u2.Standing()
	_, c2, err := startUnder(t, m, "alice", gen2)
	if err != nil {
		t.Fatal(err)
	}
	if err := accounts.Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := load(m, c2); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("after the account's deletion: %v, want ErrNoSession", err)
	}
	if _, err := accounts.SignUp(ctx, "alice", "someone else entirely 9"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := load(m, c2); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("after the name was signed up again: %v, want ErrNoSession", err)
	}
	if list, err := m.List(ctx, "alice"); err != nil || len(list) != 0 {
		t.Fatalf("the new owner's list: %v, %v; want none of the earlier owner's", list, err)
	}
}

// A record from the previous release carries no generation: it is honoured
// if it was made at or after the account's sessions were last all ended
// (here the sign-up, then a password change), so the deploy logs nobody
// out, and not if it is older, so nothing from before a password change
// survives.
func TestPreviousReleaseSessionJudgedByTime(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	clk := newClock()
	m, accounts := accountsManager(t, store, clk)
	if _, err := accounts.SignUp(ctx, "alice", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	s, c, err := startUnder(t, m, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := store.Get(ctx, session.KeyPrefix+s.ID)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec["generation"]; ok {
		t.Fatalf("a record made without a generation stores one: %s", raw)
	}
	if _, _, err := load(m, c); err != nil {
		t.Fatalf("a previous-release session made after the sign-up: %v", err)
	}
	clk.Advance(time.Minute)
	if _, err := accounts.ChangePassword(ctx, "alice", "staple violet quarry"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := load(m, c); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("a previous-release session made before the password change: %v, want ErrNoSession", err)
	}
}
