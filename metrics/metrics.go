// Package metrics is soulbridge's Prometheus instrumentation: the series
// under the soulbridge_ namespace (README, "Metrics"), counted through
// small methods the other packages call at their call sites (each declares
// the interface it needs), and the handler served on its own listener
// (METRICS_ADDR, main's metrics.go).
//
// A nil *Metrics counts nothing: every counting method is safe to call on
// it, so a site without METRICS_ADDR pays one nil check per call. Labels
// are fixed words chosen by the code (a route pattern, a method from a
// fixed set, a result); never a username, an address or a session id.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "soulbridge"

// Metrics holds the registry and every series counted on the request path.
type Metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	seriesMu        sync.RWMutex
	series          map[requestKey]requestSeriesOf // http.go
	logins          *prometheus.CounterVec
	signups         *prometheus.CounterVec
	sessionsCreated prometheus.Counter
	sessionsEnded   *prometheus.CounterVec
	throttled       *prometheus.CounterVec
	uploads         *prometheus.CounterVec
	decode          prometheus.Histogram
	replayed        prometheus.Counter
	breaker         prometheus.Counter
	redis           prometheus.Histogram
}

// New returns Metrics with every series registered (at zero), the Go
// runtime and the process collectors included.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), series: make(map[requestKey]requestSeriesOf)}
	f := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	}
	m.requests = f("http_requests_total", "HTTP requests answered, by route pattern, method and status.", "route", "method", "status")
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route pattern, method and status.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
	}, []string{"route", "method", "status"})
	m.logins = f("login_attempts_total", "Credential attempts (log-in by password or passkey, recovery by code), by method and result.", "method", "result")
	m.signups = f("signups_total", "Sign-up attempts, by result.", "result")
	m.sessionsCreated = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "sessions_created_total",
		Help: "Sessions started (log-in, sign-up, recovery, reset link)."})
	m.sessionsEnded = f("sessions_ended_total", "Sessions ended, by reason (expiry is not counted).", "reason")
	m.throttled = f("throttle_refusals_total", "Requests refused by a throttle (429), by kind.", "kind")
	m.uploads = f("avatar_uploads_total", "Avatar uploads, by result (stored, or the refusal's reason).", "result")
	m.decode = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "avatar_decode_duration_seconds",
		Help:    "Time to decode, crop and re-encode an uploaded avatar image.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}})
	m.replayed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "mirror_replayed_writes_total",
		Help: "Writes queued in the outbox while Redis was down and replayed to it since."})
	m.breaker = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "mirror_breaker_openings_total",
		Help: "Times a failed Redis call turned the mirror down (served from the local copy)."})
	m.redis = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "redis_call_duration_seconds",
		Help:    "Time of each Redis call (a command or a pipeline) the mirror makes.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5}})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.logins, m.signups, m.sessionsCreated, m.sessionsEnded,
		m.throttled, m.uploads, m.decode, m.replayed, m.breaker, m.redis,
	)
	// Every label value known in advance starts at zero, so a rate over
	// a series that has not moved yet is 0, not absent.
	for _, method := range []string{LoginPassword, LoginRecovery, LoginPasskey} {
		for _, result := range []string{LoginSuccess, LoginWrongPassword, LoginUnknownUser, LoginThrottled, LoginLocked, LoginUnavailable} {
			m.logins.WithLabelValues(method, result)
		}
	}
	zero := func(v *prometheus.CounterVec, values ...string) {
		for _, value := range values {
			v.WithLabelValues(value)
		}
	}
	zero(m.signups, SignupSuccess, SignupInvalid, SignupTaken, SignupThrottled, SignupUnavailable)
	zero(m.sessionsEnded, EndLogout, EndRevoked, EndPasswordChange, EndCap, EndDeletion, EndOperator)
	zero(m.throttled, ThrottleLogin, ThrottleRecovery, ThrottleSignup, ThrottleMailLink, ThrottlePassword, ThrottleUpload)
	zero(m.uploads, UploadStored)
	return m
}

// Registry is where the series are registered (for tests and the handler).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Login attempt methods and results (soulbridge_login_attempts_total).
const (
	LoginPassword = "password"
	LoginRecovery = "recovery"
	LoginPasskey  = "passkey"

	LoginSuccess       = "success"
	LoginWrongPassword = "wrong_password"
	LoginUnknownUser   = "unknown_user"
	LoginThrottled     = "throttled"
	LoginLocked        = "locked"
	LoginUnavailable   = "unavailable"
)

// LoginAttempt counts one credential attempt.
func (m *Metrics) LoginAttempt(method, result string) {
	if m != nil {
		m.logins.WithLabelValues(method, result).Inc()
	}
}

// Sign-up results (soulbridge_signups_total).
const (
	SignupSuccess     = "success"
	SignupInvalid     = "invalid"
	SignupTaken       = "taken"
	SignupThrottled   = "throttled"
	SignupUnavailable = "unavailable"
)

// Signup counts one sign-up attempt.
func (m *Metrics) Signup(result string) {
	if m != nil {
		m.signups.WithLabelValues(result).Inc()
	}
}

// SessionStarted counts a new session.
func (m *Metrics) SessionStarted() {
	if m != nil {
		m.sessionsCreated.Inc()
	}
}

// Reasons a session ends (soulbridge_sessions_ended_total); expiry is
// silent and not counted.
const (
	EndLogout         = "logout"
	EndRevoked        = "revoked"
	EndPasswordChange = "password_change"
	EndCap            = "cap"
	EndDeletion       = "deletion"
	EndOperator       = "operator"
)

// SessionsEnded counts n sessions ended for reason.
func (m *Metrics) SessionsEnded(reason string, n int) {
	if m != nil && n > 0 {
		m.sessionsEnded.WithLabelValues(reason).Add(float64(n))
	}
}

// Throttle kinds (soulbridge_throttle_refusals_total).
const (
	ThrottleLogin    = "login"
	ThrottleRecovery = "recovery"
	ThrottleSignup   = "signup"
	ThrottleMailLink = "mail_link"
	ThrottlePassword = "password_confirm"
	ThrottleUpload   = "upload"
)

// Throttled counts a request refused by the throttle of kind.
func (m *Metrics) Throttled(kind string) {
	if m != nil {
		m.throttled.WithLabelValues(kind).Inc()
	}
}

// UploadStored is the upload result of an image stored; the others are
// refusal reasons (web/metrics.go).
const UploadStored = "stored"

// Upload counts an avatar upload's result (UploadStored or a refusal reason).
func (m *Metrics) Upload(result string) {
	if m != nil {
		m.uploads.WithLabelValues(result).Inc()
	}
}

// Decoded records the time an uploaded image took to decode and re-encode.
func (m *Metrics) Decoded(d time.Duration) {
	if m != nil {
		m.decode.Observe(d.Seconds())
	}
}

// Replayed counts n outbox writes replayed to Redis.
func (m *Metrics) Replayed(n int) {
	if m != nil && n > 0 {
		m.replayed.Add(float64(n))
	}
}

// BreakerOpened counts the mirror turning down after a failed Redis call.
func (m *Metrics) BreakerOpened() {
	if m != nil {
		m.breaker.Inc()
	}
}

// RedisCall records the time of one Redis call.
func (m *Metrics) RedisCall(d time.Duration) {
	if m != nil {
		m.redis.Observe(d.Seconds())
	}
}

// statusText keeps the status label's strings for the codes the site
// answers, so counting a request formats no number.
var statusText = func() (t [600]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func statusLabel(code int) string {
	if code >= 100 && code < len(statusText) {
		return statusText[code]
	}
	return "other"
}
