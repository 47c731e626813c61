package kv

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisTarget is what REDIS_URL names: one Redis (redis:// or rediss://,
// go-redis' ParseURL form) or, when the URL has a master_name parameter, a
// primary found through Sentinels (go-redis' ParseFailoverURL form: the URL's
// host and every addr= parameter are Sentinels, the URL's credentials are
// the Sentinels', the primary's password is the password= parameter).
// Exactly one of plain and failover is set.
type redisTarget struct {
	plain    *redis.Options
	failover *redis.FailoverOptions
}

// errRedisURL is the one error a malformed REDIS_URL gets: go-redis' own
// messages may quote the URL, password included.
var errRedisURL = errors.New("kv: REDIS_URL is not a valid redis:// or rediss:// URL " +
	"(one Redis: redis://[user:password@]host:port/db; Sentinels: " +
	"redis://[sentinel-user:sentinel-password@]host:port/db?master_name=NAME&addr=host2:port&password=PRIMARY-PASSWORD)")

// parseRedisURL reads REDIS_URL, choosing the parser by the presence of a
// master_name parameter.
func parseRedisURL(raw string) (redisTarget, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return redisTarget{}, errRedisURL
	}
	// url.Query drops a parameter it cannot decode: a password with a raw
	// '%' would vanish, and the mirror would never come up.
	if _, err := url.ParseQuery(u.RawQuery); err != nil {
		return redisTarget{}, errRedisURL
	}
	if u.Query().Has("master_name") {
		fo, err := redis.ParseFailoverURL(raw)
		if err != nil || fo.MasterName == "" {
			return redisTarget{}, errRedisURL
		}
		return redisTarget{failover: fo}, nil
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return redisTarget{}, errRedisURL
	}
	return redisTarget{plain: o}, nil
}

// CheckRedisURL reports whether raw is a REDIS_URL the mirror accepts (one
// Redis or Sentinels), with an error that never quotes it.
func CheckRedisURL(raw string) error {
	_, err := parseRedisURL(raw)
	return err
}

// RedisTarget describes raw for the log, without any password: "redis
// host:port db N" or "sentinels host:port,… master NAME db N".
func RedisTarget(raw string) string {
	t, err := parseRedisURL(raw)
	if err != nil {
		return "invalid REDIS_URL"
	}
	return t.String()
}

func (t redisTarget) String() string {
	if t.failover != nil {
		f := t.failover
		s := fmt.Sprintf("sentinels %s master %s db %d", strings.Join(f.SentinelAddrs, ","), f.MasterName, f.DB)
		if f.TLSConfig != nil {
			s += " tls"
		}
		return s
	}
	s := fmt.Sprintf("redis %s db %d", t.plain.Addr, t.plain.DB)
	if t.plain.TLSConfig != nil {
		s += " tls"
	}
	return s
}

// client returns a go-redis client for the target with failFast's settings,
// readTimeout instead of its read timeout when > 0, and onConnect run on
// every new connection (nil for none). For Sentinels the client asks them
// for the primary on every new connection and drops its connections to a
// demoted one when they announce a switch (+switch-master).
func (t redisTarget) client(readTimeout time.Duration, onConnect func(context.Context, *redis.Conn) error) *redis.Client {
	if t.plain != nil {
		o := *t.plain
		failFast(&o)
		if readTimeout > 0 {
			o.ReadTimeout = readTimeout
		}
		o.OnConnect = onConnect
		return redis.NewClient(&o)
	}
	f := *t.failover
	var o redis.Options
	failFast(&o)
	f.DialTimeout, f.DialerRetries = o.DialTimeout, o.DialerRetries
	f.ReadTimeout, f.WriteTimeout = o.ReadTimeout, o.WriteTimeout
	f.ContextTimeoutEnabled = o.ContextTimeoutEnabled
	f.MaxRetries, f.MinRetryBackoff, f.MaxRetryBackoff = o.MaxRetries, o.MinRetryBackoff, o.MaxRetryBackoff
	f.PoolTimeout, f.ConnMaxIdleTime = o.PoolTimeout, o.ConnMaxIdleTime
	f.DisableIdentity, f.Protocol = o.DisableIdentity, o.Protocol
	if readTimeout > 0 {
		f.ReadTimeout = readTimeout
	}
	f.OnConnect = onConnect
	return redis.NewFailoverClient(&f)
}
