package kv

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testredis"
	"soulbridge/internal/testwait"
)

// TestRedisURLForms: REDIS_URL names one Redis or, with master_name,
// Sentinels (go-redis' failover URL form); the log's description and every
// error leave the passwords out.
func TestRedisURLForms(t *testing.T) {
	for _, tc := range []struct {
		url, want string
		failover  bool
	}{
		{"redis://:s3cret@10.0.0.1:6380/2", "redis 10.0.0.1:6380 db 2", false},
		{"rediss://u:s3cret@cache.internal:6380", "redis cache.internal:6380 db 0 tls", false},
		{"redis://su:s3cret@10.0.0.1:26379/0?master_name=mymaster&addr=10.0.0.2:26379&addr=10.0.0.3:26379&password=s3cret",
			"sentinels 10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379 master mymaster db 0", true},
	} {
		target, err := parseRedisURL(tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.want, err)
		}
		if got := RedisTarget(tc.url); got != tc.want || strings.Contains(got, "s3cret") {
			t.Errorf("RedisTarget = %q, want %q", got, tc.want)
		}
		if (target.failover != nil) != tc.failover {
			t.Errorf("%s: read as failover %v, want %v", tc.want, target.failover != nil, tc.failover)
		}
		if tc.failover && (target.failover.Password != "s3cret" || target.failover.SentinelPassword != "s3cret" || target.failover.SentinelUsername != "su") {
			t.Errorf("%s: the primary's password is the password= parameter, the URL's credentials the sentinels': %+v", tc.want, target.failover)
		}
	}
	for _, bad := range []string{
		"redis://:s3cret@10.0.0.1:26379/0?master_name=m&password=prim%zzpw", // a raw '%' in the password
		"http://:s3cret@host:1", "redis://:s3cret@host:1/x", "redis://:s3cret@host:1?master_name=m&nonsense=s3cret",
		"redis://:s3cret@host:1?master_name=", "redis://:s3cret@host:1?master_name=m&addr=s3cret",
	} {
		err := CheckRedisURL(bad)
		if err == nil {
			t.Errorf("%s accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error quotes the password: %v", err)
		}
	}
}

// TestMirrorPushesBackAfterFailover: writes the primary acknowledged but
// never replicated (a log-out's tombstone, an avatar change) are lost by a
// failover, and the replicated epoch key hides it; the mirror notices the
// new primary's identity, pushes its local records back before serving from
// it, and never serves the stale record meanwhile.
func TestMirrorPushesBackAfterFailover(t *testing.T) {
	ha := testredis.StartHA(t, testredis.HAOptions{Replicas: 1, Sentinels: 1, DownAfter: 5 * time.Second})
	var logs testbin.Buffer
	m := mirrorOn(t, t.TempDir(), MirrorOptions{URL: ha.URL(), Persistent: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	defer func() {
		if t.Failed() {
			t.Logf("the mirror's log:\n%s", logs.String())
		}
	}()
	ctx := context.Background()
	if err := m.Set(ctx, "session:x", []byte("live"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(ctx, "avatar:bob", []byte("owl"), 0); err != nil {
		t.Fatal(err)
	}
	old, replica := ha.Nodes[0], ha.Nodes[1]
	rc := rawRedis(t, replica)
	testwait.Until(t, 10*time.Second, "the replica holding the records", func() bool {
		n, err := rc.Exists(ctx, "t:session:x", "t:avatar:bob").Result()
		return err == nil && n == 2
	})
	// What follows reaches the primary alone: the replica is stopped and
	// its link cut (the primary keeps the writes in its backlog for a
	// resync that never comes).
	replica.Pause()
	if err := rawRedis(t, old).ClientKillByFilter(ctx, "TYPE", "replica").Err(); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, "session:x"); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(ctx, "avatar:bob", []byte("fox"), 0); err != nil {
		t.Fatal(err)
	}
	old.Kill()
	replica.Resume()
	if _, to, err := ha.Failover(20 * time.Second); err != nil || to != replica {
		t.Fatalf("failed over to %v (%v), want the replica", to, err)
	}
	stale := 0
	testwait.Until(t, 10*time.Second, "the new primary holds the log-out's tombstone", func() bool {
		if v, err := m.Get(ctx, "session:x"); err == nil {
			stale++
			t.Logf("the ended session answered %q", v)
		}
		raw, err := rc.Get(ctx, "t:session:x").Bytes()
		return err == nil && decodeRecord(raw).deleted && m.up()
	})
	if stale > 0 {
		t.Errorf("the ended session answered %d times after the failover", stale)
	}
	if v, err := m.Get(ctx, "avatar:bob"); err != nil || string(v) != "fox" {
		t.Errorf("avatar after the failover: %q %v, want the last acknowledged fox", v, err)
	}
	if _, err := m.Get(ctx, "session:x"); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnavailable) {
		t.Errorf("ended session after the push-back: %v, want plainly not found", err)
	}
	// Right after the push-back, another instance may not have pushed its
	// records back yet: a key neither Redis nor this copy holds may be one
	// of them (a log-in must answer 503, not count a wrong password), and
	// a sign-up waits.
	if _, err := m.Get(ctx, "user:nobody"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a key nobody holds, right after the push-back: %v, want ErrUnavailable too", err)
	}
	if err := m.Create(ctx, "user:new", []byte("x"), 0); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a sign-up right after the push-back: %v, want ErrUnavailable", err)
	}
	testwait.Until(t, 2*failoverDoubt, "the doubt after the failover over", func() bool {
		_, err := m.Get(ctx, "user:nobody")
		return errors.Is(err, ErrNotFound) && !errors.Is(err, ErrUnavailable)
	})
	if err := m.Create(ctx, "user:new", []byte("x"), 0); err != nil {
		t.Errorf("a sign-up once the doubt is over: %v", err)
	}
}

// TestMirrorWaitsForItsPushBackOnANewPrimary: a read that meets a Redis
// restarted under it (another instance already refilled it) waits for this
// instance's own push-back and is answered from Redis, not from a local
// copy that never held the key.
func TestMirrorWaitsForItsPushBackOnANewPrimary(t *testing.T) {
	srv := testredis.Start(t)
	m := mirrorOn(t, t.TempDir(), MirrorOptions{URL: srv.URL(), Persistent: true})
	ctx := context.Background()
	if err := m.Set(ctx, "mine", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	rc := rawRedis(t, srv)
	other := encodeRecord(version(time.Now().UnixMicro(), "bbbbbbbbbbbb"), false, 0, []byte("cat"))
	if err := rc.Set(ctx, "t:avatar:alice", other, 0).Err(); err != nil {
		t.Fatal(err)
	}
	v, err := m.Get(ctx, "avatar:alice")
	if err != nil || string(v) != "cat" {
		t.Fatalf("read right after the restart: %q %v, want cat from redis", v, err)
	}
	if n, err := rc.Exists(ctx, "t:mine").Result(); err != nil || n != 1 {
		t.Fatalf("this instance's record not pushed back: %d %v", n, err)
	}
}
