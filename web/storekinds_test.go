package web_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"soulbridge/internal/testimage"
	"soulbridge/kv"
	"soulbridge/web"
)

// TestStoreKindsCoverWhatTheSiteWrites: every key a site in use holds
// (accounts, sessions and their index, a preset and an uploaded avatar, its
// image and reference) is of a kind web.StoreKinds lists and passes its
// check, so a restore of a real backup is never refused by the list.
func TestStoreKindsCoverWhatTheSiteWrites(t *testing.T) {
	s := newSite(t, siteOptions{})
	alice := s.signup(t, "alice")
	bob := s.signup(t, "bob")
	s.login(t, "alice", nil)
	if res := s.do(t, req{method: "PUT", path: "/community/avatar", cookie: bob, body: `{"avatar":"owl"}`, header: map[string]string{"Content-Type": "application/json"}}); res.status != 200 {
		t.Fatalf("PUT avatar: %d %s", res.status, res.body)
	}
	if res := s.upload(t, alice, testimage.PNG(64, 64), "application/json"); res.status != 200 {
		t.Fatalf("upload: %d %s", res.status, res.body)
	}
	kinds := map[string]int{}
	err := s.store.Scan(context.Background(), kv.Range{}, func(key string, value []byte) error {
		k, owner, err := web.CheckStoreKey(key, value)
		if err != nil {
			t.Errorf("%s: %v", key, err)
			return nil
		}
		kinds[k.Name]++
		if k.Name != "uploaded image" && k.Name != "session index marker" && owner != "alice" && owner != "bob" {
			t.Errorf("%s: owner %q", key, owner)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"account", "session", "session index entry", "avatar", "uploaded image", "image reference"} {
		if kinds[want] == 0 {
			t.Errorf("no key of kind %q in a site in use (kinds seen: %v)", want, kinds)
		}
	}
}

// TestCheckStoreKeyRefuses: what a restore refuses (issue 16, row 5): names
// that break the username rules, session keys of the wrong form, records
// that do not decode or name another account, keys of no kind.
func TestCheckStoreKeyRefuses(t *testing.T) {
	hex64, hex32 := strings.Repeat("ab", 32), strings.Repeat("cd", 16)
	sess := `{"username":"alice","created_at":"2026-01-01T00:00:00Z","last_seen":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"}`
	good := []struct {
		key, value string
		tomb       bool
		owner      string
	}{
		{"user:alice", `{"username":"alice","password_hash":"x"}`, false, "alice"},
		{"user:alice", "", true, "alice"},
		{"user:a_b-c9", `{"username":"a_b-c9"}`, false, "a_b-c9"},
		{"session:" + hex64, sess, false, "alice"},
		{"session:" + hex64, "", true, ""},
		{"sessions-of:alice:" + hex32, hex64, false, "alice"},
		{"meta:session-index", "1", false, ""},
		{"avatar:alice", `{"username":"alice","avatar":"owl"}`, false, "alice"},
		{"image:" + hex64, "\x89PNG\r\n\x1a\n....", false, ""},
		{"imageref:" + hex64 + ":alice:0011223344556677", "2026-01-01T00:00:00Z", false, "alice"},
	}
	for _, g := range good {
		var v []byte
		if !g.tomb {
			v = []byte(g.value)
		}
		if _, owner, err := web.CheckStoreKey(g.key, v); err != nil || owner != g.owner {
			t.Errorf("CheckStoreKey(%q) = owner %q, %v; want %q, accepted", g.key, owner, err, g.owner)
		}
	}
	bad := []struct{ why, key, value string }{
		{"upper case name", "user:Alice", `{"username":"Alice"}`},
		{"name with a space", "user:al ice", `{"username":"al ice"}`},
		{"name too short", "user:al", `{"username":"al"}`},
		{"name with a colon", "user:al:ice", `{"username":"al:ice"}`},
		{"account record of another name", "user:alice", `{"username":"bob"}`},
		{"account record that does not decode", "user:alice", `not json`},
		{"session key upper case", "session:" + strings.ToUpper(hex64), sess},
		{"session key too short", "session:" + hex64[:63], sess},
		{"session key of a token, not its hash", "session:sometoken", sess},
		{"session naming a bad name", "session:" + hex64, `{"username":"Bad Name"}`},
		{"session record that does not decode", "session:" + hex64, `[]`},
		{"index entry of a bad public id", "sessions-of:alice:xyz", hex64},
		{"index entry of a bad name", "sessions-of:Bad Name:" + hex32, hex64},
		{"index entry not holding a record id", "sessions-of:alice:" + hex32, "bob"},
		{"avatar of a bad name", "avatar:Bad!", `{"avatar":"owl"}`},
		{"avatar record of another name", "avatar:alice", `{"username":"bob","avatar":"owl"}`},
		{"image that is no PNG", "image:" + hex64, "<svg/>"},
		{"image key not a hash", "image:x", "\x89PNG\r\n\x1a\n"},
		{"image reference of a bad name", "imageref:" + hex64 + ":A B:00", "t"},
		{"unknown meta key", "meta:other", "1"},
		{"unknown kind", "admin:alice", "1"},
		{"throttle counter (never in the store)", "throttle:ip:1.2.3.4", "1"},
	}
	for _, b := range bad {
		if _, _, err := web.CheckStoreKey(b.key, []byte(b.value)); !errors.Is(err, kv.ErrUnknownKey) {
			t.Errorf("%s: CheckStoreKey(%q) = %v, want refused", b.why, b.key, err)
		}
	}
}
