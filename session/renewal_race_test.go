package session_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"soulbridge/kv"
)

// raceStore runs afterGet once, right after the first Get it serves: the
// moment between a request loading its session and renewing it.
type raceStore struct {
	*kv.Badger
	once     sync.Once
	afterGet func()
}

func (s *raceStore) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := s.Badger.Get(ctx, key)
	if s.afterGet != nil {
		s.once.Do(s.afterGet)
	}
	return v, err
}

// TestRenewalCannotResurrect (issue 10 row 10): a log-out that lands between
// a request loading its session and the sliding renewal writing it back
// must stay a log-out: the renewal does not write a record that is gone.
func TestRenewalCannotResurrect(t *testing.T) {
	clk := newClock()
	store := &raceStore{Badger: openStore(t)}
	m := newManager(t, store, clk)
	s, c := start(t, m, plainHTTP)
	clk.Advance(testTouch + time.Second) // the next request renews

	store.afterGet = func() {
		// A concurrent log-out (another request with the same cookie).
		if err := store.Badger.Delete(context.Background(), "session:"+s.ID); err != nil {
			t.Errorf("Delete: %v", err)
		}
	}
	if out := serve(m, plainHTTP, c); !out.called || out.sess != nil || out.errRan {
		t.Errorf("request racing the log-out: %+v, want it served without a session", out)
	}
	if _, err := store.Badger.Get(context.Background(), "session:"+s.ID); err == nil {
		t.Fatal("the renewal brought back a session that was logged out")
	}
	if _, _, err := load(m, c); err == nil {
		t.Fatal("the logged-out cookie still loads")
	}
}

// TestRenewalSkipsAChangedRecord: a record changed since the request read it
// (another request renewed it first) is not overwritten with the stale copy.
func TestRenewalSkipsAChangedRecord(t *testing.T) {
	clk := newClock()
	store := &raceStore{Badger: openStore(t)}
	m := newManager(t, store, clk)
	s, c := start(t, m, plainHTTP)
	clk.Advance(testTouch + time.Second)

	changed := []byte(`{"username":"alice","created_at":"2026-01-01T00:00:00Z","last_seen":"2026-01-01T00:00:00Z","expires_at":"2099-01-01T00:00:00Z","user_agent":"other","ip":"192.0.2.99","updated_at":"2026-01-01T00:00:00Z"}`)
	store.afterGet = func() {
		if err := store.Badger.Set(context.Background(), "session:"+s.ID, changed, time.Hour); err != nil {
			t.Errorf("Set: %v", err)
		}
	}
	serve(m, plainHTTP, c)
	got, err := store.Badger.Get(context.Background(), "session:"+s.ID)
	if err != nil || string(got) != string(changed) {
		t.Fatalf("record after the renewal = %s, %v; want the concurrent writer's", got, err)
	}
}
