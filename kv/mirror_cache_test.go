package kv

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"soulbridge/internal/testproxy"
	"soulbridge/internal/testredis"
	"soulbridge/internal/testwait"
)

// The mirror's cache (mirror_cache.go) on a real redis-server: invalidation
// across instances, the miss/invalidate race, no cached answer while the
// link is in doubt, a Pub/Sub reconnect dropping everything, the byte bound.

var cachedPrefixes = []string{"session:", "user:", "avatar:"}

// cachedMirror opens a mirror with the request path's prefixes cached, over
// url, and waits until its cache may serve (a heartbeat heard back).
func cachedMirror(t *testing.T, url string) *Mirror {
	t.Helper()
	m := mirrorOn(t, t.TempDir(), MirrorOptions{URL: url, Persistent: true, CachePrefixes: cachedPrefixes})
	testwait.Until(t, 2*time.Second, "the cache's first heartbeat", func() bool { return m.cache.usable(m.cache.clock()) })
	return m
}

// cachedOn waits until m answers key from memory (two reads: a miss that
// fills, then a hit).
func cachedOn(t *testing.T, m *Mirror, key, want string) {
	t.Helper()
	testwait.Until(t, time.Second, key+" cached", func() bool {
		if got := get(t, m, key); got != want {
			t.Fatalf("%s reads %q, want %q", key, got, want)
		}
		raw, ok := m.cache.get(key)
		if !ok {
			return false
		}
		got := "<none>"
		if v, err := valueOf(raw); raw != nil && err == nil {
			got = string(v)
		}
		return got == want
	})
}

// TestCacheInvalidationAcrossInstances: what A serves from memory is
// dropped the moment B's change is heard: a write, a delete (the
// tombstone) and the first write of a key Redis had no trace of; the
// cache does serve (a change written into Redis without a message is not
// seen at once), so the test would fail without the invalidation.
func TestCacheInvalidationAcrossInstances(t *testing.T) {
	srv := testredis.Start(t)
	a, b := cachedMirror(t, srv.URL()), cachedMirror(t, srv.URL())
	ctx := context.Background()
	for _, key := range []string{"session:s", "user:u", "avatar:u"} {
		if err := b.Set(ctx, key, []byte("v1"), time.Hour); err != nil {
			t.Fatal(err)
		}
		cachedOn(t, a, key, "v1")
		hits := a.CacheStats().Hits
		if got := get(t, a, key); got != "v1" || a.CacheStats().Hits == hits {
			t.Fatalf("%s: %q, hits %d → %d: want v1 from memory", key, got, hits, a.CacheStats().Hits)
		}
		for _, change := range []struct {
			name string
			do   func() error
			want string
		}{
			{"write", func() error { return b.Set(ctx, key, []byte("v2"), time.Hour) }, "v2"},
			{"delete", func() error { return b.Delete(ctx, key) }, "<none>"},
			{"write after the delete", func() error { return b.Set(ctx, key, []byte("v3"), time.Hour) }, "v3"},
		} {
			if change.want == "v3" && IsFinal(key) {
				continue // a session's tombstone is final
			}
			cachedOn(t, a, key, get(t, a, key))
			if err := change.do(); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			testwait.Until(t, 100*time.Millisecond, fmt.Sprintf("A sees B's %s of %s", change.name, key), func() bool {
				return get(t, a, key) == change.want
			})
			t.Logf("%s of %s seen on A after %s", change.name, key, time.Since(start).Round(time.Microsecond))
		}
	}
	// A key Redis has no trace of is cached as such, and B's first write
	// drops that too.
	cachedOn(t, a, "avatar:new", "<none>")
	if err := b.Set(ctx, "avatar:new", []byte("owl"), 0); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 100*time.Millisecond, "A sees avatar:new", func() bool { return get(t, a, "avatar:new") == "owl" })

	// The cache serves: a change that publishes nothing is not seen at once.
	cachedOn(t, a, "avatar:new", "owl")
	rec := encodeRecord(version(time.Now().UnixMicro()+1e6, "cccccccccccc"), false, 0, []byte("silent"))
	if err := rawRedis(t, srv).Set(ctx, "t:avatar:new", rec, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := get(t, a, "avatar:new"); got != "owl" {
		t.Fatalf("after a silent change A reads %q at once; the cache should still answer owl", got)
	}
}

// TestCacheMissInvalidateRace: a read that missed, read Redis, and stores
// its answer after the invalidation of a newer write came in must not
// cache that older answer. First step by step, then under load: once A
// has read B's latest value, no later read on A goes back to an older one.
func TestCacheMissInvalidateRace(t *testing.T) {
	srv := testredis.Start(t)
	a, b := cachedMirror(t, srv.URL()), cachedMirror(t, srv.URL())
	ctx := context.Background()
	rc := rawRedis(t, srv)

	for _, inval := range []string{"key", "all"} {
		if err := b.Set(ctx, "avatar:r", []byte("old"), 0); err != nil {
			t.Fatal(err)
		}
		testwait.Until(t, time.Second, "A reads old", func() bool { return get(t, a, "avatar:r") == "old" })
		tok := a.cache.token("avatar:r") // a miss begins…
		raw, err := rc.Get(ctx, "t:avatar:r").Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if string(decodeRecord(raw).val) != "old" {
			t.Fatalf("redis holds %q, want old", decodeRecord(raw).val)
		}
		if inval == "key" { // …B writes, A hears it…
			if err := b.Set(ctx, "avatar:r", []byte("new"), 0); err != nil {
				t.Fatal(err)
			}
			testwait.Until(t, time.Second, "A hears B's write", func() bool { return a.cache.token("avatar:r") != tok })
		} else { // …or A drops everything (a reconnect) as B writes…
			if err := rc.Set(ctx, "t:avatar:r", encodeRecord(version(time.Now().UnixMicro()+1e6, "cccccccccccc"), false, 0, []byte("new")), 0).Err(); err != nil {
				t.Fatal(err)
			}
			a.cache.invalidateAll()
		}
		a.cache.put("avatar:r", raw, tok) // …and the miss stores what it read
		if got, ok := a.cache.get("avatar:r"); ok {
			t.Fatalf("after an invalidation (%s) the miss stored %q", inval, decodeRecord(got).val)
		}
		if got := get(t, a, "avatar:r"); got != "new" {
			t.Fatalf("A reads %q after the invalidation (%s), want new", got, inval)
		}
	}

	// Under load: B writes 0, 1, 2… to a key while readers on C read it;
	// once C has heard of write n (the n+1-th message on the key, Pub/Sub
	// keeps their order), no read that starts later may answer less.
	const key = "session:race"
	var heard atomic.Int64
	c := mirrorOn(t, t.TempDir(), MirrorOptions{URL: srv.URL(), Persistent: true, CachePrefixes: cachedPrefixes,
		OnChange: func(k string) {
			if k == key {
				heard.Add(1)
			}
		}})
	testwait.Until(t, 2*time.Second, "C's first heartbeat", func() bool { return c.cache.usable(c.cache.clock()) })
	var bad atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if i%16 == 0 {
					time.Sleep(100 * time.Microsecond) // leave B and the listener some CPU
				}
				floor := heard.Load() - 1
				v, err := c.Get(ctx, key)
				if err != nil {
					continue
				}
				if n, _ := strconv.ParseInt(string(v), 10, 64); n < floor {
					bad.Store(fmt.Sprintf("read %d after write %d had been heard", n, floor))
				}
			}
		})
	}
	for i := range 200 {
		if err := b.Set(ctx, key, []byte(strconv.Itoa(i)), time.Hour); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(i%3) * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatalf("C answered a value older than one it had heard of: %s", v)
	}
	st := c.CacheStats()
	t.Logf("readers on C: %d hits, %d misses, %d bypassed", st.Hits, st.Misses, st.Bypassed)
	if st.Hits == 0 {
		t.Fatal("no read was answered from memory: the race was not exercised")
	}
}

// TestCacheBypassWhileLinkInDoubt: A reaches Redis through a proxy. When
// the link hangs (no error, nothing comes back), A stops answering from
// memory within beatWindow, before any call has failed: a log-out made on
// B meanwhile is not answered from A's cache. A Pub/Sub reconnect drops
// the whole cache (messages may have been missed meanwhile).
func TestCacheBypassWhileLinkInDoubt(t *testing.T) {
	srv := testredis.Start(t)
	proxy, err := testproxy.New(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	a := cachedMirror(t, "redis://"+proxy.Addr()+"/0")
	b := cachedMirror(t, srv.URL())
	ctx := context.Background()

	if err := b.Set(ctx, "session:d", []byte("live"), time.Hour); err != nil {
		t.Fatal(err)
	}
	cachedOn(t, a, "session:d", "live")
	// Only the cache can answer "live" on A now.
	testwait.Until(t, time.Second, "A's local copy written", func() bool { return a.knownLocal("session:d", mustVersion(t, a, "session:d")) })
	if _, err := a.local.apply(ctx, []localOp{{key: "session:d", remove: true}}); err != nil {
		t.Fatal(err)
	}

	proxy.Hang()
	hung := time.Now()
	deleted := make(chan error, 1)
	go func() { deleted <- b.Delete(ctx, "session:d") }() // the log-out, on B
	servedLive := time.Duration(-1)
	for time.Since(hung) < 1500*time.Millisecond {
		hits := a.CacheStats().Hits
		began := time.Since(hung)
		v, err := a.Get(ctx, "session:d")
		if err == nil && string(v) == "live" && a.CacheStats().Hits > hits {
			servedLive = began
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	// (-1: not even at once; the reads before the hang were from memory.)
	t.Logf("A answered the session from memory until %s after the link hung (bound %s)", servedLive, beatWindow)
	if servedLive > beatWindow+50*time.Millisecond {
		t.Fatalf("A answered from memory %s after the link hung, past beatWindow (%s)", servedLive, beatWindow)
	}
	proxy.Pass()
	testwait.Until(t, 5*time.Second, "A up again", func() bool { return a.up() && a.cache.usable(a.cache.clock()) })
	if got := get(t, a, "session:d"); got != "<none>" {
		t.Fatalf("after the link healed A reads %q, want <none>", got)
	}

	// A Pub/Sub reconnect (its connection killed, nothing else) drops
	// everything: B's write while A was not subscribed is not missed.
	if err := b.Set(ctx, "avatar:p", []byte("v1"), 0); err != nil {
		t.Fatal(err)
	}
	cachedOn(t, a, "avatar:p", "v1")
	subscribed := a.subscribedAt.Load()
	if err := rawRedis(t, srv).Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	// Written straight into Redis with no message, as a message published
	// while A was not subscribed is to A.
	rec := encodeRecord(version(time.Now().UnixMicro()+1e6, "cccccccccccc"), false, 0, []byte("v2"))
	if err := rawRedis(t, srv).Set(ctx, "t:avatar:p", rec, 0).Err(); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 3*time.Second, "A subscribed again", func() bool { return a.subscribedAt.Load() != subscribed })
	if got := get(t, a, "avatar:p"); got != "v2" {
		t.Fatalf("after a Pub/Sub reconnect A reads %q, want v2 (the cache must be dropped)", got)
	}
}

func mustVersion(t *testing.T, m *Mirror, key string) string {
	t.Helper()
	raw, err := m.rdb.Get(context.Background(), m.rkey(key)).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return decodeRecord(raw).version
}

// TestCacheByteBound: the cache's bytes (keys, values, overhead) never
// exceed its bound, entries are evicted to stay under it, reads stay
// right, and a record over a 64th of the bound is not kept.
func TestCacheByteBound(t *testing.T) {
	srv := testredis.Start(t)
	a, b := cachedMirror(t, srv.URL()), cachedMirror(t, srv.URL())
	a.cache.mu.Lock()
	a.cache.maxBytes = 64 << 10
	a.cache.mu.Unlock()
	ctx := context.Background()
	val := func(i int) []byte { return fmt.Appendf(nil, "%04d%0500d", i, 0) }
	const n = 400 // 400 × ~600 bytes: about four times the bound
	for i := range n {
		if err := b.Set(ctx, fmt.Sprintf("user:%04d", i), val(i), 0); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 2 {
		for i := range n {
			key := fmt.Sprintf("user:%04d", i)
			if got := get(t, a, key); got != string(val(i)) {
				t.Fatalf("round %d: %s reads %.8q…, want %.8q…", round, key, got, val(i))
			}
			a.cache.mu.RLock()
			var sum int64
			for k, e := range a.cache.entries {
				sum += int64(len(k)+len(e.raw)) + cacheEntryOverhead
			}
			bytes, entries := a.cache.bytes, len(a.cache.entries)
			a.cache.mu.RUnlock()
			if bytes != sum || bytes > 64<<10 {
				t.Fatalf("after %d reads: %d bytes counted, %d held, bound %d", i+1, bytes, sum, 64<<10)
			}
			if i == n-1 && (entries == 0 || entries >= n) {
				t.Fatalf("%d entries held of %d read: want some evicted, some kept", entries, n)
			}
		}
	}
	big := make([]byte, (64<<10)/64)
	if err := b.Set(ctx, "avatar:big", big, 0); err != nil {
		t.Fatal(err)
	}
	get(t, a, "avatar:big")
	if _, ok := a.cache.get("avatar:big"); ok {
		t.Fatal("a record over a 64th of the bound was cached")
	}
	t.Logf("stats: %+v", a.CacheStats())
}
