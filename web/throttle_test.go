package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"soulbridge/auth"
)

// TestLoginFloodGets429 (issue 10, row 1), through the real router: 150
// concurrent wrong-password log-ins from one address get at most IPLimit
// 401s and 429s with Retry-After for the rest; meanwhile a log-in from
// another address succeeds within a second (the hasher runs at
// DefaultParams, as in production).
func TestLoginFloodGets429(t *testing.T) {
	s := newSite(t, siteOptions{trustProxy: true, realHasher: true})
	s.signup(t, "alice")
	s.signup(t, "bob")
	const flood = 150
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts = map[int]int{}
		start  = make(chan struct{})
	)
	for range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res := s.do(t, req{method: "POST", path: "/login", header: map[string]string{"X-Real-IP": "203.0.113.7"},
				form: url.Values{"username": {"alice"}, "password": {"wrong password"}}})
			if res.status == http.StatusTooManyRequests {
				if ra, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || ra <= 0 {
					t.Errorf("429 with Retry-After %q", res.header.Get("Retry-After"))
				}
			}
			mu.Lock()
			counts[res.status]++
			mu.Unlock()
		}()
	}
	close(start)
	t0 := time.Now()
	res := s.do(t, req{method: "POST", path: "/login", header: map[string]string{"X-Real-IP": "198.51.100.20"},
		form: url.Values{"username": {"bob"}, "password": {testPassword}}})
	legit := time.Since(t0)
	wg.Wait()
	t.Logf("flood of %d: %v; legitimate log-in: %d in %v", flood, counts, res.status, legit)
	if res.status != http.StatusSeeOther {
		t.Errorf("legitimate log-in from another address: %d, want 303", res.status)
	}
	if legit > time.Second {
		t.Errorf("legitimate log-in took %v, want under 1s", legit)
	}
	if counts[http.StatusUnauthorized] > auth.IPLimit || counts[http.StatusUnauthorized]+counts[http.StatusTooManyRequests] != flood {
		t.Errorf("flood answers %v, want at most %d × 401 and the rest 429", counts, auth.IPLimit)
	}
}
