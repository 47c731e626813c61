package avatar_test

import (
	"context"
	"errors"
	"testing"

	"soulbridge/internal/testimage"
	"soulbridge/kv"
	"soulbridge/kv/kvtest"
)

// A change made in a user's name whose writer, once it is stored, no longer
// acts for the user (its account deleted or its password changed while the
// request ran) is undone: the previous choice is back, or none if there was
// none, and an uploaded image it brought is not left behind.
func TestChangeRefusedAfterItIsStoredIsUndone(t *testing.T) {
	ctx := context.Background()
	store := kvtest.Memory(t)
	s := uploadService(t, store, &clock{t: fixedNow})
	ended := errors.New("the session no longer stands")
	refuse := func(context.Context) error { return ended }

	if _, err := s.Set(ctx, "alice", "owl", refuse); !errors.Is(err, ended) {
		t.Fatalf("Set refused by still: %v, want its error", err)
	}
	if _, err := store.Get(ctx, "avatar:alice"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("an undone first choice left a record: %v", err)
	}
	if _, err := s.Upload(ctx, "alice", testimage.PNG(32, 32), refuse); !errors.Is(err, ended) {
		t.Fatalf("Upload refused by still: %v, want its error", err)
	}
	for _, prefix := range []string{"avatar:", "image:", "imageref:"} {
		_ = store.Scan(ctx, kv.Range{Prefix: prefix}, func(k string, _ []byte) error {
			t.Errorf("an undone upload left %s", k)
			return nil
		})
	}

	if _, err := s.Set(ctx, "alice", "fox", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Set(ctx, "alice", "owl", refuse); !errors.Is(err, ended) {
		t.Fatalf("Set refused by still: %v", err)
	}
	if c, err := s.Get(ctx, "alice"); err != nil || c.Avatar != "fox" {
		t.Fatalf("after an undone change: %q, %v; want the previous choice fox", c.Avatar, err)
	}
}
