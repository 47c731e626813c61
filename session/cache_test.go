package session_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"soulbridge/session"
)

// TestLoadSeesEveryChangeOfTheRecord: a record loaded (so decoded and
// remembered) and then changed in the store by anyone is loaded as changed,
// and a deleted one is gone.
func TestLoadSeesEveryChangeOfTheRecord(t *testing.T) {
	store := openStore(t)
	m := newManager(t, store, newClock())
	s, c := start(t, m, plainHTTP)
	ctx := context.Background()
	for _, name := range []string{"bob", "carol", "bob"} {
		if _, _, err := load(m, c); err != nil {
			t.Fatal(err)
		}
		rec := s.Record
		rec.Username = name
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Set(ctx, session.KeyPrefix+s.ID, b, time.Hour); err != nil {
			t.Fatal(err)
		}
		got, _, err := load(m, c)
		if err != nil {
			t.Fatal(err)
		}
		if got.Username != name {
			t.Fatalf("after the record changed to %s, Load gives %s", name, got.Username)
		}
	}
	if err := store.Delete(ctx, session.KeyPrefix+s.ID); err != nil {
		t.Fatal(err)
	}
	if got, _, err := load(m, c); err == nil {
		t.Fatalf("after the record was deleted, Load gives %+v", got)
	}
}
