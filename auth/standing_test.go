package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"soulbridge/kv"
)

// An account's generation is new at sign-up and at every password change,
// and gone with the account: what sessions and device cookies are judged by.
func TestGenerationChangesWithThePassword(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	clk := newClock()
	s := newService(t, store, clk)
	u, err := s.SignUp(ctx, "alice", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	gen, since, err := s.Standing(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := u.Standing(); gen != g || len(gen) < 22 || strings.HasPrefix(gen, "t:") {
		t.Fatalf("after sign-up: generation %q, sign-up returned %q; want the same random value", gen, g)
	}
	if !since.Equal(u.CreatedAt) {
		t.Errorf("password set at %v, want the sign-up time %v", since, u.CreatedAt)
	}
	clk.Advance(time.Minute)
	changed, err := s.ChangePassword(ctx, "alice", "staple violet quarry")
	if err != nil {
		t.Fatal(err)
	}
	gen2, since2, err := s.Standing(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := changed.Standing(); gen2 == gen || gen2 != g {
		t.Fatalf("after the change: generation %q (before %q, ChangePassword returned %q)", gen2, gen, g)
	}
	if !since2.Equal(clk.Now().UTC()) {
		t.Errorf("password set at %v, want the change's time %v", since2, clk.Now())
	}
	// The same name signed up again after a deletion gets another one.
	if err := s.Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Standing(ctx, "alice"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Standing of a deleted account: %v, want not found", err)
	}
	if _, err := s.SignUp(ctx, "alice", "other owner's pass 7"); err != nil {
		t.Fatal(err)
	}
	gen3, _, err := s.Standing(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if gen3 == gen || gen3 == gen2 {
		t.Fatalf("re-registered name kept an earlier generation %q", gen3)
	}
}

// An account written by the previous release (no generation, no
// sessions_since) has a generation derived from its updated_at, which
// that release set only at sign-up and at a password change, and counts its
// password as set at sign-up; a rewrite by this release keeps fields it
// does not know (a later release's, in a rolling deploy).
func TestStandingOfAPreviousReleaseAccount(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	s := newService(t, store, newClock())
	if _, err := s.SignUp(ctx, "alice", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	b, err := store.Get(ctx, "user:alice")
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	delete(rec, "generation")
	delete(rec, "sessions_since")
	rec["created_at"] = "2026-10-01T09:00:00Z"
	rec["updated_at"] = "2026-11-01T10:00:00.123456789Z"
	rec["later_field"] = map[string]any{"kept": true}
	old, _ := json.Marshal(rec)
	if err := store.Set(ctx, "user:alice", old, 0); err != nil {
		t.Fatal(err)
	}
	gen, since, err := s.Standing(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if gen != "t:2026-11-01T10:00:00.123456789Z" || !since.Equal(time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("Standing = %q, %v; want the updated_at time and the sign-up time", gen, since)
	}
	if _, err := s.ChangePassword(ctx, "alice", "staple violet quarry"); err != nil {
		t.Fatal(err)
	}
	b, err = store.Get(ctx, "user:alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"later_field":{"kept":true}`) {
		t.Fatalf("a rewrite dropped a field it does not know: %s", b)
	}
	if gen2, _, _ := s.Standing(ctx, "alice"); gen2 == gen || strings.HasPrefix(gen2, "t:") {
		t.Fatalf("after a change by this release the generation is %q", gen2)
	}
}
