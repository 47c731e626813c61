package avatar_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"testing"
	"time"

	"soulbridge/avatar"
	"soulbridge/kv"
	"soulbridge/kv/kvtest"
)

var fixedNow = time.Date(2026, 3, 1, 12, 30, 0, 0, time.FixedZone("CET", 3600))

func newService(t *testing.T) (*avatar.Service, *kv.Badger) {
	t.Helper()
	store := kvtest.Memory(t)
	s, err := avatar.New(store, avatar.Config{Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatalf("avatar.New: %v", err)
	}
	return s, store
}

func TestCatalogue(t *testing.T) {
	cat := avatar.Catalogue()
	if len(cat) < 12 {
		t.Fatalf("catalogue has %d presets, want at least 12", len(cat))
	}
	idRE := regexp.MustCompile(`^[a-z0-9-]+$`)
	seen := map[string]bool{}
	for _, p := range cat {
		if seen[p.ID] {
			t.Errorf("duplicate id %q", p.ID)
		}
		seen[p.ID] = true
		if p.ID == avatar.Default {
			t.Error(`"default" is in the catalogue`)
		}
		if !idRE.MatchString(p.ID) || p.Name == "" {
			t.Errorf("preset %+v: id must be lower-case [a-z0-9-], name non-empty", p)
		}
		if p.File() != "avatars/"+p.ID+".svg" {
			t.Errorf("File() = %q", p.File())
		}
		if got, ok := avatar.Lookup(p.ID); !ok || got != p {
			t.Errorf("Lookup(%q) = %+v, %v", p.ID, got, ok)
		}
	}
	for _, id := range []string{"owl", "fox"} {
		if !seen[id] {
			t.Errorf("catalogue lacks %q", id)
		}
	}
	// Catalogue returns a copy: changing it changes nothing.
	cat[0].ID = "mutated"
	if avatar.Catalogue()[0].ID == "mutated" {
		t.Fatal("Catalogue exposes its backing array")
	}
}

func TestLookup(t *testing.T) {
	if p, ok := avatar.Lookup(avatar.Default); !ok || p.ID != avatar.Default {
		t.Fatalf("Lookup(default) = %+v, %v", p, ok)
	}
	for _, id := range []string{"", "dragon", "OWL", "owl ", "../owl", "avatars/owl.svg"} {
		if p, ok := avatar.Lookup(id); ok {
			t.Errorf("Lookup(%q) found %+v", id, p)
		}
	}
}

func TestGetBeforeChoice(t *testing.T) {
	s, _ := newService(t)
	c, err := s.Get(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if c.Avatar != avatar.Default || c.Username != "alice" || !c.UpdatedAt.IsZero() {
		t.Fatalf("Get before a choice = %+v, want default with zero UpdatedAt", c)
	}
}

func TestSetRefusesUnknown(t *testing.T) {
	s, store := newService(t)
	ctx := context.Background()
	for _, id := range []string{"dragon", "", avatar.Default, "OWL", "owl\x00", "../../etc/passwd"} {
		if c, err := s.Set(ctx, "alice", id, nil); !errors.Is(err, avatar.ErrUnknown) {
			t.Errorf("Set(%q) = %+v, %v; want ErrUnknown", id, c, err)
		}
	}
	if _, err := store.Get(ctx, "avatar:alice"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("a refused Set wrote something: %v", err)
	}
}

func TestSetThenGet(t *testing.T) {
	s, store := newService(t)
	ctx := context.Background()
	for _, id := range []string{"owl", "fox"} {
		set, err := s.Set(ctx, "alice", id, nil)
		if err != nil {
			t.Fatalf("Set(%q): %v", id, err)
		}
		if set.Avatar != id || set.Username != "alice" || !set.UpdatedAt.Equal(fixedNow) || set.UpdatedAt.Location() != time.UTC {
			t.Fatalf("Set = %+v, want %s at %v in UTC", set, id, fixedNow)
		}
		got, err := s.Get(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if got.Avatar != id || !got.UpdatedAt.Equal(fixedNow) {
			t.Fatalf("Get after Set(%q) = %+v", id, got)
		}
	}
	// Stored under avatar:<username>, as JSON with updated_at.
	raw, err := store.Get(ctx, "avatar:alice")
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(raw, &rec); err != nil || rec["avatar"] != "fox" || rec["updated_at"] == nil {
		t.Fatalf("stored record = %s (%v)", raw, err)
	}
	// Another user is unaffected.
	if c, err := s.Get(ctx, "bob"); err != nil || c.Avatar != avatar.Default {
		t.Fatalf("Get(bob) = %+v, %v", c, err)
	}
}

func TestRemovedPresetReadsAsDefault(t *testing.T) {
	s, store := newService(t)
	ctx := context.Background()
	rec := `{"username":"alice","avatar":"dodo","updated_at":"2025-01-02T03:04:05Z"}`
	if err := store.Set(ctx, "avatar:alice", []byte(rec), 0); err != nil {
		t.Fatal(err)
	}
	c, err := s.Get(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if c.Avatar != avatar.Default || !c.UpdatedAt.IsZero() {
		t.Fatalf("removed preset reads as %q (updated %v), want default with zero UpdatedAt", c.Avatar, c.UpdatedAt)
	}
}

func TestGetErrors(t *testing.T) {
	s, store := newService(t)
	ctx := context.Background()
	if err := store.Set(ctx, "avatar:alice", []byte("{not json"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "alice"); err == nil {
		t.Fatal("Get of an unreadable record succeeded")
	}
	store.Close()
	if _, err := s.Get(ctx, "bob"); err == nil {
		t.Fatal("Get on a closed store succeeded")
	}
	if _, err := s.Set(ctx, "bob", "owl", nil); err == nil || errors.Is(err, avatar.ErrUnknown) {
		t.Fatalf("Set on a closed store: %v", err)
	}
}

func TestGetManyInOrderWithDefaults(t *testing.T) {
	s, store := newService(t)
	ctx := context.Background()
	if _, err := s.Set(ctx, "bob", "fox", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Set(ctx, "alice", "owl", nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetMany(ctx, []string{"alice", "carol", "bob"})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ user, avatar string }{{"alice", "owl"}, {"carol", avatar.Default}, {"bob", "fox"}}
	if len(got) != len(want) {
		t.Fatalf("GetMany returned %d choices, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Username != w.user || got[i].Avatar != w.avatar {
			t.Errorf("GetMany[%d] = %s/%s, want %s/%s", i, got[i].Username, got[i].Avatar, w.user, w.avatar)
		}
	}
	if err := store.Set(ctx, "avatar:dave", []byte("{not json"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMany(ctx, []string{"alice", "dave"}); err == nil {
		t.Fatal("GetMany with an unreadable record succeeded")
	}
}

func TestDeleteForgetsTheChoice(t *testing.T) {
	s, store := newService(t)
	ctx := context.Background()
	if _, err := s.Set(ctx, "alice", "owl", nil); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if _, err := s.Set(ctx, "bob", "fox", nil); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if err := s.Delete(ctx, "alice"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if c, err := s.Get(ctx, "alice"); err != nil || c.Avatar != avatar.Default || !c.UpdatedAt.IsZero() {
		t.Fatalf("after Delete: %+v, %v; want the default, never chosen", c, err)
	}
	if c, err := s.Get(ctx, "bob"); err != nil || c.Avatar != "fox" {
		t.Fatalf("bob after alice's Delete: %+v, %v; want fox", c, err)
	}
	if _, err := store.Get(ctx, "avatar:alice"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("store still holds alice's record: %v", err)
	}
	if err := s.Delete(ctx, "carol"); err != nil {
		t.Fatalf("Delete of a user who never chose: %v", err)
	}
}
