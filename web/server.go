// Package web is soulbridge's HTTP layer: every route (routes.go), one file
// per page or resource (landing.go, signup.go, login.go, logout.go,
// community.go, avatar_api.go, account.go, account_sessions.go, health.go)
// whose handlers return errors to one translator (errors.go), the middleware
// (middleware.go) and the helpers that read a request (request.go).
package web

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"soulbridge/assets"
	"soulbridge/auth"
	"soulbridge/avatar"
	"soulbridge/kv"
	"soulbridge/metrics"
	"soulbridge/passkey"
	"soulbridge/session"
)

// MirrorState is the Redis mirror's state as /readyz reports it
// (kv.Mirror keeps it).
type MirrorState interface {
	// Status is "ok" while Redis serves, else "down".
	Status() string
	// OutboxLen is the number of writes waiting to be replayed to Redis.
	OutboxLen() int64
}

// DiskState reports the data volume as /readyz shows it (kv.Badger keeps
// it: free space, and whether a full volume makes the store read-only).
type DiskState interface {
	DiskStatus() kv.DiskStatus
}

// Pinger checks that the store can serve.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps is what the web layer is built from.
type Deps struct {
	Sessions *session.Manager
	Auth     *auth.Service
	Avatars  *avatar.Service
	Assets   *assets.Assets
	Store    Pinger
	Logger   *slog.Logger
	// TrustProxyHeaders takes the client IP from X-Real-IP (else the last
	// X-Forwarded-For address) and the scheme from X-Forwarded-Proto.
	TrustProxyHeaders bool
	// Persistent and Version are reported by /readyz.
	Persistent bool
	Version    string
	// Mirror reports the Redis mirror's state; nil means disabled.
	Mirror MirrorState
	// Disk reports the data volume; nil means not reported.
	Disk DiskState
	// DeviceKeys sign device cookies (web/device.go): current first, then
	// previous keys still accepted; none means no device cookies.
	DeviceKeys [][]byte
	// Mailer, if set, enables the e-mail address and "e-mail me a link"
	// (web/mail.go); PublicURL (no trailing slash) starts the mailed links.
	Mailer    Mailer
	PublicURL string
	// Passkeys is the passkey relying party; nil turns passkeys off. Their
	// challenges are signed under a key derived from DeviceKeys[0].
	Passkeys *passkey.RP
	// Metrics counts requests and what they did (README, "Metrics"); nil
	// counts nothing.
	Metrics *metrics.Metrics
}

// Server is the site's HTTP handler.
type Server struct {
	sessions   *session.Manager
	auth       *auth.Service
	avatars    *avatar.Service
	assets     *assets.Assets
	store      Pinger
	log        *slog.Logger
	trustProxy bool
	persistent bool
	version    string
	mirror     MirrorState
	disk       DiskState
	devices    *deviceCodec
	// uploadGate admits uploads (per account, per address, in all) and
	// uploadBytes is the memory their bodies are read into (upload_gate.go,
	// upload_body.go).
	uploadGate  *uploadGate
	uploadBytes *byteBudget
	uploadRate  minRate
	// avatarBodies keeps encoded GET /community/avatar bodies (avatar_cache.go).
	avatarBodies *avatarBodies
	// mail is nil when the site sends no mail; publicURL starts its links.
	mail      Mailer
	publicURL string
	// activityLog writes members' security events off the request path
	// (activity.go).
	activityLog *activityRecorder
	// rp is nil when passkeys are off (web/passkeys.go).
	rp            *passkey.RP
	challenges    *passkey.Challenges
	challengeRate *auth.Throttle
	// metrics is nil when nothing is counted (no METRICS_ADDR).
	metrics *metrics.Metrics

	handler http.Handler
}

// New builds the Server and its routes.
func New(d Deps) *Server {
	s := &Server{
		sessions:    d.Sessions,
		auth:        d.Auth,
		avatars:     d.Avatars,
		assets:      d.Assets,
		store:       d.Store,
		log:         d.Logger,
		trustProxy:  d.TrustProxyHeaders,
		persistent:  d.Persistent,
		version:     d.Version,
		mirror:      d.Mirror,
		disk:        d.Disk,
		devices:     newDeviceCodec(d.DeviceKeys),
		uploadGate:  newUploadGate(time.Now, refusalPause(d.Avatars)),
		uploadBytes: newByteBudget(maxUploadBytesHeld),
		uploadRate:  uploadRate(),

		avatarBodies: newAvatarBodies(),
		mail:         d.Mailer,
		publicURL:    strings.TrimRight(d.PublicURL, "/"),
		metrics:      d.Metrics,

		challengeRate: auth.NewThrottle(challengeLimit, challengeWindow, 100_000, time.Now),
	}
	if d.Passkeys != nil && len(d.DeviceKeys) > 0 {
		s.rp, s.challenges = d.Passkeys, passkey.NewChallenges(d.DeviceKeys[0], nil)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.activityLog = newActivityRecorder(d.Auth, s.log)
	s.activityLog.after = s.mailNewDevice
	s.handler = s.routes()
	return s
}

// refusalPause is how long a sender waits after an upload refused as an
// image: the avatar service's upload interval (its default without one).
func refusalPause(avatars *avatar.Service) time.Duration {
	if avatars == nil {
		return avatar.DefaultUploadInterval
	}
	return avatars.UploadInterval()
}

// ServeHTTP serves the site.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }
