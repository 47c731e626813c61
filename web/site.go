package web

import (
	"context"
	"log/slog"
	"runtime"
	"time"

	"soulbridge/assets"
	"soulbridge/auth"
	"soulbridge/avatar"
	"soulbridge/metrics"
	"soulbridge/passkey"
	"soulbridge/session"
)

// Store is what a site is built over: the store methods the session, auth
// and avatar packages declare, and Ping for /readyz. kv's stores satisfy it.
type Store interface {
	session.Store
	auth.Store
	avatar.Store
	Pinger
}

// SiteConfig is what NewSite needs besides the store.
type SiteConfig struct {
	// Keys signs session cookies: Keys[0] is current, the rest are previous
	// keys still accepted (see session.Config).
	Keys [][]byte
	// IdleLifetime and MaxLifetime are the sessions' sliding and absolute
	// lifetimes; both must be positive.
	IdleLifetime time.Duration
	MaxLifetime  time.Duration
	// Hasher hashes passwords; nil means auth.DefaultParams with at most
	// GOMAXPROCS hashes at once.
	Hasher *auth.Hasher
	// TrustProxyHeaders takes the client IP from X-Real-IP (else the last
	// X-Forwarded-For address) and the scheme from X-Forwarded-Proto.
	TrustProxyHeaders bool
	// Persistent and Version are reported by /readyz.
	Persistent bool
	Version    string
	// Counter, if set, shares log-in throttle counts between instances.
	Counter auth.SharedCounter
	// Logger receives the site's log; nil discards it.
	Logger *slog.Logger
	// Mirror reports the Redis mirror's state; nil means disabled.
	Mirror MirrorState
	// Disk reports the data volume (free space, read-only when full); nil
	// means not reported.
	Disk DiskState
	// UploadInterval is the least time between two stored avatar uploads
	// of one user; 0 means avatar.DefaultUploadInterval.
	UploadInterval time.Duration
	// Mailer, if set, sends the optional e-mails (address confirmation,
	// reset links); PublicURL starts their links.
	Mailer    Mailer
	PublicURL string
	// Passkeys is the passkey relying party; nil turns passkeys off.
	Passkeys *passkey.RP
	// Metrics, if set, counts what the site and its services do.
	Metrics *metrics.Metrics
}

// sharedTier reports whether the store sees every instance's writes: always
// without a mirror, while it is up with one. Uploads need it, and uploaded
// images are only removed while it holds.
func sharedTier(m MirrorState) func() bool {
	if m == nil {
		return func() bool { return true }
	}
	return func() bool { return m.Status() == "ok" }
}

// NewSite wires the site over store: the session manager, the account and
// avatar services, the embedded assets, and the Server over them. It is the
// one place this wiring is written (serve.go's newHandler and the web tests
// both use it).
func NewSite(store Store, cfg SiteConfig) (*Server, error) {
	hasher := cfg.Hasher
	if hasher == nil {
		var err error
		if hasher, err = auth.NewHasher(auth.DefaultParams, runtime.GOMAXPROCS(0)); err != nil {
			return nil, err
		}
	}
	accounts, err := auth.New(store, auth.Config{Hasher: hasher, Shared: cfg.Counter, Metrics: cfg.Metrics})
	if err != nil {
		return nil, err
	}
	sessions, err := session.New(store, session.Config{
		Keys:        cfg.Keys,
		IdleTimeout: cfg.IdleLifetime,
		MaxLifetime: cfg.MaxLifetime,
		Logger:      cfg.Logger,
		Accounts:    accounts,
		Metrics:     cfg.Metrics,

		TrustProxyHeaders: cfg.TrustProxyHeaders,
	})
	if err != nil {
		return nil, err
	}
	ensureSessionIndex(sessions, cfg.Logger)
	avatars, err := avatar.New(store, avatar.Config{Shared: sharedTier(cfg.Mirror), UploadInterval: cfg.UploadInterval, Metrics: cfg.Metrics})
	if err != nil {
		return nil, err
	}
	static, err := assets.New()
	if err != nil {
		return nil, err
	}
	return New(Deps{
		Sessions:          sessions,
		Auth:              accounts,
		Avatars:           avatars,
		Assets:            static,
		Store:             store,
		Logger:            cfg.Logger,
		TrustProxyHeaders: cfg.TrustProxyHeaders,
		Persistent:        cfg.Persistent,
		Version:           cfg.Version,
		Mirror:            cfg.Mirror,
		Disk:              cfg.Disk,
		DeviceKeys:        cfg.Keys,
		Mailer:            cfg.Mailer,
		PublicURL:         cfg.PublicURL,
		Passkeys:          cfg.Passkeys,
		Metrics:           cfg.Metrics,
	}), nil
}

// ensureSessionIndex builds the per-user session index if the store has
// none yet (sessions begun by a release before it: see
// session.Manager.EnsureIndex), before the port is bound. A failure (the
// shared tier down on an instance that cannot queue writes, a full volume)
// is logged, not fatal: sessions keep working, the account page misses
// those older sessions, and the next start tries again.
func ensureSessionIndex(sessions *session.Manager, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n, err := sessions.EnsureIndex(context.Background())
	switch {
	case err != nil:
		log.Warn("building the per-user session index failed; the account page will not list older sessions until a start that succeeds", "indexed", n, "err", err)
	case n > 0:
		log.Info("built the per-user session index for sessions from before it", "sessions", n)
	}
}
