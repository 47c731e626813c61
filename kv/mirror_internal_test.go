package kv

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"soulbridge/internal/testredis"
	"soulbridge/internal/testwait"
)

// mirrorOn opens a Mirror (prefix "t:") over a Badger in dir, waiting until
// it serves from Redis. (kvtest.Mirror is the same for other packages; it
// cannot be imported here.)
func mirrorOn(t *testing.T, dir string, opts MirrorOptions) *Mirror {
	t.Helper()
	b, err := Open(context.Background(), Options{Dir: dir, Prefix: "t:", LockTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m, err := OpenMirror(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	testwait.Until(t, 5*time.Second, "mirror up", func() bool { return m.up() })
	return m
}

func rawRedis(t *testing.T, srv *testredis.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

func version(us int64, id string) string { return fmt.Sprintf("%0*d%s", tsDigits, us, id) }

// TestPutScriptVersions pins the conflict rules in Redis: a replay (sync)
// never overwrites a newer record, a live write always lands with a version
// past the stored one, a create refuses a live value but not a tombstone,
// and a delete keeps the record's expiry.
func TestPutScriptVersions(t *testing.T) {
	srv := testredis.Start(t)
	m := mirrorOn(t, t.TempDir(), MirrorOptions{URL: srv.URL(), Persistent: true})
	ctx := context.Background()
	rc := rawRedis(t, srv)
	get := func(key string) record {
		t.Helper()
		raw, err := rc.Get(ctx, "t:"+key).Bytes()
		if err != nil {
			t.Fatalf("redis GET %s: %v", key, err)
		}
		return decodeRecord(raw)
	}
	const idA, idB = "aaaaaaaaaaaa", "bbbbbbbbbbbb"
	newer := encodeRecord(version(2000, idB), false, 0, []byte("newer"))
	older := encodeRecord(version(1000, idA), false, 0, []byte("older"))

	if res, err := m.put(ctx, "k", newer, modeSync); err != nil || res.status != putWritten {
		t.Fatalf("sync into an empty key: %+v %v", res, err)
	}
	// A replay of an older write loses to the newer one.
	if res, err := m.put(ctx, "k", older, modeSync); err != nil || res.status != putRefused {
		t.Fatalf("sync of an older record: %+v %v, want refused", res, err)
	}
	if got := get("k"); string(got.val) != "newer" {
		t.Fatalf("after an older replay: %q, want newer", got.val)
	}
	// Equal versions: a replay is refused too (idempotent).
	if res, _ := m.put(ctx, "k", newer, modeSync); res.status != putRefused {
		t.Fatalf("sync of the same version: %+v, want refused", res)
	}
	// A live write with an older clock still lands, just past the stored version.
	res, err := m.put(ctx, "k", older, modeSet)
	if err != nil || res.status != putWritten {
		t.Fatalf("live write: %+v %v", res, err)
	}
	got := get("k")
	if want := version(2001, m.local.clock.id); got.version != want || string(got.val) != "older" {
		t.Fatalf("live write stored version %s value %q, want %s and the new value", got.version, got.val, want)
	}
	if string(res.stored) != string(encodeRecord(got.version, false, 0, []byte("older"))) {
		t.Fatalf("put returned %q, not what it stored", res.stored)
	}

	// Create: refused over a live value, allowed over a tombstone.
	if res, _ := m.put(ctx, "k", encodeRecord(version(3000, idA), false, 0, []byte("x")), modeCreate); res.status != putRefused {
		t.Fatalf("create over a live value: %+v, want refused", res)
	}
	exp := time.Now().Add(time.Hour).UnixMilli()
	if _, err := m.put(ctx, "s", encodeRecord(version(100, idA), false, exp, []byte("session")), modeSet); err != nil {
		t.Fatal(err)
	}
	if _, err := m.put(ctx, "s", encodeRecord(version(200, idA), true, 0, nil), modeDelete); err != nil {
		t.Fatal(err)
	}
	tomb := get("s")
	if !tomb.deleted || tomb.expires != exp {
		t.Fatalf("tombstone: deleted=%v expires=%d, want a tombstone expiring at %d", tomb.deleted, tomb.expires, exp)
	}
	if ttl := rc.PTTL(ctx, "t:s").Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("tombstone PTTL %s, want the record's remaining hour", ttl)
	}
	// A replayed older live write does not resurrect the deleted key.
	if res, _ := m.put(ctx, "s", encodeRecord(version(150, idB), false, exp, []byte("stale")), modeSync); res.status != putRefused {
		t.Fatalf("sync of a stale value over a tombstone: %+v, want refused", res)
	}
	if res, _ := m.put(ctx, "s", encodeRecord(version(300, idA), false, 0, []byte("again")), modeCreate); res.status != putWritten {
		t.Fatalf("create over a tombstone: %+v, want written", res)
	}
	// No epoch (Redis lost its data): create refuses to guess.
	rc.Del(ctx, m.epochKey())
	if res, _ := m.put(ctx, "n", encodeRecord(version(400, idA), false, 0, []byte("x")), modeCreate); res.status != putNoEpoch {
		t.Fatalf("create without an epoch: %+v, want putNoEpoch", res)
	}
}

// TestOutboxOrderAndReplayRace: writes made while Redis is down queue in
// order, survive a restart of the instance, and replay in order; a replay
// racing a newer write from another instance leaves the newer value.
func TestOutboxOrderAndReplayRace(t *testing.T) {
	if testing.Short() {
		t.Skip("an outage and its replay (1.2 s): skipped by -short")
	}
	srv := testredis.Start(t)
	dirA := t.TempDir()
	a := mirrorOn(t, dirA, MirrorOptions{URL: srv.URL(), Persistent: true})
	b := mirrorOn(t, t.TempDir(), MirrorOptions{URL: srv.URL(), Persistent: true})
	ctx := context.Background()

	srv.Kill()
	// The first failed call opens the breaker (it may itself be queued).
	_ = a.Set(ctx, "warm", []byte("x"), 0)
	testwait.Until(t, 3*time.Second, "A down", func() bool { return !a.up() })
	testwait.Until(t, 3*time.Second, "B down", func() bool { return !b.up() })

	want := []string{"k1=1", "k2=1", "k1=2", "race=old", "k2=2"}
	for _, kv := range want {
		k, v, _ := strings.Cut(kv, "=")
		if err := a.Set(ctx, k, []byte(v), 0); err != nil {
			t.Fatalf("Set while down: %v", err)
		}
	}
	if err := a.Delete(ctx, "warm"); err != nil {
		t.Fatal(err)
	}
	if err := a.Create(ctx, "user:x", []byte("x"), 0); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Create while down: %v, want ErrUnavailable", err)
	}
	if _, err := a.Get(ctx, "never-seen"); !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get of an unknown key while down: %v, want ErrNotFound and ErrUnavailable", err)
	}
	// The outbox holds the writes in order.
	var queued []string
	err := a.local.scanRaw(ctx, outboxPrefix, "", func(_ string, raw []byte, _ uint64) error {
		key, stored, _ := parseOutboxEntry(raw)
		rec := decodeRecord(stored)
		if rec.deleted {
			queued = append(queued, key+"=<deleted>")
		} else {
			queued = append(queued, key+"="+string(rec.val))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.Index(queued, "k1=1"); i < 0 || !slices.Equal(queued[i:], append(slices.Clone(want), "warm=<deleted>")) {
		t.Fatalf("outbox = %q, want %q (then the delete) in order", queued, want)
	}
	if n := a.OutboxLen(); n != int64(len(queued)) {
		t.Fatalf("OutboxLen = %d, outbox holds %d", n, len(queued))
	}
	// B writes the raced key later (a newer version), also while down.
	time.Sleep(2 * time.Millisecond)
	if err := b.Set(ctx, "race", []byte("new"), 0); err != nil {
		t.Fatal(err)
	}

	// A restarts while Redis is still down: its outbox is still there.
	a.Close()
	srv.StartAgain()
	a = mirrorOn(t, dirA, MirrorOptions{URL: srv.URL(), Persistent: true})
	testwait.Until(t, 5*time.Second, "A's outbox replayed", func() bool { return a.OutboxLen() == 0 && a.up() })
	testwait.Until(t, 5*time.Second, "B's outbox replayed", func() bool { return b.OutboxLen() == 0 && b.up() })
	for _, c := range []struct{ key, want string }{{"k1", "2"}, {"k2", "2"}, {"race", "new"}} {
		for name, m := range map[string]*Mirror{"A": a, "B": b} {
			got, err := m.Get(ctx, c.key)
			if err != nil || string(got) != c.want {
				t.Errorf("%s: Get(%s) = %q, %v; want %q", name, c.key, got, err, c.want)
			}
		}
	}
	if _, err := b.Get(ctx, "warm"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a key deleted during the outage reads %v on B, want ErrNotFound", err)
	}
}

// TestNonPersistentRefusesWritesWhileDown: without a durable outbox, a
// write while Redis is down is refused, never silently kept in memory.
func TestNonPersistentRefusesWritesWhileDown(t *testing.T) {
	srv := testredis.Start(t)
	m := mirrorOn(t, t.TempDir(), MirrorOptions{URL: srv.URL(), Persistent: false})
	ctx := context.Background()
	if err := m.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	defer srv.Resume()
	start := time.Now()
	if got, err := m.Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Fatalf("read while redis hangs: %q %v", got, err)
	}
	t.Logf("first read while redis hangs: %s", time.Since(start))
	if err := m.Set(ctx, "k", []byte("w"), 0); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("write while down without a persistent dir: %v, want ErrUnavailable", err)
	}
	if m.OutboxLen() != 0 {
		t.Fatal("a non-persistent mirror queued a write")
	}
	start = time.Now()
	if _, err := m.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("a read with the breaker open took %s: it waited for redis", d)
	}
}

func TestOpenMirrorRejectsBadURLWithoutEchoingIt(t *testing.T) {
	b, err := Open(context.Background(), Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, err = OpenMirror(b, MirrorOptions{URL: "redis://user:s3cret@host:notaport/0"})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("OpenMirror with a bad URL: %v (must fail without quoting the password)", err)
	}
}

// TestSessionCacheInvalidation: a record served from memory is dropped when
// another instance changes it (Pub/Sub), and lives at most its TTL when a
// change comes without a message.
func TestSessionCacheInvalidation(t *testing.T) {
	if testing.Short() {
		t.Skip("two instances over Redis and an outage (1.1 s): skipped by -short")
	}
	srv := testredis.Start(t)
	open := func() *Mirror {
		return mirrorOn(t, t.TempDir(), MirrorOptions{URL: srv.URL(), Persistent: true, CachePrefixes: []string{"session:"}})
	}
	a, b := open(), open()
	a.cache.ttl = 700 * time.Millisecond // the backstop, shortened for the test
	ctx := context.Background()
	read := func(m *Mirror, key string) string {
		v, err := m.Get(ctx, key)
		if errors.Is(err, ErrNotFound) {
			return "<none>"
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(v)
	}
	if err := b.Set(ctx, "session:s", []byte("v1"), time.Hour); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, time.Second, "A keeps session:s in memory", func() bool {
		if got := read(a, "session:s"); got != "v1" {
			t.Fatalf("A reads %q, want v1", got)
		}
		_, ok := a.cache.get("session:s")
		return ok
	})
	for _, change := range []struct {
		name string
		do   func() error
		want string
	}{
		{"set on B", func() error { return b.Set(ctx, "session:s", []byte("v2"), time.Hour) }, "v2"},
		{"delete on B", func() error { return b.Delete(ctx, "session:s") }, "<none>"},
	} {
		if err := change.do(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		testwait.Until(t, 500*time.Millisecond, "A sees the "+change.name, func() bool { return read(a, "session:s") == change.want })
		t.Logf("%s seen on A after %s", change.name, time.Since(start))
	}
	// Keys outside the cached prefixes are never served from memory.
	if err := b.Set(ctx, "avatar:x", []byte("owl"), 0); err != nil {
		t.Fatal(err)
	}
	read(a, "avatar:x")
	if _, ok := a.cache.get("avatar:x"); ok {
		t.Fatal("A kept avatar:x in memory; only session: may be cached")
	}
	// A change that sends no message (written straight into Redis, as
	// a missed message would look) is still seen within the TTL. No
	// mirror writes this key, so no message can drop A's entry early.
	rc := rawRedis(t, srv)
	silent := func(val string) {
		rec := encodeRecord(version(time.Now().UnixMicro(), "cccccccccccc"), false, 0, []byte(val))
		if err := rc.Set(ctx, "t:session:q", rec, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	silent("v1")
	testwait.Until(t, time.Second, "A caches session:q", func() bool {
		read(a, "session:q")
		_, ok := a.cache.get("session:q")
		return ok
	})
	silent("silent")
	if got, ok := a.cache.get("session:q"); !ok || string(decodeRecord(got).val) != "v1" {
		t.Fatalf("right after a silent change A's cache holds %q (%v), want v1", got, ok)
	}
	testwait.Until(t, a.cache.ttl+200*time.Millisecond, "A sees a silent change within the TTL", func() bool { return read(a, "session:q") == "silent" })

	// A read marked Fresh (a log-in's re-check of its account) goes past
	// the cache: it sees even a silent change at once.
	silent("v3")
	if got, ok := a.cache.get("session:q"); !ok || string(decodeRecord(got).val) != "silent" {
		t.Fatalf("A's cache holds %q (%v), want the value before the silent change", got, ok)
	}
	if v, err := a.Get(Fresh(ctx), "session:q"); err != nil || string(v) != "v3" {
		t.Fatalf("a Fresh read right after a silent change: %q, %v; want v3", v, err)
	}
}

// TestDeleteOfUnknownKeyIsBounded: deleting a key no store has (the log-out
// of an expired session) leaves a tombstone that expires, not one forever.
func TestDeleteOfUnknownKeyIsBounded(t *testing.T) {
	srv := testredis.Start(t)
	m := mirrorOn(t, t.TempDir(), MirrorOptions{URL: srv.URL(), Persistent: true})
	ctx := context.Background()
	if err := m.Delete(ctx, "session:gone"); err != nil {
		t.Fatal(err)
	}
	ttl := rawRedis(t, srv).PTTL(ctx, "t:session:gone").Val()
	if ttl <= 0 || ttl > unknownTombstoneTTL {
		t.Fatalf("tombstone of an unknown key: PTTL %s, want 0 < ttl <= %s", ttl, unknownTombstoneTTL)
	}
	// A user record (no TTL) deleted keeps a tombstone for
	// foreverTombstoneTTL, in Redis and in the local copy: long enough that
	// no replay brings it back, bounded so that a deleted account's name
	// does not stay in a key forever.
	if err := m.Set(ctx, "user:a", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, "user:a"); err != nil {
		t.Fatal(err)
	}
	if ttl := rawRedis(t, srv).PTTL(ctx, "t:user:a").Val(); ttl <= unknownTombstoneTTL || ttl > foreverTombstoneTTL {
		t.Fatalf("tombstone of a record without TTL: PTTL %s, want %s < ttl <= %s", ttl, unknownTombstoneTTL, foreverTombstoneTTL)
	}
	rec, found, err := m.local.getRecord(ctx, "user:a")
	if err != nil || !found || !rec.deleted {
		t.Fatalf("local copy of user:a: %+v found=%v err=%v, want a tombstone", rec, found, err)
	}
	if left := time.Until(time.UnixMilli(rec.expires)); left <= unknownTombstoneTTL || left > foreverTombstoneTTL {
		t.Fatalf("local tombstone of user:a expires in %s, want %s < left <= %s", left, unknownTombstoneTTL, foreverTombstoneTTL)
	}
	// The same when only Redis knows the record (written by another
	// instance): its tombstone is bounded by foreverTombstoneTTL, not by
	// the shorter bound of a key nobody knows.
	other := encodeRecord(version(time.Now().UnixMicro(), "dddddddddddd"), false, 0, []byte("x"))
	if err := rawRedis(t, srv).Set(ctx, "t:user:b", other, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, "user:b"); err != nil {
		t.Fatal(err)
	}
	if ttl := rawRedis(t, srv).PTTL(ctx, "t:user:b").Val(); ttl <= unknownTombstoneTTL || ttl > foreverTombstoneTTL {
		t.Fatalf("tombstone of a record only Redis had: PTTL %s, want %s < ttl <= %s", ttl, unknownTombstoneTTL, foreverTombstoneTTL)
	}
}
