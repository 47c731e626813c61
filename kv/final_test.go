package kv

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"soulbridge/internal/testredis"
	"soulbridge/internal/testwait"
)

// TestFinalTombstonesInRedis pins putScript's rules for keys whose delete is
// final (session records and index entries, IsFinal): no mode writes a
// live record over their tombstone, whatever its version; their tombstone
// replayed in sync mode ends a live record even a newer one, keeping the
// later expiry; a renewal lands only over a live value and never creates.
// Keys outside those prefixes keep the plain version rules.
// Fails with -tags plant_renewrevive and -tags plant_noversion.
func TestFinalTombstonesInRedis(t *testing.T) {
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
	hour := time.Now().Add(time.Hour).UnixMilli()
	twoHours := time.Now().Add(2 * time.Hour).UnixMilli()

	for _, key := range []string{"session:s1", "sessions-of:alice:p1"} {
		if _, err := m.put(ctx, key, encodeRecord(version(100, idA), false, hour, []byte("live")), modeSet); err != nil {
			t.Fatal(err)
		}
		if _, err := m.put(ctx, key, encodeRecord(version(200, idA), true, hour, nil), modeDelete); err != nil {
			t.Fatal(err)
		}
		// A newer live record, in every mode, is refused and answered
		// with the tombstone.
		for _, mode := range []string{modeSync, modeSet, modeRenew, modeCreate} {
			res, err := m.put(ctx, key, encodeRecord(version(900, idB), false, twoHours, []byte("revived")), mode)
			if err != nil {
				t.Fatal(err)
			}
			if res.status != putRefused || res.stored == nil || !decodeRecord(res.stored).deleted {
				t.Errorf("%s: %s of a newer live record over the tombstone: status %d, answer %q; want refused with the tombstone", key, mode, res.status, res.stored)
			}
			if got := get(key); !got.deleted {
				t.Fatalf("%s: %s revived the key: %q", key, mode, got.val)
			}
		}
		// Through the Mirror: Set and Renew answer ErrNotFound.
		if err := m.Set(ctx, key, []byte("x"), time.Hour); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: Set over a final tombstone: %v, want ErrNotFound", key, err)
		}
		if err := m.Renew(ctx, key, []byte("x"), time.Hour); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: Renew over a final tombstone: %v, want ErrNotFound", key, err)
		}
		if got := get(key); !got.deleted {
			t.Fatalf("%s: revived through the Mirror", key)
		}
	}

	// A replayed tombstone older than the live record still ends it (the
	// log-out queued on A, the renewal made on B after it), and keeps the
	// record's later expiry.
	if _, err := m.put(ctx, "session:s2", encodeRecord(version(500, idB), false, twoHours, []byte("renewed")), modeSet); err != nil {
		t.Fatal(err)
	}
	res, err := m.put(ctx, "session:s2", encodeRecord(version(300, idA), true, hour, nil), modeSync)
	if err != nil || res.status != putWritten {
		t.Fatalf("replay of an older tombstone over a live session: %+v %v, want written", res, err)
	}
	if got := get("session:s2"); !got.deleted || got.expires != twoHours || got.version <= version(500, idB) {
		t.Fatalf("after the replayed tombstone: %+v, want a tombstone expiring at %d with a version past the record's", got, twoHours)
	}
	// Outside the final prefixes the version decides, as before.
	if _, err := m.put(ctx, "avatar:x", encodeRecord(version(500, idB), false, 0, []byte("owl")), modeSet); err != nil {
		t.Fatal(err)
	}
	if res, _ := m.put(ctx, "avatar:x", encodeRecord(version(300, idA), true, 0, nil), modeSync); res.status != putRefused {
		t.Fatalf("replay of an older tombstone over a newer avatar: %+v, want refused", res)
	}
	if res, _ := m.put(ctx, "avatar:x", encodeRecord(version(600, idA), true, 0, nil), modeDelete); res.status != putWritten {
		t.Fatal("delete of avatar:x refused")
	}
	if res, _ := m.put(ctx, "avatar:x", encodeRecord(version(700, idA), false, 0, []byte("fox")), modeSet); res.status != putWritten {
		t.Fatalf("a set after a delete outside the final prefixes: %+v, want written", res)
	}

	// Renew never creates; without the epoch (Redis lost its data) it
	// cannot tell.
	if res, _ := m.put(ctx, "session:none", encodeRecord(version(100, idA), false, hour, []byte("x")), modeRenew); res.status != putRefused {
		t.Fatalf("renew of a missing key: %+v, want refused", res)
	}
	if _, err := rc.Get(ctx, "t:session:none").Result(); err == nil {
		t.Fatal("a renewal created a key")
	}
	rc.Del(ctx, m.epochKey())
	if res, _ := m.put(ctx, "session:none", encodeRecord(version(100, idA), false, hour, []byte("x")), modeRenew); res.status != putNoEpoch {
		t.Fatalf("renew of a missing key without the epoch: %+v, want putNoEpoch", res)
	}
}

// TestFinalTombstonesLocal: the local copy keeps the same rules: a copy
// from Redis (ifNewer) of a newer live record does not replace a final
// tombstone, a final tombstone replaces a newer live record, a renewal
// lands only over a live record. Fails with -tags plant_renewrevive.
func TestFinalTombstonesLocal(t *testing.T) {
	b, err := Open(context.Background(), Options{InMemory: true, Prefix: "t:"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	const id = "aaaaaaaaaaaa"
	put := func(key string, op localOp) error {
		_, err := b.apply(ctx, []localOp{op})
		return err
	}
	state := func(key string) string {
		rec, found, err := b.getRecord(ctx, key)
		switch {
		case err != nil:
			t.Fatal(err)
		case !found:
			return "missing"
		case rec.deleted:
			return "deleted"
		}
		return string(rec.val)
	}
	live := func(us int64, val string) []byte {
		return encodeRecord(version(us, id), false, 0, []byte(val))
	}
	tomb := func(us int64) []byte { return encodeRecord(version(us, id), true, 0, nil) }

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(put("session:a", localOp{key: "session:a", stored: live(100, "v1")}))
	must(put("session:a", localOp{key: "session:a", stored: tomb(50), ifNewer: true}))
	if got := state("session:a"); got != "deleted" {
		t.Fatalf("an older final tombstone copied over a live session: %s, want deleted", got)
	}
	must(put("session:a", localOp{key: "session:a", stored: live(900, "v2"), ifNewer: true}))
	if got := state("session:a"); got != "deleted" {
		t.Fatalf("a newer live copy over a final tombstone: %s, want deleted", got)
	}
	if err := put("session:a", localOp{key: "session:a", stored: live(901, "v3"), strict: true}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a queued write over a final tombstone: %v, want ErrNotFound", err)
	}
	if err := put("session:a", localOp{key: "session:a", stored: live(902, "v4"), strict: true, renew: true}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a queued renewal over a final tombstone: %v, want ErrNotFound", err)
	}
	if got := state("session:a"); got != "deleted" {
		t.Fatalf("session:a revived locally: %s", got)
	}
	// A renewal never creates.
	if err := put("session:b", localOp{key: "session:b", stored: live(100, "v1"), strict: true, renew: true}); !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a queued renewal of a key missing here: %v, want ErrNotFound and ErrUnavailable", err)
	}
	if got := state("session:b"); got != "missing" {
		t.Fatalf("a renewal created session:b: %s", got)
	}
	// Outside the final prefixes: versions decide.
	must(put("avatar:x", localOp{key: "avatar:x", stored: live(100, "owl")}))
	must(put("avatar:x", localOp{key: "avatar:x", stored: tomb(50), ifNewer: true}))
	if got := state("avatar:x"); got != "owl" {
		t.Fatalf("an older tombstone copied over a newer avatar: %s, want owl", got)
	}
	must(put("avatar:x", localOp{key: "avatar:x", stored: tomb(150), ifNewer: true}))
	must(put("avatar:x", localOp{key: "avatar:x", stored: live(200, "fox"), ifNewer: true}))
	if got := state("avatar:x"); got != "fox" {
		t.Fatalf("a newer avatar over a tombstone: %s, want fox", got)
	}
}

// TestRenewWhileDownQueuesRenewMode: a renewal made while Redis is down is
// queued with the renew mode and replayed under the renew rule: it lands
// over the live record, and one whose record was deleted elsewhere
// meanwhile does not come back. A renewal of a key deleted here, or
// missing here, queues nothing.
func TestRenewWhileDownQueuesRenewMode(t *testing.T) {
	srv := testredis.Start(t)
	dirA := t.TempDir()
	a := mirrorOn(t, dirA, MirrorOptions{URL: srv.URL(), Persistent: true})
	b := mirrorOn(t, t.TempDir(), MirrorOptions{URL: srv.URL(), Persistent: true})
	ctx := context.Background()
	for _, k := range []string{"session:kept", "session:ended", "session:here", "a:plain"} {
		if err := a.Set(ctx, k, []byte("v1"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	srv.Pause()
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume()
		}
	}()
	_ = a.Set(ctx, "warm", []byte("x"), 0) // opens the breaker
	testwait.Until(t, 5*time.Second, "A down", func() bool { return !a.up() })
	before := a.OutboxLen()
	for _, k := range []string{"session:kept", "session:ended", "a:plain"} {
		if err := a.Renew(ctx, k, []byte("v2"), time.Hour); err != nil {
			t.Fatalf("Renew %s while down: %v", k, err)
		}
	}
	if err := a.Delete(ctx, "session:here"); err != nil {
		t.Fatal(err)
	}
	if err := a.Renew(ctx, "session:here", []byte("v2"), time.Hour); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("Renew of a key deleted here: %v, want ErrNotFound only", err)
	}
	if err := a.Renew(ctx, "session:elsewhere", []byte("v2"), time.Hour); !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Renew of a key missing here while down: %v, want ErrNotFound and ErrUnavailable", err)
	}
	if n := a.OutboxLen() - before; n != 4 {
		t.Fatalf("queued %d changes, want 4 (three renewals and the delete)", n)
	}
	var modes []string
	err := a.local.scanRaw(ctx, outboxPrefix, "", func(k string, raw []byte, _ uint64) error {
		key, _, _ := parseOutboxEntry(raw)
		modes = append(modes, key+"="+outboxMode(k))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(modes, " "); !strings.HasSuffix(got, "session:kept=renew session:ended=renew a:plain=renew session:here=sync") {
		t.Fatalf("outbox modes: %s", got)
	}
	// Meanwhile the record is deleted elsewhere: B writes its tombstone
	// straight into Redis once it is back (B's own delete, replayed first).
	srv.Resume()
	resumed = true
	a.Close()
	testwait.Until(t, 5*time.Second, "B up", func() bool { return b.up() })
	if err := b.Delete(ctx, "session:ended"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "a:plain"); err != nil {
		t.Fatal(err)
	}
	a = mirrorOn(t, dirA, MirrorOptions{URL: srv.URL(), Persistent: true})
	testwait.Until(t, 5*time.Second, "A's outbox replayed", func() bool { return a.OutboxLen() == 0 && a.up() })
	for _, c := range []struct{ key, want string }{
		{"session:kept", "v2"}, {"session:ended", ""}, {"a:plain", ""}, {"session:here", ""}, {"session:elsewhere", ""},
	} {
		for name, m := range map[string]*Mirror{"A": a, "B": b} {
			got, err := m.Get(ctx, c.key)
			if c.want == "" {
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("%s: Get(%s) = %q, %v; want not found (a renewal never revives)", name, c.key, got, err)
				}
				continue
			}
			if err != nil || string(got) != c.want {
				t.Errorf("%s: Get(%s) = %q, %v; want %q", name, c.key, got, err, c.want)
			}
		}
	}
	// The replayed renewal that met the tombstone left it locally too.
	if rec, found, _ := a.local.getRecord(ctx, "session:ended"); !found || !rec.deleted {
		t.Fatalf("A's local session:ended after the replay: %+v found=%v, want the tombstone", rec, found)
	}
}

// TestOutboxReplaysPreviousReleaseEntries: an outbox written by the
// previous release ("<key>\n<record>" under mirror:outbox:<seq>, no mode)
// replays after an upgrade, in sync mode, in order, together with entries
// of this release.
func TestOutboxReplaysPreviousReleaseEntries(t *testing.T) {
	srv := testredis.Start(t)
	dir := t.TempDir()
	ctx := context.Background()
	b, err := Open(ctx, Options{Dir: dir, Prefix: "t:", LockTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const id = "aaaaaaaaaaaa"
	now := time.Now().UnixMicro()
	exp := time.Now().Add(time.Hour).UnixMilli()
	rec := func(us int64, deleted bool, val string) []byte {
		return encodeRecord(version(us, id), deleted, exp, []byte(val))
	}
	ops := []localOp{
		{key: "mirror:outbox:00000000000000000001", stored: []byte("avatar:x\n" + string(rec(now, false, "owl")))},
		{key: "mirror:outbox:00000000000000000002", stored: []byte("session:s\n" + string(rec(now+1, false, "S")))},
		{key: "mirror:outbox:00000000000000000003", stored: []byte("avatar:x\n" + string(rec(now+2, false, "fox")))},
		{key: "mirror:outbox:00000000000000000004:renew", stored: []byte("session:s\n" + string(rec(now+3, false, "S2")))},
		{key: "mirror:outbox:00000000000000000005:renew", stored: []byte("session:none\n" + string(rec(now+4, false, "N")))},
	}
	if _, err := b.apply(ctx, ops); err != nil {
		t.Fatal(err)
	}
	m, err := OpenMirror(b, MirrorOptions{URL: srv.URL(), Persistent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if n := m.OutboxLen(); n != 5 {
		t.Fatalf("OutboxLen at start = %d, want 5", n)
	}
	if m.seq != 5 {
		t.Fatalf("last outbox sequence = %d, want 5", m.seq)
	}
	testwait.Until(t, 5*time.Second, "the outbox replayed", func() bool { return m.OutboxLen() == 0 && m.up() })
	for _, c := range []struct{ key, want string }{{"avatar:x", "fox"}, {"session:s", "S2"}} {
		if got, err := m.Get(ctx, c.key); err != nil || string(got) != c.want {
			t.Errorf("Get(%s) = %q, %v; want %q", c.key, got, err, c.want)
		}
	}
	if v, err := rawRedis(t, srv).Get(ctx, "t:session:none").Result(); err == nil {
		t.Errorf("a replayed renewal created session:none: %q", v)
	}
	// New entries continue the sequence.
	if k := outboxKeyOf(m.seq+1, modeRenew); k != "mirror:outbox:00000000000000000006:renew" {
		t.Fatalf("next renew entry key %q", k)
	}
}

// TestDeleteLeavesTombstone: a delete, online or queued while Redis is
// down, leaves a tombstone in Redis and in the local copy, so a stale copy
// replayed or pushed back later (sync mode) cannot bring the key back.
// Fails with -tags plant_notombstone.
func TestDeleteLeavesTombstone(t *testing.T) {
	srv := testredis.Start(t)
	m := mirrorOn(t, t.TempDir(), MirrorOptions{URL: srv.URL(), Persistent: true})
	ctx := context.Background()
	rc := rawRedis(t, srv)
	check := func(key, when string) {
		t.Helper()
		raw, err := rc.Get(ctx, "t:"+key).Bytes()
		if err != nil || !decodeRecord(raw).deleted {
			t.Fatalf("%s: Redis holds %q (%v) for %s, want a tombstone", when, raw, err, key)
		}
		rec, found, err := m.local.getRecord(ctx, key)
		if err != nil || !found || !rec.deleted {
			t.Fatalf("%s: the local copy holds %+v (found %v, %v) for %s, want a tombstone", when, rec, found, err, key)
		}
		// A stale copy from before the delete, replayed: refused.
		stale := encodeRecord(version(1, "zzzzzzzzzzzz"), false, 0, []byte("stale"))
		if _, err := m.put(ctx, key, stale, modeSync); err != nil {
			t.Fatal(err)
		}
		if v, err := m.Get(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: a stale replay brought %s back: %q %v", when, key, v, err)
		}
	}
	for _, k := range []string{"avatar:on", "session:on"} {
		if err := m.Set(ctx, k, []byte("v"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := m.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
		check(k, "online delete")
	}
	for _, k := range []string{"avatar:off", "session:off"} {
		if err := m.Set(ctx, k, []byte("v"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	srv.Pause()
	_ = m.Set(ctx, "warm", []byte("x"), 0)
	testwait.Until(t, 5*time.Second, "down", func() bool { return !m.up() })
	for _, k := range []string{"avatar:off", "session:off"} {
		if err := m.Delete(ctx, k); err != nil {
			srv.Resume()
			t.Fatal(err)
		}
	}
	srv.Resume()
	testwait.Until(t, 5*time.Second, "the outbox replayed", func() bool { return m.OutboxLen() == 0 && m.up() })
	for _, k := range []string{"avatar:off", "session:off"} {
		check(k, "delete queued while down")
	}
}

// TestListReadKeepsIndexCopy (issue 16 row 7, in the store): the index
// entries a Scan read from Redis are in the local copy when Scan returns,
// and entries written on another instance reach this one's local copy
// within moments (published with their record), so either can be ended
// here while Redis is down.
func TestListReadKeepsIndexCopy(t *testing.T) {
	srv := testredis.Start(t)
	a := mirrorOn(t, t.TempDir(), MirrorOptions{URL: srv.URL(), Persistent: true})
	b := mirrorOn(t, t.TempDir(), MirrorOptions{URL: srv.URL(), Persistent: true})
	ctx := context.Background()
	// Written straight into Redis: as an instance that published nothing
	// (the previous release) or whose message A missed.
	rc := rawRedis(t, srv)
	entry := encodeRecord(version(time.Now().UnixMicro(), "cccccccccccc"), false, time.Now().Add(time.Hour).UnixMilli(), []byte("rid1"))
	if err := rc.Set(ctx, "t:sessions-of:alice:p1", entry, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	rc.ZAdd(ctx, "t:mirror:index", redis.Z{Member: "sessions-of:alice:p1"})
	var seen []string
	err := a.Scan(ctx, Range{Prefix: "sessions-of:alice:"}, func(key string, _ []byte) error {
		seen = append(seen, key)
		return nil
	})
	if err != nil || len(seen) != 1 {
		t.Fatalf("Scan = %q, %v", seen, err)
	}
	if v, err := a.local.Get(ctx, "sessions-of:alice:p1"); err != nil || string(v) != "rid1" {
		t.Fatalf("A's local copy right after the Scan: %q, %v; want rid1", v, err)
	}
	// Written through B: A hears it with its record.
	if err := b.Set(ctx, "sessions-of:alice:p2", []byte("rid2"), time.Hour); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 5*time.Second, "A's local copy of B's index entry", func() bool {
		v, err := a.local.Get(ctx, "sessions-of:alice:p2")
		return err == nil && string(v) == "rid2"
	})
}

// TestRenewOfKeyRedisLost: a renewal of a key Redis has no trace of is
// refused (never creating it); when the local copy holds the key live
// (Redis lost it and is not refilled yet) the answer is "cannot tell"
// (ErrNotFound and ErrUnavailable), so the session is kept and slides
// later; when nothing holds it, plain ErrNotFound.
func TestRenewOfKeyRedisLost(t *testing.T) {
	srv := testredis.Start(t)
	m := mirrorOn(t, t.TempDir(), MirrorOptions{URL: srv.URL(), Persistent: true})
	ctx := context.Background()
	rc := rawRedis(t, srv)
	if err := m.Set(ctx, "session:lost", []byte("v1"), time.Hour); err != nil {
		t.Fatal(err)
	}
	rc.Del(ctx, "t:session:lost")
	err := m.Renew(ctx, "session:lost", []byte("v2"), time.Hour)
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Renew of a key Redis lost but the local copy holds: %v, want ErrNotFound and ErrUnavailable", err)
	}
	if n, _ := rc.Exists(ctx, "t:session:lost").Result(); n != 0 {
		t.Fatal("the renewal created the key in Redis")
	}
	if v, err := m.local.Get(ctx, "session:lost"); err != nil || string(v) != "v1" {
		t.Fatalf("local copy after the refused renewal: %q %v, want v1 untouched", v, err)
	}
	err = m.Renew(ctx, "session:nowhere", []byte("v2"), time.Hour)
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("Renew of a key nobody holds: %v, want ErrNotFound only", err)
	}
}

// TestIndexCopiedWhenMirrorComesUp: each time the mirror comes up it copies
// the index entries Redis holds (copyIndex), so entries it neither scanned
// nor heard of (written while it was cut off) can be ended here during the
// next outage.
func TestIndexCopiedWhenMirrorComesUp(t *testing.T) {
	srv := testredis.Start(t)
	m := mirrorOn(t, t.TempDir(), MirrorOptions{URL: srv.URL(), Persistent: true})
	ctx := context.Background()
	rc := rawRedis(t, srv)
	entry := encodeRecord(version(time.Now().UnixMicro(), "cccccccccccc"), false, time.Now().Add(time.Hour).UnixMilli(), []byte("rid"))
	if err := rc.Set(ctx, "t:sessions-of:bob:p1", entry, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	rc.ZAdd(ctx, "t:mirror:index", redis.Z{Member: "sessions-of:bob:p1"})
	srv.Pause()
	_ = m.Set(ctx, "warm", []byte("x"), 0)
	testwait.Until(t, 5*time.Second, "down", func() bool { return !m.up() })
	if _, err := m.local.Get(ctx, "sessions-of:bob:p1"); err == nil {
		srv.Resume()
		t.Fatal("the entry is in the local copy already: the test would prove nothing")
	}
	srv.Resume()
	testwait.Until(t, 5*time.Second, "the entry in the local copy after the mirror came up", func() bool {
		v, err := m.local.Get(ctx, "sessions-of:bob:p1")
		return err == nil && string(v) == "rid"
	})
}
