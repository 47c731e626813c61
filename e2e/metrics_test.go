package e2e

// Metrics (issue 22): the real binary with METRICS_ADDR serves every
// series on its own listener after a scripted session, lint clean and
// without personal data, while the public port answers 404 for /metrics.

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testimage"
	"soulbridge/internal/testredis"
)

func TestMetricsListener(t *testing.T) {
	testbin.SkipShort(t)
	rs := testredis.Start(t)
	maddr := "127.0.0.1:" + strconv.Itoa(testbin.FreePort(t))
	env := testbin.ServerEnv(t, filepath.Join(testbin.Root(t), "a"), testbin.Env{
		"SECRET_KEY": testbin.Key(t), "REDIS_URL": rs.URL(), "SESSION_KEY_PREFIX": mirrorPrefix, "METRICS_ADDR": maddr,
	})
	p := testbin.Start(t, "A", env)
	c := testbin.Client(t)
	waitFor(t, 5*time.Second, "redis ok", func() bool {
		return strings.Contains(testbin.Must(t, c, http.MethodGet, p.Base()+"/readyz", "", "", nil).Body, `"redis":"ok"`)
	})

	// The scripted session: a sign-up, a wrong password, a log-in, an
	// upload, a page that does not exist, a made-up method, an outage of
	// Redis with a write queued and replayed, a log-out.
	cookie := testbin.Signup(t, c, p.Base(), "metricsuser", "correct horse battery")
	form := url.Values{"username": {"metricsuser"}, "password": {"wrong password here"}}
	if r := testbin.Must(t, c, http.MethodPost, p.Base()+"/login", "", "application/x-www-form-urlencoded", strings.NewReader(form.Encode())); r.Status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", r.Status)
	}
	cookie = testbin.Form(t, c, p.Base(), "/login", "metricsuser", "correct horse battery")
	uploadAvatar(t, c, p.Base(), cookie, testimage.PNG(300, 200))
	if r := testbin.Must(t, c, http.MethodGet, p.Base()+"/no/such/page", "", "", nil); r.Status != http.StatusNotFound {
		t.Fatalf("unknown page: %d", r.Status)
	}
	if r := testbin.Must(t, c, "BREW", p.Base()+"/community", "", "", nil); r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("made-up method: %d", r.Status)
	}
	rs.Kill()
	if r, err := testbin.PutAvatar(c, p.Base(), cookie, "owl"); err != nil || r.Status != http.StatusOK {
		t.Fatalf("avatar change while Redis is down: %v %+v", err, r)
	}
	waitFor(t, 5*time.Second, "redis down", func() bool {
		return strings.Contains(testbin.Must(t, c, http.MethodGet, p.Base()+"/readyz", "", "", nil).Body, `"redis":"down"`)
	})
	downScrape := scrape(t, maddr)
	rs.StartAgain()
	waitFor(t, 10*time.Second, "redis ok again, outbox replayed", func() bool {
		return strings.Contains(testbin.Must(t, c, http.MethodGet, p.Base()+"/readyz", "", "", nil).Body, `"redis":"ok","outbox":0`)
	})
	if r := testbin.Must(t, c, http.MethodPost, p.Base()+"/logout", cookie, "", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("log-out: %d", r.Status)
	}

	body := scrape(t, maddr)
	for _, want := range []string{
		`soulbridge_http_requests_total{method="POST",route="/signup",status="303"} 1`,
		`soulbridge_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`soulbridge_http_requests_total{method="other",route="unmatched",status="405"} 1`,
		`soulbridge_http_request_duration_seconds_count{method="POST",route="/community/avatar/upload",status="200"} 1`,
		`soulbridge_login_attempts_total{method="password",result="wrong_password"} 1`,
		`soulbridge_login_attempts_total{method="password",result="success"} 1`,
		`soulbridge_login_attempts_total{method="recovery",result="unknown_user"} 0`,
		`soulbridge_signups_total{result="success"} 1`,
		`soulbridge_sessions_created_total 2`,
		`soulbridge_sessions_ended_total{reason="logout"} 1`,
		`soulbridge_sessions_active `,
		`soulbridge_mirror_up 1`,
		`soulbridge_mirror_outbox 0`,
		`soulbridge_mirror_cache_reads_total{result="hit"} `,
		`soulbridge_mirror_cache_bytes `,
		`soulbridge_mirror_breaker_openings_total `,
		`soulbridge_mirror_replayed_writes_total `,
		`soulbridge_redis_call_duration_seconds_count `,
		`soulbridge_store_size_bytes `,
		`soulbridge_disk_free_bytes `,
		`soulbridge_avatar_uploads_total{result="stored"} 1`,
		`soulbridge_avatar_decode_duration_seconds_count 1`,
		`soulbridge_throttle_refusals_total{kind="login"} 0`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(body, "\n"+want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(downScrape, "\nsoulbridge_mirror_up 0") || strings.Contains(downScrape, "\nsoulbridge_mirror_outbox 0") {
		t.Errorf("/metrics while Redis was down: want mirror_up 0 and a write in the outbox:\n%s", grepLines(downScrape, "soulbridge_mirror"))
	}
	for _, series := range []string{"soulbridge_mirror_breaker_openings_total", "soulbridge_mirror_replayed_writes_total", "soulbridge_sessions_active"} {
		if v := valueOf(body, series); v < 1 {
			t.Errorf("%s = %v after an outage with a write queued and a live session, want at least 1", series, v)
		}
	}
	for _, personal := range []string{"metricsuser", "127.0.0.1", cookie} {
		if strings.Contains(body, personal) {
			t.Errorf("/metrics shows %q", personal)
		}
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("lint: %s: %s", pr.Metric, pr.Text)
	}

	// The public port has no /metrics.
	if r := testbin.Must(t, c, http.MethodGet, p.Base()+"/metrics", "", "", nil); r.Status != http.StatusNotFound {
		t.Errorf("public GET /metrics: %d, want 404", r.Status)
	}
}

// scrape returns GET http://addr/metrics's body.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d %v", res.StatusCode, err)
	}
	return string(b)
}

// valueOf is the value of the unlabelled series name in body, or -1.
func valueOf(body, name string) float64 {
	_, rest, ok := strings.Cut(body, "\n"+name+" ")
	if !ok {
		return -1
	}
	line, _, _ := strings.Cut(rest, "\n")
	v, err := strconv.ParseFloat(line, 64)
	if err != nil {
		return -1
	}
	return v
}

// grepLines returns the lines of s that contain word.
func grepLines(s, word string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, word) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestMetricsBindFailureNotFatal: a METRICS_ADDR that cannot be bound (the
// port taken) is logged as an error and the site serves without metrics
// (README, "Metrics").
func TestMetricsBindFailureNotFatal(t *testing.T) {
	testbin.SkipShort(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	env := testbin.ServerEnv(t, filepath.Join(testbin.Root(t), "a"), testbin.Env{
		"SECRET_KEY": testbin.Key(t), "METRICS_ADDR": taken.Addr().String(),
	})
	p := testbin.Start(t, "A", env)
	p.WaitOutput("metrics listener failed", 5*time.Second)
	testbin.Signup(t, testbin.Client(t), p.Base(), "stillserving", "correct horse battery")
}
