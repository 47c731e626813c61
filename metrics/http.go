package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"strings"
	"time"
)

// Route labels that are not a pattern of the router.
const (
	// Unmatched is the route of a request no pattern matched: the router's
	// own 404 and 405, a redirect to a cleaned path, and a request refused
	// before routing (a cross-origin 403, a session store failure).
	Unmatched = "unmatched"
	// OtherMethod is the method label of any method but the standard
	// ones, so a made-up method never becomes a label value.
	OtherMethod = "other"
)

// Route is the small mutable holder of a request's route pattern: the
// middleware that counts the request owns it, the router fills it in
// (Set). Handlers between them work on copies of the request
// (r.WithContext), so the pattern cannot come back on the request; the
// web layer carries the holder in its response writer, which every layer
// passes down as is (a holder in the context would cost a copy of the
// request and two allocations per request).
type Route struct{ pattern string }

// Set records the pattern that matched (one of the router's patterns, such
// as "GET /community/avatar").
func (rt *Route) Set(pattern string) { rt.pattern = pattern }

// Label is the route label: the pattern's path (its method is a label of
// its own), or Unmatched.
func (rt *Route) Label() string {
	p := rt.pattern
	if p == "" {
		return Unmatched
	}
	if i := strings.IndexByte(p, ' '); i >= 0 {
		return p[i+1:]
	}
	return p
}

// Request counts one answered request and its duration.
func (m *Metrics) Request(route, method string, status int, d time.Duration) {
	if m == nil {
		return // not counting
	}
	s := m.requestSeries(requestKey{route, methodLabel(method), status})
	s.count.Inc()
	s.duration.Observe(d.Seconds())
}

// requestKey names a request's series: its labels, the status unformatted.
type requestKey struct {
	route, method string
	status        int
}

// requestSeriesOf is the counter and histogram of one requestKey.
type requestSeriesOf struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// requestSeries returns k's series, kept in a map after the first request
// so a request costs one map read instead of two label look-ups (label
// strings hashed, vector locked) per series. The keys are bounded: route
// patterns, standard methods and the statuses the site answers.
func (m *Metrics) requestSeries(k requestKey) requestSeriesOf {
	m.seriesMu.RLock()
	s, ok := m.series[k]
	m.seriesMu.RUnlock()
	if ok {
		return s
	}
	code := statusLabel(k.status)
	s = requestSeriesOf{m.requests.WithLabelValues(k.route, k.method, code), m.duration.WithLabelValues(k.route, k.method, code)}
	m.seriesMu.Lock()
	m.series[k] = s
	m.seriesMu.Unlock()
	return s
}

var standardMethods = [...]string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodPut, http.MethodDelete,
	http.MethodPatch, http.MethodOptions, http.MethodConnect, http.MethodTrace}

// methodLabel is method when it is a standard one, else OtherMethod.
func methodLabel(method string) string {
	// The constants, not method: a label keeps its string, and the
	// request's may share memory with the connection's buffers.
	for _, known := range standardMethods {
		if method == known {
			return known
		}
	}
	return OtherMethod
}
