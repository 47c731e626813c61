package metrics

import (
	"context"
	"net/http"
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

// Route is the holder the outermost middleware puts in a request's
// context (WithRoute) and the router fills in (SetRoute): handlers below
// work on copies of the request (r.WithContext), and the pattern must
// still reach the middleware that counts the request.
type Route struct{ pattern string }

type routeKey struct{}

// WithRoute returns ctx carrying rt, which SetRoute fills in.
func WithRoute(ctx context.Context, rt *Route) context.Context {
	return context.WithValue(ctx, routeKey{}, rt)
}

// SetRoute records the pattern that matched the request of ctx (one of the
// router's patterns, such as "GET /community/avatar"); nothing without a
// holder (metrics off).
func SetRoute(ctx context.Context, pattern string) {
	if rt, ok := ctx.Value(routeKey{}).(*Route); ok {
		rt.pattern = pattern
	}
}

// Reset empties rt for the next request.
func (rt *Route) Reset() { rt.pattern = "" }

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
	method, code := methodLabel(method), statusLabel(status)
	m.requests.WithLabelValues(route, method, code).Inc()
	m.duration.WithLabelValues(route, method, code).Observe(d.Seconds())
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
