// Package kvtest is the shared contract suite for kv.Store implementations:
// every rule in kv.Store's doc comment, checked against a real store. Each
// implementation's own tests call Run with a function that opens a fresh,
// empty store.
package kvtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"soulbridge/internal/testwait"
	"soulbridge/kv"
)

// Open returns a fresh, empty store; it registers its own cleanup.
type Open func(t *testing.T) kv.Store

// Run checks the kv.Store contract against stores from open.
func Run(t *testing.T, open Open) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s kv.Store)
	}{
		{"GetMissing", testGetMissing},
		{"SetReplaces", testSetReplaces},
		{"ValuesAreCopies", testValuesAreCopies},
		{"GetMany", testGetMany},
		{"CreateOnce", testCreateOnce},
		{"CreateConcurrent", testCreateConcurrent},
		{"CreateAfterDelete", testCreateAfterDelete},
		{"RenewOnlyLive", testRenewOnlyLive},
		{"ReplaceOnlyWhatWasRead", testReplaceOnlyWhatWasRead},
		{"ReplaceConcurrent", testReplaceConcurrent},
		{"DeleteMissing", testDeleteMissing},
		{"ScanOrderAndPrefix", testScanOrderAndPrefix},
		{"ScanPages", testScanPages},
		{"ScanReverse", testScanReverse},
		{"ScanStopsOnError", testScanStopsOnError},
		{"ScanSkipsDeleted", testScanSkipsDeleted},
		{"TTL", testTTL},
		{"PingAndCloseTwice", testPingAndCloseTwice},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // each case has its own store; TTL waits overlap
			c.fn(t, open(t))
		})
	}
}

var ctx = context.Background()

func mustSet(t *testing.T, s kv.Store, key, val string, ttl time.Duration) {
	t.Helper()
	if err := s.Set(ctx, key, []byte(val), ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func wantValue(t *testing.T, s kv.Store, key, want string) {
	t.Helper()
	got, err := s.Get(ctx, key)
	if err != nil || string(got) != want {
		t.Fatalf("Get(%q) = %q, %v; want %q", key, got, err, want)
	}
}

func wantNotFound(t *testing.T, s kv.Store, key string) {
	t.Helper()
	if got, err := s.Get(ctx, key); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, got, err)
	}
}

// scanAll returns "key=value" for every key Scan reports in r.
func scanAll(t *testing.T, s kv.Store, r kv.Range) []string {
	t.Helper()
	var got []string
	err := s.Scan(ctx, r, func(k string, v []byte) error {
		got = append(got, k+"="+string(v))
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%+v): %v", r, err)
	}
	return got
}

func testGetMissing(t *testing.T, s kv.Store) {
	wantNotFound(t, s, "user:nobody")
	if _, err := s.Get(ctx, "user:nobody"); errors.Is(err, kv.ErrExists) {
		t.Fatalf("a missing key's error also matches ErrExists: %v", err)
	}
}

func testSetReplaces(t *testing.T, s kv.Store) {
	mustSet(t, s, "a:1", "one", 0)
	mustSet(t, s, "a:1", "two", 0)
	wantValue(t, s, "a:1", "two")
	mustSet(t, s, "a:empty", "", 0)
	wantValue(t, s, "a:empty", "")
}

func testValuesAreCopies(t *testing.T, s kv.Store) {
	in := []byte("value")
	if err := s.Set(ctx, "a:1", in, 0); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X'
	got, _ := s.Get(ctx, "a:1")
	got[1] = 'Y'
	wantValue(t, s, "a:1", "value")
}

func testGetMany(t *testing.T, s kv.Store) {
	mustSet(t, s, "a:1", "one", 0)
	mustSet(t, s, "a:3", "three", 0)
	got, err := s.GetMany(ctx, []string{"a:3", "a:2", "a:1", "a:3"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"three", "", "one", "three"}
	if len(got) != len(want) {
		t.Fatalf("GetMany returned %d values, want %d", len(got), len(want))
	}
	for i := range want {
		if string(got[i]) != want[i] || (want[i] == "" && got[i] != nil) {
			t.Fatalf("GetMany[%d] = %q (nil %v), want %q", i, got[i], got[i] == nil, want[i])
		}
	}
	if got, err := s.GetMany(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("GetMany(nil) = %v, %v", got, err)
	}
}

func testCreateOnce(t *testing.T, s kv.Store) {
	if err := s.Create(ctx, "user:a", []byte("first"), 0); err != nil {
		t.Fatalf("first Create: %v", err)
	}
	if err := s.Create(ctx, "user:a", []byte("second"), 0); !errors.Is(err, kv.ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	wantValue(t, s, "user:a", "first")
}

func testCreateConcurrent(t *testing.T, s kv.Store) {
	var wins, exists atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			err := s.Create(ctx, "user:race", fmt.Appendf(nil, "%d", i), 0)
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, kv.ErrExists):
				exists.Add(1)
			default:
				t.Errorf("Create: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || exists.Load() != 15 {
		t.Fatalf("16 concurrent Creates: %d won, %d ErrExists; want 1 and 15", wins.Load(), exists.Load())
	}
}

func testCreateAfterDelete(t *testing.T, s kv.Store) {
	if err := s.Create(ctx, "user:a", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "user:a"); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, s, "user:a")
	if err := s.Create(ctx, "user:a", []byte("2"), 0); err != nil {
		t.Fatalf("Create after Delete: %v", err)
	}
	wantValue(t, s, "user:a", "2")
}

// testRenewOnlyLive: Renew replaces a live value (with its new TTL) and
// never creates a key, whether it never existed or was deleted.
func testRenewOnlyLive(t *testing.T, s kv.Store) {
	if err := s.Renew(ctx, "session:never", []byte("x"), time.Hour); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Renew of a missing key: %v, want ErrNotFound", err)
	}
	wantNotFound(t, s, "session:never")
	mustSet(t, s, "session:a", "1", time.Hour)
	if err := s.Renew(ctx, "session:a", []byte("2"), time.Hour); err != nil {
		t.Fatalf("Renew of a live key: %v", err)
	}
	wantValue(t, s, "session:a", "2")
	if err := s.Delete(ctx, "session:a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Renew(ctx, "session:a", []byte("3"), time.Hour); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Renew of a deleted key: %v, want ErrNotFound", err)
	}
	wantNotFound(t, s, "session:a")
	mustSet(t, s, "a:plain", "1", 0)
	if err := s.Delete(ctx, "a:plain"); err != nil {
		t.Fatal(err)
	}
	if err := s.Renew(ctx, "a:plain", []byte("2"), 0); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Renew of a deleted key outside the session prefixes: %v, want ErrNotFound", err)
	}
	wantNotFound(t, s, "a:plain")
}

// testReplaceOnlyWhatWasRead: Replace writes only over the live value the
// caller read: never over another value, a missing or a deleted key.
func testReplaceOnlyWhatWasRead(t *testing.T, s kv.Store) {
	if err := s.Replace(ctx, "user:never", []byte("a"), []byte("b"), 0); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Replace of a missing key: %v, want ErrNotFound", err)
	}
	wantNotFound(t, s, "user:never")
	mustSet(t, s, "user:a", "1", 0)
	if err := s.Replace(ctx, "user:a", []byte("1"), []byte("2"), 0); err != nil {
		t.Fatalf("Replace of the value read: %v", err)
	}
	wantValue(t, s, "user:a", "2")
	if err := s.Replace(ctx, "user:a", []byte("1"), []byte("3"), 0); !errors.Is(err, kv.ErrChanged) {
		t.Fatalf("Replace of a value changed since it was read: %v, want ErrChanged", err)
	}
	wantValue(t, s, "user:a", "2")
	if err := s.Delete(ctx, "user:a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Replace(ctx, "user:a", []byte("2"), []byte("4"), 0); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Replace of a deleted key: %v, want ErrNotFound", err)
	}
	wantNotFound(t, s, "user:a")
	mustSet(t, s, "session:t", "x", time.Hour)
	if err := s.Replace(ctx, "session:t", []byte("x"), []byte("y"), time.Hour); err != nil {
		t.Fatalf("Replace with a TTL: %v", err)
	}
	wantValue(t, s, "session:t", "y")
}

// testReplaceConcurrent: of read-modify-writes racing from one read,
// exactly one lands.
func testReplaceConcurrent(t *testing.T, s kv.Store) {
	mustSet(t, s, "user:race", "0", 0)
	var wins, changed atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			err := s.Replace(ctx, "user:race", []byte("0"), fmt.Appendf(nil, "%d", i+1), 0)
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, kv.ErrChanged):
				changed.Add(1)
			default:
				t.Errorf("Replace: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || changed.Load() != 15 {
		t.Fatalf("16 concurrent Replaces of one read: %d won, %d ErrChanged; want 1 and 15", wins.Load(), changed.Load())
	}
}

func testDeleteMissing(t *testing.T, s kv.Store) {
	if err := s.Delete(ctx, "a:never"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	mustSet(t, s, "a:1", "x", 0)
	for range 2 {
		if err := s.Delete(ctx, "a:1"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	wantNotFound(t, s, "a:1")
}

func testScanOrderAndPrefix(t *testing.T, s kv.Store) {
	for _, k := range []string{"user:carol", "user:alice", "avatar:alice", "user:bob", "userx:zed", "use"} {
		mustSet(t, s, k, "v-"+k, 0)
	}
	got := scanAll(t, s, kv.Range{Prefix: "user:"})
	want := []string{"user:alice=v-user:alice", "user:bob=v-user:bob", "user:carol=v-user:carol"}
	if !slices.Equal(got, want) {
		t.Fatalf("Scan(user:) = %q, want %q", got, want)
	}
	if got := scanAll(t, s, kv.Range{Prefix: "nothing:"}); len(got) != 0 {
		t.Fatalf("Scan of an empty prefix = %q", got)
	}
}

func testScanPages(t *testing.T, s kv.Store) {
	var all []string
	for i := range 25 {
		k := fmt.Sprintf("user:%03d", i)
		mustSet(t, s, k, "v", 0)
		all = append(all, k)
	}
	mustSet(t, s, "v:000", "other prefix", 0)

	var seen []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		var page []string
		err := s.Scan(ctx, kv.Range{Prefix: "user:", After: after, Limit: 10}, func(k string, _ []byte) error {
			page = append(page, k)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 10 {
			t.Fatalf("a page of Limit 10 had %d keys", len(page))
		}
		if len(page) == 0 {
			break
		}
		seen = append(seen, page...)
		after = page[len(page)-1]
	}
	if !slices.Equal(seen, all) {
		t.Fatalf("paging saw %q, want %q", seen, all)
	}
	// After a key that does not exist: starts at the next one.
	got := scanAll(t, s, kv.Range{Prefix: "user:", After: "user:0105", Limit: 2})
	if want := []string{"user:011=v", "user:012=v"}; !slices.Equal(got, want) {
		t.Fatalf("Scan after a missing key = %q, want %q", got, want)
	}
	// After the last key: nothing.
	if got := scanAll(t, s, kv.Range{Prefix: "user:", After: "user:024"}); len(got) != 0 {
		t.Fatalf("Scan after the last key = %q", got)
	}
}

func testScanReverse(t *testing.T, s kv.Store) {
	var all []string
	for i := range 25 {
		k := fmt.Sprintf("user:%03d", i)
		mustSet(t, s, k, "v", 0)
		all = append(all, k)
	}
	mustSet(t, s, "user:007", "replaced", 0)
	mustSet(t, s, "usa:999", "other prefix, before", 0)
	mustSet(t, s, "uses:000", "other prefix, after", 0)
	if err := s.Delete(ctx, "user:020"); err != nil {
		t.Fatal(err)
	}
	all = slices.Delete(all, 20, 21)
	slices.Reverse(all)

	var seen []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("reverse paging does not end")
		}
		var page []string
		err := s.Scan(ctx, kv.Range{Prefix: "user:", After: after, Limit: 10, Reverse: true}, func(k string, _ []byte) error {
			page = append(page, k)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 10 {
			t.Fatalf("a page of Limit 10 had %d keys", len(page))
		}
		if len(page) == 0 {
			break
		}
		seen = append(seen, page...)
		after = page[len(page)-1]
	}
	if !slices.Equal(seen, all) {
		t.Fatalf("reverse paging saw %q, want %q", seen, all)
	}
	// Before a key that does not exist: starts at the one below it.
	got := scanAll(t, s, kv.Range{Prefix: "user:", After: "user:0075", Limit: 2, Reverse: true})
	if want := []string{"user:007=replaced", "user:006=v"}; !slices.Equal(got, want) {
		t.Fatalf("reverse Scan before a missing key = %q, want %q", got, want)
	}
	// Before the first key: nothing; from past the prefix: from the last.
	if got := scanAll(t, s, kv.Range{Prefix: "user:", After: "user:000", Reverse: true}); len(got) != 0 {
		t.Fatalf("reverse Scan before the first key = %q", got)
	}
	if got := scanAll(t, s, kv.Range{Prefix: "user:", After: "user;", Limit: 1, Reverse: true}); !slices.Equal(got, []string{"user:024=v"}) {
		t.Fatalf("reverse Scan from past the prefix = %q, want [user:024=v]", got)
	}
	// More keys than an implementation may fetch in one round trip.
	var many []string
	for i := range 600 {
		k := fmt.Sprintf("many:%04d", i)
		mustSet(t, s, k, "m", 0)
		many = append(many, k+"=m")
	}
	slices.Reverse(many)
	if got := scanAll(t, s, kv.Range{Prefix: "many:", Reverse: true}); !slices.Equal(got, many) {
		t.Fatalf("reverse Scan of 600 keys saw %d keys, from %q", len(got), got[:min(3, len(got))])
	}
	if got := scanAll(t, s, kv.Range{Prefix: "many:", After: "many:0550", Limit: 300, Reverse: true}); !slices.Equal(got, many[50:350]) {
		t.Fatalf("reverse Scan of 300 before many:0550 saw %d keys, from %q", len(got), got[:min(3, len(got))])
	}
}

func testScanStopsOnError(t *testing.T, s kv.Store) {
	for i := range 5 {
		mustSet(t, s, fmt.Sprintf("a:%d", i), "v", 0)
	}
	stop := errors.New("stop")
	calls := 0
	err := s.Scan(ctx, kv.Range{Prefix: "a:"}, func(string, []byte) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Fatalf("Scan returned %v after %d calls; want fn's error after 2", err, calls)
	}
}

func testScanSkipsDeleted(t *testing.T, s kv.Store) {
	mustSet(t, s, "a:1", "x", 0)
	mustSet(t, s, "a:2", "y", 0)
	if err := s.Delete(ctx, "a:1"); err != nil {
		t.Fatal(err)
	}
	if got := scanAll(t, s, kv.Range{Prefix: "a:"}); !slices.Equal(got, []string{"a:2=y"}) {
		t.Fatalf("Scan after Delete = %q", got)
	}
	if got, _ := s.GetMany(ctx, []string{"a:1"}); got[0] != nil {
		t.Fatalf("GetMany of a deleted key = %q", got[0])
	}
}

func testTTL(t *testing.T, s kv.Store) {
	if testing.Short() {
		t.Skip("waits 3 s for TTLs to pass: skipped by -short")
	}
	// Two seconds, not one: four fsynced writes on a loaded machine have
	// taken over a second, and "a:short" must still be there when read.
	const short = 2 * time.Second
	mustSet(t, s, "a:short", "x", short)
	mustSet(t, s, "a:zero", "x", 0)
	mustSet(t, s, "a:negative", "x", -time.Second)
	if err := s.Create(ctx, "a:created", []byte("x"), short); err != nil {
		t.Fatal(err)
	}
	written := time.Now()
	wantValue(t, s, "a:short", "x")
	// TTLs may be kept in whole seconds: wait past the next second boundary.
	time.Sleep(time.Until(written.Add(short + 1100*time.Millisecond)))
	wantNotFound(t, s, "a:short")
	wantNotFound(t, s, "a:created")
	wantValue(t, s, "a:zero", "x")
	wantValue(t, s, "a:negative", "x")
	if got := scanAll(t, s, kv.Range{Prefix: "a:"}); !slices.Equal(got, []string{"a:negative=x", "a:zero=x"}) {
		t.Fatalf("Scan after expiry = %q", got)
	}
	if err := s.Create(ctx, "a:created", []byte("again"), 0); err != nil {
		t.Fatalf("Create over an expired key: %v", err)
	}
}

func testPingAndCloseTwice(t *testing.T, s kv.Store) {
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
}

// Memory opens an in-memory Badger with the key prefix "t:", closed when
// the test ends: the store the unit tests of the domain packages run on.
func Memory(t testing.TB) *kv.Badger {
	t.Helper()
	b, err := kv.Open(context.Background(), kv.Options{InMemory: true, Prefix: "t:"})
	if err != nil {
		t.Fatalf("kv.Open (memory): %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// Dir opens (or reopens) a Badger in dir with the key prefix "t:". The
// caller closes it: tests that reopen a store close it themselves.
func Dir(t testing.TB, dir string) *kv.Badger {
	t.Helper()
	b, err := kv.Open(context.Background(), kv.Options{Dir: dir, Prefix: "t:", LockTimeout: time.Second})
	if err != nil {
		t.Fatalf("kv.Open(%s): %v", dir, err)
	}
	return b
}

// Mirror opens a Redis mirror (opts.URL) over a fresh Badger in a temp dir
// with the key prefix prefix, closed when the test ends, and waits until
// it serves from Redis.
func Mirror(t testing.TB, prefix string, opts kv.MirrorOptions) *kv.Mirror {
	t.Helper()
	b, err := kv.Open(context.Background(), kv.Options{Dir: t.TempDir(), Prefix: prefix, LockTimeout: time.Second})
	if err != nil {
		t.Fatalf("kv.Open: %v", err)
	}
	m, err := kv.OpenMirror(b, opts)
	if err != nil {
		b.Close()
		t.Fatalf("kv.OpenMirror: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	testwait.Until(t, 5*time.Second, "the mirror up", func() bool { return m.Status() == "ok" })
	return m
}
