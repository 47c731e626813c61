package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"soulbridge/kv"
	"soulbridge/session"
)

// startAs logs username in and returns the session and its cookie.
func startAs(t *testing.T, m *session.Manager, username string) (*session.Session, *http.Cookie) {
	t.Helper()
	w := httptest.NewRecorder()
	s, err := m.Start(context.Background(), w, newRequest(http.MethodPost, plainHTTP), username, "203.0.113.7", "")
	if err != nil {
		t.Fatalf("Start %s: %v", username, err)
	}
	return s, w.Result().Cookies()[0]
}

func publicIDs(list []session.Info) []string {
	out := make([]string, len(list))
	for i, in := range list {
		out[i] = in.PublicID
	}
	return out
}

func listOf(t *testing.T, m *session.Manager, username string) []session.Info {
	t.Helper()
	list, err := m.List(context.Background(), username)
	if err != nil {
		t.Fatalf("List %s: %v", username, err)
	}
	return list
}

func TestListNewestActivityFirstAndPerUser(t *testing.T) {
	clk := newClock()
	store := openStore(t)
	m := newManager(t, store, clk)
	a1, c1 := startAs(t, m, "alice")
	clk.Advance(time.Minute)
	a2, _ := startAs(t, m, "alice")
	clk.Advance(time.Minute)
	b1, _ := startAs(t, m, "alice-b") // a name that extends alice's prefix
	list := listOf(t, m, "alice")
	if got, want := publicIDs(list), []string{a2.PublicID(), a1.PublicID()}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("List(alice) = %q, want %q (newest first, no alice-b)", got, want)
	}
	if list[0].IP != "203.0.113.7" || list[0].UserAgent != "session-test/1.0" || !list[0].CreatedAt.Equal(a2.CreatedAt) {
		t.Errorf("List entry = %+v, want the record's IP, user agent and created time", list[0])
	}
	if got := publicIDs(listOf(t, m, "alice-b")); len(got) != 1 || got[0] != b1.PublicID() {
		t.Fatalf("List(alice-b) = %q", got)
	}
	for _, in := range list {
		if in.PublicID == a1.ID || strings.Contains(a1.ID, in.PublicID) {
			t.Fatal("the public id reveals the record id")
		}
	}

	// A renewal (touch) makes a1 the most recently seen.
	clk.Advance(testTouch + time.Second)
	if out := serve(m, plainHTTP, c1); out.sess == nil {
		t.Fatal("a1 did not load")
	}
	if got := publicIDs(listOf(t, m, "alice")); got[0] != a1.PublicID() {
		t.Fatalf("after a1 was seen: List = %q, want a1 first", got)
	}
}

func TestEndByPublicID(t *testing.T) {
	clk := newClock()
	store := openStore(t)
	m := newManager(t, store, clk)
	ctx := context.Background()
	a1, c1 := startAs(t, m, "alice")
	a2, c2 := startAs(t, m, "alice")
	b1, cb := startAs(t, m, "bob")

	// Another user's id, an unknown id, the record id itself: all unknown.
	for _, id := range []string{b1.PublicID(), strings.Repeat("0", 32), a2.ID, "", "../x"} {
		if _, err := m.EndByPublicID(ctx, "alice", id); !errors.Is(err, session.ErrUnknownSession) {
			t.Errorf("EndByPublicID(alice, %q) = %v, want ErrUnknownSession", id, err)
		}
	}
	if _, _, err := load(m, cb); err != nil {
		t.Fatalf("bob's session was touched by alice's attempts: %v", err)
	}

	in, err := m.EndByPublicID(ctx, "alice", a2.PublicID())
	if err != nil || in.PublicID != a2.PublicID() {
		t.Fatalf("EndByPublicID(alice, a2) = %+v, %v", in, err)
	}
	if _, _, err := load(m, c2); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("ended session still loads: %v", err)
	}
	if _, _, err := load(m, c1); err != nil {
		t.Fatalf("the other session ended too: %v", err)
	}
	if got := publicIDs(listOf(t, m, "alice")); len(got) != 1 || got[0] != a1.PublicID() {
		t.Fatalf("List after ending a2 = %q", got)
	}
	if _, err := m.EndByPublicID(ctx, "alice", a2.PublicID()); !errors.Is(err, session.ErrUnknownSession) {
		t.Fatalf("ending a2 twice = %v, want ErrUnknownSession", err)
	}
	if _, err := store.Get(ctx, "sessions-of:alice:"+a2.PublicID()); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("index entry of an ended session: %v, want gone", err)
	}
}

func TestEndOthersAndEndAll(t *testing.T) {
	clk := newClock()
	store := openStore(t)
	m := newManager(t, store, clk)
	ctx := context.Background()
	keep, ck := startAs(t, m, "alice")
	var others []*http.Cookie
	for range 3 {
		_, c := startAs(t, m, "alice")
		others = append(others, c)
	}
	_, cb := startAs(t, m, "bob")
	n, err := m.EndOthers(ctx, "alice", keep.ID)
	if err != nil || n != 3 {
		t.Fatalf("EndOthers = %d, %v, want 3", n, err)
	}
	for i, c := range others {
		if _, _, err := load(m, c); !errors.Is(err, session.ErrNoSession) {
			t.Errorf("other session %d still loads: %v", i, err)
		}
	}
	if _, _, err := load(m, ck); err != nil {
		t.Fatalf("the kept session ended: %v", err)
	}
	if got := publicIDs(listOf(t, m, "alice")); len(got) != 1 || got[0] != keep.PublicID() {
		t.Fatalf("List after EndOthers = %q", got)
	}

	n, err = m.EndAll(ctx, "alice")
	if err != nil || n != 1 {
		t.Fatalf("EndAll = %d, %v, want 1", n, err)
	}
	if _, _, err := load(m, ck); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("session still loads after EndAll: %v", err)
	}
	if _, _, err := load(m, cb); err != nil {
		t.Fatalf("bob's session ended with alice's: %v", err)
	}
	err = store.Scan(ctx, kv.Range{}, func(k string, v []byte) error {
		if strings.Contains(k, "alice") || strings.Contains(string(v), "alice") {
			t.Errorf("after EndAll the store still holds %s = %.80s", k, v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLogOutRemovesIndexEntry(t *testing.T) {
	clk := newClock()
	store := openStore(t)
	m := newManager(t, store, clk)
	s, c := startAs(t, m, "alice")
	w := httptest.NewRecorder()
	if err := m.End(context.Background(), w, newRequest(http.MethodPost, plainHTTP, c)); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(context.Background(), "sessions-of:alice:"+s.PublicID()); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("index entry after log-out: %v, want gone", err)
	}
}

func TestListSkipsAndCleansStaleEntries(t *testing.T) {
	clk := newClock()
	store := openStore(t)
	m := newManager(t, store, clk)
	ctx := context.Background()
	gone, _ := startAs(t, m, "alice")
	idle, _ := startAs(t, m, "alice")
	live, _ := startAs(t, m, "alice")
	// One record deleted behind the index's back (as a release before the
	// index would on log-out), one idle past its lifetime while another
	// stays fresh.
	if err := store.Delete(ctx, session.KeyPrefix+gone.ID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(testIdle - time.Minute)
	rec := live.Record
	rec.LastSeen = clk.Now()
	b, _ := json.Marshal(rec)
	if err := store.Set(ctx, session.KeyPrefix+live.ID, b, testIdle); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	if got := publicIDs(listOf(t, m, "alice")); len(got) != 1 || got[0] != live.PublicID() {
		t.Fatalf("List = %q, want only the live session", got)
	}
	// The idle one's record is there and grants nothing: its entry goes.
	if _, err := store.Get(ctx, "sessions-of:alice:"+idle.PublicID()); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("stale index entry kept: %v", err)
	}
	// An entry without a record is kept: Start writes the entry first, so
	// it may be a session being made (and deletes of entries are final),
	// or, with the mirror down, a session on another instance that this
	// entry lets this one end. The next end of all the user's sessions
	// takes it.
	if _, err := store.Get(ctx, "sessions-of:alice:"+gone.PublicID()); err != nil {
		t.Errorf("the entry of a record not here was removed: %v", err)
	}
	if _, err := m.EndOthers(ctx, "alice", live.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(ctx, "sessions-of:alice:"+gone.PublicID()); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("EndOthers left the entry of a record not here: %v", err)
	}
}

func TestCapEndsLeastRecentlySeen(t *testing.T) {
	clk := newClock()
	store := openStore(t)
	m := newManager(t, store, clk)
	ctx := context.Background()
	var all []*session.Session
	for range session.MaxPerUser {
		s, _ := startAs(t, m, "alice")
		all = append(all, s)
		clk.Advance(time.Second)
	}
	// The oldest log-in was seen most recently: the second oldest is now
	// the least recently seen.
	rec := all[0].Record
	rec.LastSeen = clk.Now()
	b, _ := json.Marshal(rec)
	if err := store.Set(ctx, session.KeyPrefix+all[0].ID, b, testIdle); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	newest, _ := startAs(t, m, "alice")
	list := listOf(t, m, "alice")
	if len(list) != session.MaxPerUser {
		t.Fatalf("%d sessions after %d log-ins, want the cap %d", len(list), session.MaxPerUser+1, session.MaxPerUser)
	}
	ids := map[string]bool{}
	for _, in := range list {
		ids[in.PublicID] = true
	}
	if ids[all[1].PublicID()] {
		t.Error("the least recently seen session survived the cap")
	}
	if !ids[all[0].PublicID()] || !ids[newest.PublicID()] {
		t.Error("the cap ended a recently seen session or the new one")
	}
	if _, err := store.Get(ctx, session.KeyPrefix+all[1].ID); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("the capped session's record: %v, want deleted", err)
	}
}

func TestRotate(t *testing.T) {
	clk := newClock()
	store := openStore(t)
	m := newManager(t, store, clk)
	s, old := startAs(t, m, "alice")
	oldID, oldPublic, created := s.ID, s.PublicID(), s.CreatedAt
	clk.Advance(time.Minute)
	w := httptest.NewRecorder()
	if err := m.Rotate(context.Background(), w, newRequest(http.MethodPost, plainHTTP, old), s, "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if s.ID == oldID || s.PublicID() == oldPublic || !s.CreatedAt.Equal(created) || s.Username != "alice" {
		t.Fatalf("after Rotate: %+v", s)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 || cs[0].Value == old.Value || cs[0].MaxAge <= 0 {
		t.Fatalf("Rotate cookies = %v", w.Header().Values("Set-Cookie"))
	}
	if _, _, err := load(m, old); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("old cookie after Rotate: %v, want ErrNoSession", err)
	}
	got, _, err := load(m, cs[0])
	if err != nil || got.ID != s.ID {
		t.Fatalf("new cookie after Rotate: %v", err)
	}
	if ids := publicIDs(listOf(t, m, "alice")); len(ids) != 1 || ids[0] != s.PublicID() {
		t.Fatalf("List after Rotate = %q, want only the new id", ids)
	}
}

// TestEnsureIndexFindsSessionsFromBefore: records written by a release
// before the index (no index entries) show in List once the start-up
// build has run; the marker makes the next start one read.
func TestEnsureIndexFindsSessionsFromBefore(t *testing.T) {
	clk := newClock()
	store := &countingStore{Badger: openStore(t)}
	m := newManager(t, store, clk)
	ctx := context.Background()
	now := clk.Now()
	var want []string
	for i, name := range []string{"alice", "alice", "bob"} {
		rec := session.Record{Username: name, CreatedAt: now, LastSeen: now.Add(time.Duration(i) * time.Second),
			ExpiresAt: now.Add(testMax), UserAgent: "old", IP: "198.51.100.1", UpdatedAt: now}
		b, _ := json.Marshal(rec)
		id := strings.Repeat(string(rune('a'+i)), 64)
		if err := store.Set(ctx, session.KeyPrefix+id, b, testIdle); err != nil {
			t.Fatal(err)
		}
		if name == "alice" {
			want = append([]string{session.PublicIDOf(id)}, want...)
		}
	}
	// An expired record and garbage are skipped.
	old, _ := json.Marshal(session.Record{Username: "carol", CreatedAt: now.Add(-testMax), LastSeen: now.Add(-testMax), ExpiresAt: now.Add(-time.Second)})
	_ = store.Set(ctx, session.KeyPrefix+strings.Repeat("e", 64), old, time.Hour)
	_ = store.Set(ctx, session.KeyPrefix+strings.Repeat("f", 64), []byte("{not json"), time.Hour)

	if got := listOf(t, m, "alice"); len(got) != 0 {
		t.Fatalf("before the build List = %d entries, want 0", len(got))
	}
	n, err := m.EnsureIndex(ctx)
	if err != nil || n != 3 {
		t.Fatalf("EnsureIndex = %d, %v, want 3", n, err)
	}
	if got := publicIDs(listOf(t, m, "alice")); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("List(alice) = %q, want %q", got, want)
	}
	if got := listOf(t, m, "carol"); len(got) != 0 {
		t.Fatalf("an expired session was indexed: %v", got)
	}
	// Built: the next start reads the marker and writes nothing.
	store.sets.Store(0)
	if n, err := m.EnsureIndex(ctx); err != nil || n != 0 || store.sets.Load() != 0 {
		t.Fatalf("second EnsureIndex = %d, %v, %d writes; want 0, nil, 0", n, err, store.sets.Load())
	}
	// And a pre-existing session can be ended like a new one.
	if _, err := m.EndByPublicID(ctx, "alice", want[0]); err != nil {
		t.Fatalf("ending a pre-existing session: %v", err)
	}
}

// TestEnsureIndexSkipsIndexedSessions: a store whose sessions were all
// started by this release but which has no marker yet (its first start was
// on an empty store, which writes none) is not indexed again: the next
// start writes only the marker, however many sessions there are.
func TestEnsureIndexSkipsIndexedSessions(t *testing.T) {
	store := &countingStore{Badger: openStore(t)}
	m := newManager(t, store, newClock())
	ctx := context.Background()
	if n, err := m.EnsureIndex(ctx); err != nil || n != 0 {
		t.Fatalf("EnsureIndex on an empty store = %d, %v", n, err)
	}
	for _, name := range []string{"alice", "alice", "bob"} {
		startAs(t, m, name)
	}
	store.sets.Store(0)
	n, err := m.EnsureIndex(ctx)
	if err != nil || n != 0 {
		t.Fatalf("EnsureIndex over indexed sessions = %d, %v, want 0", n, err)
	}
	if got := store.sets.Load(); got != 1 {
		t.Fatalf("EnsureIndex over indexed sessions made %d writes, want 1 (the marker)", got)
	}
	if got := listOf(t, m, "alice"); len(got) != 2 {
		t.Fatalf("List(alice) = %d sessions, want 2", len(got))
	}
}

// TestEnsureIndexLeavesRecordsOfThisRelease (issue 18 row 11): a record
// carrying an account generation was made by a release that writes the
// index entry before the record, so one found here without its entry is
// not "from before the index": it is a copy the Redis mirror kept of a
// session made on another instance (its entry is in Redis and is copied
// when the mirror comes up), or a session that grants nothing whose stale
// entry List removed. The start-up build neither counts nor indexes it (a
// data dir made by this release logged "built the per-user session index
// for sessions from before it"); only the record without a generation, from
// before the index, is indexed and counted.
func TestEnsureIndexLeavesRecordsOfThisRelease(t *testing.T) {
	clk := newClock()
	store := openStore(t)
	m := newManager(t, store, clk)
	ctx := context.Background()
	startAs(t, m, "alice") // indexed, so the store is not one from before the index
	now := clk.Now()
	for i, gen := range []string{"gen-of-bob", ""} {
		rec := session.Record{Username: "bob", CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(testMax),
			UpdatedAt: now, Generation: gen}
		b, _ := json.Marshal(rec)
		if err := store.Set(ctx, session.KeyPrefix+strings.Repeat(string(rune('c'+i)), 64), b, testIdle); err != nil {
			t.Fatal(err)
		}
	}
	n, err := m.EnsureIndex(ctx)
	if err != nil || n != 1 {
		t.Fatalf("EnsureIndex = %d, %v; want 1 (only the record without a generation)", n, err)
	}
	var entries []string
	_ = store.Scan(ctx, kv.Range{Prefix: session.IndexPrefix + "bob:"}, func(_ string, v []byte) error {
		entries = append(entries, string(v))
		return nil
	})
	if len(entries) != 1 || entries[0] != strings.Repeat("d", 64) {
		t.Fatalf("bob's index entries name %q, want only the record from before the index", entries)
	}
}

// An empty store stays empty: no marker (a live restore needs an empty
// store), and the next start simply scans nothing again.
func TestEnsureIndexLeavesAnEmptyStoreEmpty(t *testing.T) {
	store := openStore(t)
	m := newManager(t, store, newClock())
	for range 2 {
		if n, err := m.EnsureIndex(context.Background()); err != nil || n != 0 {
			t.Fatalf("EnsureIndex on an empty store = %d, %v", n, err)
		}
	}
	err := store.Scan(context.Background(), kv.Range{}, func(k string, _ []byte) error {
		t.Errorf("EnsureIndex wrote %s into an empty store", k)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// failingIndexStore is the real store refusing index writes while fail is
// set, as a full volume would.
type failingIndexStore struct {
	*kv.Badger
	fail bool
}

func (s *failingIndexStore) SetMany(ctx context.Context, entries []kv.Entry) error {
	for _, e := range entries {
		if s.fail && strings.HasPrefix(e.Key, session.IndexPrefix) {
			return kv.ErrFull
		}
	}
	return s.Badger.SetMany(ctx, entries)
}

func (s *failingIndexStore) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if s.fail && strings.HasPrefix(key, session.IndexPrefix) {
		return kv.ErrFull
	}
	return s.Badger.Set(ctx, key, val, ttl)
}

// A build that fails writes no marker, so the next start builds again;
// over a store that writes in bulk (kv.Badger) and over one that writes
// entry by entry (as the Redis mirror does).
func TestEnsureIndexRetriesAfterAFailure(t *testing.T) {
	for _, bulk := range []bool{true, false} {
		t.Run(map[bool]string{true: "bulk", false: "one by one"}[bulk], func(t *testing.T) {
			ctx := context.Background()
			store := &failingIndexStore{Badger: openStore(t)}
			var over session.Store = store
			if !bulk {
				over = oneByOne{store}
			}
			clk := newClock()
			m := newManager(t, over, clk)
			now := clk.Now()
			for i := range 100 {
				b, _ := json.Marshal(session.Record{Username: "alice", CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(testMax)})
				if err := store.Badger.Set(ctx, session.KeyPrefix+strings.Repeat(string(rune('0'+i%10)), 60)+strings.Repeat(string(rune('a'+i/10)), 4), b, testIdle); err != nil {
					t.Fatal(err)
				}
			}
			store.fail = true
			if _, err := m.EnsureIndex(ctx); !errors.Is(err, kv.ErrFull) {
				t.Fatalf("EnsureIndex with index writes refused = %v, want ErrFull", err)
			}
			store.fail = false
			if n, err := m.EnsureIndex(ctx); err != nil || n != 100 {
				t.Fatalf("EnsureIndex after the failure = %d, %v, want 100 (no marker was written)", n, err)
			}
			if got := listOf(t, m, "alice"); len(got) != 100 {
				t.Fatalf("List = %d sessions, want 100", len(got))
			}
		})
	}
}

// oneByOne hides a store's SetMany: EnsureIndex then writes entry by
// entry, as over the Redis mirror.
type oneByOne struct{ session.Store }

// A log-in over the cap by more than one (sessions from before the index,
// indexed at start-up) ends every session beyond it, least recently seen
// first, and never the new one.
func TestCapEndsEveryOneBeyondIt(t *testing.T) {
	clk := newClock()
	store := openStore(t)
	m := newManager(t, store, clk)
	ctx := context.Background()
	const before = session.MaxPerUser + 5
	var ids []string // least recently seen first
	for i := range before {
		now := clk.Now()
		rec := session.Record{Username: "alice", CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(testMax), UpdatedAt: now}
		b, _ := json.Marshal(rec)
		id := fmt.Sprintf("%064x", i+1)
		if err := store.Set(ctx, session.KeyPrefix+id, b, testIdle); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		clk.Advance(time.Second)
	}
	if n, err := m.EnsureIndex(ctx); err != nil || n != before {
		t.Fatalf("EnsureIndex = %d, %v, want %d", n, err, before)
	}
	newest, _ := startAs(t, m, "alice")
	list := listOf(t, m, "alice")
	if len(list) != session.MaxPerUser {
		t.Fatalf("%d sessions after a log-in over the cap, want %d", len(list), session.MaxPerUser)
	}
	kept := map[string]bool{}
	for _, in := range list {
		kept[in.PublicID] = true
	}
	if !kept[newest.PublicID()] {
		t.Fatal("the cap ended the new session")
	}
	for i, id := range ids {
		if want := i >= before-session.MaxPerUser+1; kept[session.PublicIDOf(id)] != want {
			t.Errorf("session %d of %d (least recently seen first): kept %v, want %v", i+1, before, !want, want)
		}
	}
}

// bulkCounter counts the SetMany calls of the start-up index build.
type bulkCounter struct {
	*kv.Badger
	calls, entries int
}

func (s *bulkCounter) SetMany(ctx context.Context, entries []kv.Entry) error {
	s.calls++
	s.entries += len(entries)
	return s.Badger.SetMany(ctx, entries)
}

// The bulk build writes in chunks of 4,096 entries: exactly one call for
// 4,096 sessions, two for 4,097, never an empty one.
func TestEnsureIndexWritesInChunks(t *testing.T) {
	for _, tc := range []struct{ sessions, calls int }{{4096, 1}, {4097, 2}} {
		t.Run(strconv.Itoa(tc.sessions), func(t *testing.T) {
			clk := newClock()
			store := &bulkCounter{Badger: openStore(t)}
			m := newManager(t, store, clk)
			ctx := context.Background()
			now := clk.Now()
			b, _ := json.Marshal(session.Record{Username: "bulk", CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(testMax)})
			seed := make([]kv.Entry, tc.sessions)
			for i := range seed {
				seed[i] = kv.Entry{Key: fmt.Sprintf("%s%064x", session.KeyPrefix, i), Val: b, TTL: testIdle}
			}
			if err := store.Badger.SetMany(ctx, seed); err != nil {
				t.Fatal(err)
			}
			n, err := m.EnsureIndex(ctx)
			if err != nil || n != tc.sessions {
				t.Fatalf("EnsureIndex = %d, %v, want %d", n, err, tc.sessions)
			}
			if store.calls != tc.calls || store.entries != tc.sessions {
				t.Fatalf("%d SetMany calls for %d entries, want %d for %d", store.calls, store.entries, tc.calls, tc.sessions)
			}
		})
	}
}
