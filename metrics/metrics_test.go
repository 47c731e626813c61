package metrics_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"soulbridge/metrics"
)

// TestNilCountsNothing: every counting method is safe on a nil *Metrics
// (the site without METRICS_ADDR).
func TestNilCountsNothing(t *testing.T) {
	var m *metrics.Metrics
	m.Request("/x", "GET", 200, time.Millisecond)
	m.LoginAttempt(metrics.LoginPassword, metrics.LoginSuccess)
	m.Signup(metrics.SignupSuccess)
	m.SessionStarted()
	m.SessionsEnded(metrics.EndLogout, 1)
	m.Throttled(metrics.ThrottleLogin)
	m.Upload(metrics.UploadStored)
	m.Decoded(time.Millisecond)
	m.Replayed(1)
	m.BreakerOpened()
	m.RedisCall(time.Millisecond)
}

// TestRequestLabels: a made-up method is counted as "other", a request no
// route matched as "unmatched", a pattern by its path; and the registry,
// gauges included, lints clean.
func TestRequestLabels(t *testing.T) {
	m := metrics.New()
	var matched, unmatched metrics.Route
	matched.Set("DELETE /account/sessions/{id}")
	m.Request(matched.Label(), "DELETE", 404, time.Millisecond)
	m.Request(unmatched.Label(), "BREW", 405, time.Millisecond)
	m.Request(unmatched.Label(), "GET", 404, time.Millisecond)
	m.Request(unmatched.Label(), "GET", 99, time.Millisecond)
	m.WatchMirror(fakeMirror{})
	m.WatchSessions(func(context.Context) (int, error) { return 7, nil }, time.Minute)

	if got := testutil.CollectAndCount(m.Registry(), "soulbridge_http_requests_total"); got != 4 {
		t.Errorf("%d request series, want 4", got)
	}
	for _, c := range []struct {
		route, method, status string
		want                  int
	}{
		{"/account/sessions/{id}", "DELETE", "404", 1},
		{"unmatched", "other", "405", 1},
		{"unmatched", "GET", "404", 1},
		{"unmatched", "GET", "other", 1},
		{"unmatched", "BREW", "405", 0},
	} {
		got := countOf(t, m, c.route, c.method, c.status)
		if got != c.want {
			t.Errorf("requests{route=%q,method=%q,status=%q} = %d, want %d", c.route, c.method, c.status, got, c.want)
		}
	}
	cache := `
# HELP soulbridge_mirror_cache_reads_total Reads of cached kinds (sessions, accounts, avatar choices) while the mirror serves, by result: hit (from memory), miss (from Redis), bypassed (from Redis: the link was in doubt).
# TYPE soulbridge_mirror_cache_reads_total counter
soulbridge_mirror_cache_reads_total{result="bypassed"} 1
soulbridge_mirror_cache_reads_total{result="hit"} 90
soulbridge_mirror_cache_reads_total{result="miss"} 9
# HELP soulbridge_mirror_cache_bytes Bytes the mirror's cache holds (bounded at 16 MiB).
# TYPE soulbridge_mirror_cache_bytes gauge
soulbridge_mirror_cache_bytes 4096
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(cache), "soulbridge_mirror_cache_reads_total", "soulbridge_mirror_cache_bytes"); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func countOf(t *testing.T, m *metrics.Metrics, route, method, status string) int {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "soulbridge_http_requests_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range s.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["route"] == route && l["method"] == method && l["status"] == status {
				return int(s.GetCounter().GetValue())
			}
		}
	}
	return 0
}

// fakeMirror stands for kv.Mirror's state here, where only the gauges'
// lint matters (e2e TestMetricsListener reads the real mirror's).
type fakeMirror struct{}

func (fakeMirror) Status() string   { return "ok" }
func (fakeMirror) OutboxLen() int64 { return 3 }
func (fakeMirror) CacheCounts() (hits, misses, bypassed uint64, bytes int64) {
	return 90, 9, 1, 4096
}

// BenchmarkRequest is the cost of counting one request (metrics on).
func BenchmarkRequest(b *testing.B) {
	m := metrics.New()
	var rt metrics.Route
	rt.Set("GET /community/avatar")
	b.ReportAllocs()
	for b.Loop() {
		m.Request(rt.Label(), "GET", 200, time.Millisecond)
	}
}
