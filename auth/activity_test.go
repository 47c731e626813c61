package auth_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"soulbridge/auth"
	"soulbridge/kv"
)

func TestCoarseNetwork(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.9":           "203.0.113.0/24",
		"::ffff:203.0.113.200":  "203.0.113.0/24",
		"2001:db8:1234:5678::1": "2001:db8:1234::/48",
		"fe80::1%eth0":          "fe80::/48",
		"":                      "unknown",
		"not an address":        "unknown",
	} {
		if got := auth.CoarseNetwork(in); got != want {
			t.Errorf("CoarseNetwork(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFailedLogInsGroupedApart: failed log-ins are counted per network
// and hour, never keep the full address, cannot push other events out of
// Events, pass the store's key check, go with the account, and a name with
// no account records nothing.
func TestFailedLogInsGroupedApart(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	clk := newClock()
	clk.Advance(clk.Now().Truncate(time.Hour).Add(time.Hour).Sub(clk.Now())) // the start of an hour
	s := newService(t, store, clk)
	if _, err := s.SignUp(ctx, "alice", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordEvent(ctx, "alice", auth.Event{Kind: auth.KindLogIn, Event: "Logged in", IP: "198.51.100.7"}); err != nil {
		t.Fatal(err)
	}
	// An attacker: 300 failures from 30 networks, within one hour, then 7
	// from one network an hour later.
	for i := range 300 {
		if err := s.RecordFailedLogIn(ctx, "Alice", fmt.Sprintf("192.0.%d.%d", i%30, i%250), clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Hour)
	for i := range 7 {
		if err := s.RecordFailedLogIn(ctx, "alice", fmt.Sprintf("203.0.113.%d", i+1), clk.Now()); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	if err := s.RecordFailedLogIn(ctx, "nobody", "203.0.113.1", clk.Now()); err != nil {
		t.Fatal(err)
	}

	evs, err := s.Events(ctx, "alice", 1)
	if err != nil || len(evs) != 1 || evs[0].Kind != auth.KindLogIn {
		t.Fatalf("Events(1) after 307 failures = %+v, %v; want the log-in", evs, err)
	}
	groups, err := s.FailedLogIns(ctx, "alice", 100)
	if err != nil || len(groups) != 31 {
		t.Fatalf("FailedLogIns = %d groups, %v; want 31: %+v", len(groups), err, groups)
	}
	latest := groups[0]
	if latest.IP != "203.0.113.0/24" || latest.Count != 7 || latest.Kind != auth.KindLogInFailed || !latest.At.Equal(clk.Now().Add(-time.Second)) {
		t.Errorf("latest group = %+v, want 7 from 203.0.113.0/24 at the last attempt", latest)
	}
	total := 0
	for _, g := range groups[1:] {
		total += g.Count
	}
	if total != 300 {
		t.Errorf("the first hour's groups count %d failures, want 300", total)
	}

	if keys := checkedKeys(t, store, "events:"); keys != 32 {
		t.Fatalf("event keys: %d; want 32 (none for nobody)", keys)
	}
	if err := s.Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if g, err := s.FailedLogIns(ctx, "alice", 100); err != nil || len(g) != 0 {
		t.Fatalf("failed log-ins after the account's deletion: %d, %v; want none", len(g), err)
	}
}

// checkedKeys counts the keys under prefix, failing the test for each one
// the store's key check (auth.KeyKinds) refuses.
func checkedKeys(t *testing.T, store *kv.Badger, prefix string) int {
	t.Helper()
	var keys int
	err := store.Scan(context.Background(), kv.Range{Prefix: prefix}, func(key string, val []byte) error {
		keys++
		if _, _, err := kv.CheckKey(auth.KeyKinds(), key, val, auth.CheckStoredUsername); err != nil {
			t.Errorf("key check refuses %q: %v", key, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
