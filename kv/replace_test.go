package kv

import (
	"context"
	"errors"
	"testing"
	"time"

	"soulbridge/internal/testproxy"
	"soulbridge/internal/testredis"
	"soulbridge/internal/testwait"
)

// TestReplaceDeliveredLateIsRefused: a read-modify-write that Redis
// receives only after the writer gave up on it (its link hung: the bytes
// were held, then passed on) lands nowhere when the value moved on
// meanwhile; the writer said it could not tell (ErrUnavailable) and queued
// nothing: the change made elsewhere in between stays. This is how a "log out everywhere else" on
// an instance whose link hung put back the password a change on another
// instance had just replaced (the fault test's seed 15), when account
// writes were plain Sets, which always land.
func TestReplaceDeliveredLateIsRefused(t *testing.T) {
	srv := testredis.Start(t)
	proxy, err := testproxy.New(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	a := mirrorOn(t, t.TempDir(), MirrorOptions{URL: "redis://" + proxy.Addr(), Persistent: true})
	b := mirrorOn(t, t.TempDir(), MirrorOptions{URL: srv.URL(), Persistent: true})
	ctx := context.Background()
	if err := b.Set(ctx, "user:x", []byte("v0"), 0); err != nil {
		t.Fatal(err)
	}
	old, err := a.Get(Fresh(ctx), "user:x")
	if err != nil || string(old) != "v0" {
		t.Fatalf("A reads %q, %v; want v0", old, err)
	}
	proxy.Hang()
	before := a.OutboxLen()
	// A's write times out at the client: A cannot tell whether it lands.
	if err := a.Replace(ctx, "user:x", old, []byte("from A"), 0); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("A's replace while its link hangs: %v, want ErrUnavailable", err)
	}
	testwait.Until(t, 5*time.Second, "A down", func() bool { return !a.up() })
	if n := a.OutboxLen() - before; n != 0 {
		t.Fatalf("A's replace queued %d changes, want none", n)
	}
	if err := b.Replace(ctx, "user:x", []byte("v0"), []byte("from B"), 0); err != nil {
		t.Fatalf("B's replace: %v", err)
	}
	proxy.Pass() // the held bytes reach Redis now
	testwait.Until(t, 10*time.Second, "A up, its outbox replayed", func() bool { return a.up() && a.OutboxLen() == 0 })
	for name, m := range map[string]*Mirror{"A": a, "B": b} {
		testwait.Until(t, 5*time.Second, name+" reads B's change", func() bool {
			got, err := m.Get(Fresh(ctx), "user:x")
			return err == nil && string(got) == "from B"
		})
	}
	raw, err := rawRedis(t, srv).Get(ctx, "t:user:x").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := recordValue(raw); string(got) != "from B" {
		t.Fatalf("Redis holds %q, want B's change", got)
	}
	// While A is cut off, a replace is refused at once, even of the value
	// A holds, and nothing is queued.
	proxy.Cut()
	_ = a.Set(ctx, "warm", []byte("x"), 0)
	testwait.Until(t, 5*time.Second, "A down", func() bool { return !a.up() })
	before = a.OutboxLen()
	if err := a.Replace(ctx, "user:x", []byte("from B"), []byte("from A again"), 0); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("A's replace while cut off: %v, want ErrUnavailable", err)
	}
	if n := a.OutboxLen() - before; n != 0 {
		t.Fatalf("a replace while cut off queued %d changes", n)
	}
	if got, err := a.Get(ctx, "user:x"); err != nil || string(got) != "from B" {
		t.Fatalf("A's local copy: %q, %v; want B's change", got, err)
	}
}

// TestReplaceOfKeyRedisLost: a key Redis no longer has while the local
// copy holds it live (Redis restarted empty, another instance made the new
// epoch, this one has not pushed its records back yet) is not taken for a
// deleted one: the replace answers ErrUnavailable, and writes nothing.
func TestReplaceOfKeyRedisLost(t *testing.T) {
	srv := testredis.Start(t)
	a := mirrorOn(t, t.TempDir(), MirrorOptions{URL: srv.URL(), Persistent: true})
	ctx := context.Background()
	if err := a.Set(ctx, "user:y", []byte("v0"), 0); err != nil {
		t.Fatal(err)
	}
	if err := rawRedis(t, srv).Del(ctx, "t:user:y").Err(); err != nil {
		t.Fatal(err)
	}
	err := a.Replace(ctx, "user:y", []byte("v0"), []byte("v1"), 0)
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) {
		t.Fatalf("Replace of a key Redis lost: %v, want ErrUnavailable only", err)
	}
	if n, _ := rawRedis(t, srv).Exists(ctx, "t:user:y").Result(); n != 0 {
		t.Fatal("the replace wrote the key into Redis")
	}
	if err := a.Replace(ctx, "user:never", []byte("v0"), []byte("v1"), 0); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("Replace of a key nobody has: %v, want ErrNotFound only", err)
	}
}
