package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"soulbridge/metrics"
)

// TestMetricsAfterScriptedRequests drives the real router through a
// scripted session and checks the exact counts: requests by route pattern
// (a wildcard route served on a copy of the request included), method and
// status, with fixed labels for 404, 405 and a made-up method; log-in
// attempts by method and result; sign-ups by result; sessions created and
// ended. The registry lints clean.
func TestMetricsAfterScriptedRequests(t *testing.T) {
	m := metrics.New()
	s := newSite(t, siteOptions{metrics: m})
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	steps := []struct {
		method, path string
		form         url.Values
		session      bool
		want         int
	}{
		{"POST", "/signup", form("username", "alice", "password", testPassword), false, http.StatusSeeOther},
		{"POST", "/signup", form("username", "alice", "password", testPassword), false, http.StatusConflict},
		{"POST", "/signup", form("username", "x", "password", testPassword), false, http.StatusBadRequest},
		{"POST", "/login", form("username", "alice", "password", "wrong password!"), false, http.StatusUnauthorized},
		{"POST", "/login", form("username", "nobody", "password", testPassword), false, http.StatusUnauthorized},
		{"POST", "/login", form("username", "alice", "password", testPassword), false, http.StatusSeeOther},
		{"POST", "/recover", form("username", "nobody", "code", "aaaa-bbbb-cccc", "new_password", "a new long password"), false, http.StatusBadRequest},
		{"GET", "/community/avatar", nil, true, http.StatusOK},
		{"DELETE", "/account/sessions/nosuchsession", nil, true, http.StatusNotFound},
		{"GET", "/no/such/page", nil, false, http.StatusNotFound},
		{"PUT", "/healthz", nil, false, http.StatusMethodNotAllowed},
		{"BREW", "/community", nil, false, http.StatusMethodNotAllowed},
		{"POST", "/logout", nil, true, http.StatusSeeOther},
	}
	var cookie *http.Cookie
	for _, st := range steps {
		r := req{method: st.method, path: st.path, form: st.form}
		if st.session {
			r.cookie = cookie
		}
		res := s.do(t, r)
		if res.status != st.want {
			t.Fatalf("%s %s: %d, want %d: %.200s", st.method, st.path, res.status, st.want, res.body)
		}
		if c := sessionCookie(res); c != nil && c.MaxAge >= 0 && c.Value != "" {
			cookie = &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}

	reg := m.Registry()
	want := `
# HELP soulbridge_http_requests_total HTTP requests answered, by route pattern, method and status.
# TYPE soulbridge_http_requests_total counter
soulbridge_http_requests_total{method="DELETE",route="/account/sessions/{id}",status="404"} 1
soulbridge_http_requests_total{method="GET",route="/community/avatar",status="200"} 1
soulbridge_http_requests_total{method="GET",route="unmatched",status="404"} 1
soulbridge_http_requests_total{method="POST",route="/login",status="303"} 1
soulbridge_http_requests_total{method="POST",route="/login",status="401"} 2
soulbridge_http_requests_total{method="POST",route="/logout",status="303"} 1
soulbridge_http_requests_total{method="POST",route="/recover",status="400"} 1
soulbridge_http_requests_total{method="POST",route="/signup",status="303"} 1
soulbridge_http_requests_total{method="POST",route="/signup",status="400"} 1
soulbridge_http_requests_total{method="POST",route="/signup",status="409"} 1
soulbridge_http_requests_total{method="PUT",route="unmatched",status="405"} 1
soulbridge_http_requests_total{method="other",route="unmatched",status="405"} 1
# HELP soulbridge_sessions_created_total Sessions started (log-in, sign-up, recovery, reset link).
# TYPE soulbridge_sessions_created_total counter
soulbridge_sessions_created_total 2
# HELP soulbridge_sessions_ended_total Sessions ended, by reason (expiry is not counted).
# TYPE soulbridge_sessions_ended_total counter
soulbridge_sessions_ended_total{reason="cap"} 0
soulbridge_sessions_ended_total{reason="deletion"} 0
soulbridge_sessions_ended_total{reason="logout"} 1
soulbridge_sessions_ended_total{reason="operator"} 0
soulbridge_sessions_ended_total{reason="password_change"} 0
soulbridge_sessions_ended_total{reason="revoked"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"soulbridge_http_requests_total",
		"soulbridge_sessions_created_total", "soulbridge_sessions_ended_total"); err != nil {
		t.Error(err)
	}
	// The results auth tells apart (auth's own test has every one).
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"soulbridge_login_attempts_total", map[string]string{"method": "password", "result": "success"}, 1},
		{"soulbridge_login_attempts_total", map[string]string{"method": "password", "result": "wrong_password"}, 1},
		{"soulbridge_login_attempts_total", map[string]string{"method": "password", "result": "unknown_user"}, 1},
		{"soulbridge_login_attempts_total", map[string]string{"method": "recovery", "result": "unknown_user"}, 1},
		{"soulbridge_signups_total", map[string]string{"result": "success"}, 1},
		{"soulbridge_signups_total", map[string]string{"result": "taken"}, 1},
		{"soulbridge_signups_total", map[string]string{"result": "invalid"}, 1},
	} {
		if got := sample(t, m, c.name, c.labels).GetCounter().GetValue(); got != c.want {
			t.Errorf("%s%v: %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := sample(t, m, "soulbridge_http_request_duration_seconds", map[string]string{"route": "/login", "method": "POST", "status": "401"}).GetHistogram().GetSampleCount(); got != 2 {
		t.Errorf("duration histogram of POST /login 401: %d observations, want 2", got)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// sample is the series name{labels} of m's registry (nil when absent: its
// getters then return zero).
func sample(t *testing.T, m *metrics.Metrics, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue series
				}
			}
			return s
		}
	}
	return nil
}
