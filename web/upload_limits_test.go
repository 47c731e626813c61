package web_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testimage"
	"soulbridge/web"
)

// uploadFrom posts data as user's upload from the client address ip (the
// site trusts X-Real-IP).
func (s *site) uploadFrom(t *testing.T, cookie *http.Cookie, ip string, data []byte) resp {
	t.Helper()
	r := uploadReq(t, data)
	r.method, r.path, r.cookie = "POST", "/community/avatar/upload", cookie
	r.header["Accept"] = "application/json"
	r.header["X-Real-IP"] = ip
	return s.do(t, r)
}

// TestUploadRefusedAsImage: files refused once their headers are read are
// 422 with a reason a person understands: dimensions, files that do not
// decode, and files whose decode would cost more than an upload may (scan
// bombs, a four-component JPEG).
func TestUploadRefusedAsImage(t *testing.T) {
	s := newSite(t, siteOptions{uploadInterval: time.Millisecond})
	cookie := s.signup(t, "alice")
	truncated := testimage.PNG(300, 300)
	truncated = truncated[:len(truncated)/2]
	for _, tc := range []struct {
		name, data, says string
	}{
		{"png claiming 100000×100000", string(testimage.PNGHeader(100000, 100000)), "at most 4096 pixels"},
		{"png 4097 wide", string(testimage.PNGHeader(4097, 10)), "at most 4096 pixels"},
		{"truncated png", string(truncated), "damaged or incomplete"},
		{"progressive scan bomb", string(testimage.ScanBomb(4096, 4096, 500)), "passes (scans)"},
		{"four-component JPEG", string(testimage.CMYKBomb(4096, 4096)), "MB of memory"},
		{"16-bit PNG", string(testimage.PNGHeaderOf(4096, 4096, 16, 6, 0)), "MB of memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			time.Sleep(2 * time.Millisecond) // the window after the previous refusal
			for _, accept := range []string{"", "application/json"} {
				time.Sleep(2 * time.Millisecond)
				r := uploadReq(t, []byte(tc.data))
				r.method, r.path, r.cookie = "POST", "/community/avatar/upload", cookie
				r.header["Accept"] = accept
				res := s.do(t, r)
				if res.status != http.StatusUnprocessableEntity {
					t.Fatalf("Accept %q: %d, want 422: %.300s", accept, res.status, res.body)
				}
				if accept == "" {
					isHTML(t, "form post", res)
				} else if msg := jsonError(t, "JSON upload", res); !strings.Contains(msg, tc.says) {
					t.Errorf("message %q does not say %q", msg, tc.says)
				}
			}
		})
	}
}

// TestRefusedUploadCountsTowardTheWindow: an upload refused as an image
// (422) makes its account and its address wait as a stored one does, so a
// bomb cannot be sent again at once; another account at another address is
// not held up. Before, refused uploads did not count.
func TestRefusedUploadCountsTowardTheWindow(t *testing.T) {
	s := newSite(t, siteOptions{trustProxy: true})
	alice, bob, carol := s.signup(t, "alice"), s.signup(t, "bob"), s.signup(t, "carol")
	bomb := testimage.ScanBomb(4096, 4096, 100)
	if res := s.uploadFrom(t, alice, "192.0.2.1", bomb); res.status != http.StatusUnprocessableEntity {
		t.Fatalf("scan bomb: %d %s, want 422", res.status, res.body)
	}
	for _, tc := range []struct {
		who    string
		cookie *http.Cookie
		ip     string
	}{
		{"the same account at another address", alice, "192.0.2.2"},
		{"another account at the same address", bob, "192.0.2.1"},
	} {
		res := s.uploadFrom(t, tc.cookie, tc.ip, bomb)
		if res.status != http.StatusTooManyRequests {
			t.Fatalf("%s right after a refusal: %d %s, want 429", tc.who, res.status, res.body)
		}
		if ra, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || ra < 1 || ra > 5 {
			t.Fatalf("%s: Retry-After %q, want 1..5", tc.who, res.header.Get("Retry-After"))
		}
	}
	avatarDoc(t, "another account at another address", s.uploadFrom(t, carol, "192.0.2.3", testimage.PNG(32, 32)))
}

// slowUpload starts an upload whose body is held open after its first
// bytes; finish ends the body (the upload is then refused as malformed) and
// returns the response.
func (s *site) slowUpload(t *testing.T, cookie *http.Cookie, ip string) (finish func() resp) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan resp, 1)
	go func() {
		done <- s.do(t, req{method: "POST", path: "/community/avatar/upload", cookie: cookie, bodyReader: pr,
			header: map[string]string{"Content-Type": "multipart/form-data; boundary=x", "Accept": "application/json", "X-Real-IP": ip}})
	}()
	go func() {
		_, _ = pw.Write([]byte("--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n\x89PNG"))
	}()
	return func() resp {
		_ = pw.Close()
		return <-done
	}
}

// waitForGate sends probes (an SVG: refused 415 once admitted, and never
// counted) as cookie from ip until one is refused with 429, that is, until
// the upload that should hold the gate does; it fails the test after 5 s.
func (s *site) waitForGate(t *testing.T, what string, cookie *http.Cookie, ip string) resp {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res := s.uploadFrom(t, cookie, ip, []byte(testimage.SVG))
		if res.status == http.StatusTooManyRequests {
			return res
		}
		if res.status != http.StatusUnsupportedMediaType || time.Now().After(deadline) {
			t.Fatalf("%s: %d %s, want 429 while an upload is in flight", what, res.status, res.body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOneUploadInFlightPerAccountAndAddress: while an upload's body is
// still arriving, the same account (from anywhere) and the same address
// (an IPv6 address as its /64, whichever account) get 429 with
// Retry-After; other accounts at other addresses upload as usual. Before,
// one account's eight slow bodies took every upload slot and everyone else
// got 503.
func TestOneUploadInFlightPerAccountAndAddress(t *testing.T) {
	s := newSite(t, siteOptions{trustProxy: true})
	alice, bob, carol := s.signup(t, "alice"), s.signup(t, "bob"), s.signup(t, "carol")
	var held []func() resp
	for i := range 8 { // alice's eight slow bodies, from eight addresses of one /64
		held = append(held, s.slowUpload(t, alice, fmt.Sprintf("2001:db8::%x", i+1)))
	}
	res := s.waitForGate(t, "alice from another address", alice, "2001:db8:ff::1")
	if ra, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After %q", res.header.Get("Retry-After"))
	}
	s.waitForGate(t, "bob from alice's /64", bob, "2001:db8:0:0:ffff::2")
	avatarDoc(t, "carol from another /64, while alice's bodies are held", s.uploadFrom(t, carol, "2001:db8:0:1::1", testimage.PNG(32, 32)))
	admitted := 0
	for _, finish := range held {
		switch res := finish(); res.status {
		case http.StatusBadRequest:
			admitted++ // its body ended before its image: malformed
		case http.StatusTooManyRequests:
		default:
			t.Errorf("a slow upload ended with %d %s", res.status, res.body)
		}
	}
	if admitted != 1 {
		t.Errorf("%d of alice's slow uploads were admitted, want 1", admitted)
	}
	// The gate is open again.
	avatarDoc(t, "bob once alice's uploads ended", s.uploadFrom(t, bob, "2001:db8::2", testimage.PNG(33, 32)))
}

// TestSlowUploadIsCutOff: a body that arrives below the minimum rate is
// cut off with 408 once a window passes without its quota; one that
// arrives slowly but steadily above the rate is received in full, however
// long it takes (no fixed deadline). The rate is lowered for the test.
func TestSlowUploadIsCutOff(t *testing.T) {
	s := newSite(t, siteOptions{})
	web.SetUploadRate(s.server, 4<<10, 300*time.Millisecond)
	cookie := s.signup(t, "alice")
	pic := testimage.JPEGWithGPS(1200, 900) // about 60 KiB
	body, ct := multipartBody(t, "file", "a.png", pic, nil)

	trickle := func(chunk int, every time.Duration) resp {
		pr, pw := io.Pipe()
		go func() {
			for b := []byte(body); len(b) > 0; b = b[min(chunk, len(b)):] {
				if _, err := pw.Write(b[:min(chunk, len(b))]); err != nil {
					return
				}
				time.Sleep(every)
			}
			_ = pw.Close()
		}()
		defer pr.Close()
		return s.do(t, req{method: "POST", path: "/community/avatar/upload", cookie: cookie, bodyReader: pr,
			header: map[string]string{"Content-Type": ct, "Accept": "application/json"}})
	}
	if res := trickle(64, 50*time.Millisecond); res.status != http.StatusRequestTimeout {
		t.Fatalf("a body at 1.3 KiB/s, under 4 KiB per 300 ms: %d %.200s, want 408", res.status, res.body)
	}
	start := time.Now()
	res := trickle(4<<10, 100*time.Millisecond)
	avatarDoc(t, "a steady body at 40 KiB/s", res)
	if took := time.Since(start); took < 3*300*time.Millisecond {
		t.Fatalf("the steady body took %v; the test wants one longer than a few windows (make the picture larger)", took)
	}
}
