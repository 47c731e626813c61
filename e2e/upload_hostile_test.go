package e2e

// Hostile uploads against the real binary (issue 17): scan bombs are
// refused from their headers and never hold the decode slot, and one
// account's slow bodies do not occupy the upload path, so everyone else's
// uploads go on. Timing is bench/uploads.sh's to measure; the clients'
// timeouts here only keep a hung server from hanging the test.

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testimage"
)

// uploadStatus posts data as the session's upload from address ip (the
// server trusts X-Real-IP) and returns the status, or 0 when no answer
// came within the client's timeout.
func uploadStatus(c *http.Client, base, cookie, ip string, body io.Reader, contentType string) int {
	req, err := http.NewRequest(http.MethodPost, base+"/community/avatar/upload", body)
	if err != nil {
		return -1
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cookie", testbin.SessionCookie+"="+cookie)
	req.Header.Set("X-Real-IP", ip)
	res, err := c.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func multipartFile(t *testing.T, data []byte) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, err := mw.CreateFormFile("file", "upload")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(data)
	_ = mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

// TestHostileUploadsLeaveTheSiteServing: while three accounts each send a
// progressive-JPEG scan bomb (6,000 scans over a 4096×4096 image: half a
// minute of decoding each before), a fourth account's small PNG is stored;
// while another account holds eight slow bodies (a byte a second: before,
// they took every upload slot), seven of them are refused with 429 and a
// fifth account's PNG is stored; the one admitted is cut off by the
// minimum rate.
func TestHostileUploadsLeaveTheSiteServing(t *testing.T) {
	testbin.SkipShort(t)
	env := keyedEnv(t, filepath.Join(testbin.Root(t), "data"))
	env["TRUST_PROXY_HEADERS"] = "true"
	p := testbin.Start(t, "server", env)
	c := testbin.Client(t)
	c.Timeout = 20 * time.Second
	var cookies []string
	for _, name := range []string{"amy", "ben", "cat", "dan", "eve", "fay"} {
		cookies = append(cookies, testbin.Signup(t, c, p.Base(), name, "correct horse battery"))
	}
	small, smallCT := multipartFile(t, testimage.PNG(64, 64))

	bomb, bombCT := multipartFile(t, testimage.ScanBomb(4096, 4096, 6000))
	bombs := make([]int, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			bombs[i] = uploadStatus(c, p.Base(), cookies[i], "198.51.100."+strconv.Itoa(i+1), bytes.NewReader(bomb), bombCT)
		})
	}
	if got := uploadStatus(c, p.Base(), cookies[3], "198.51.100.4", bytes.NewReader(small), smallCT); got != http.StatusOK {
		t.Errorf("a small PNG while three scan bombs are sent: %d, want 200", got)
	}
	wg.Wait()
	for i, got := range bombs {
		if got != http.StatusUnprocessableEntity {
			t.Errorf("scan bomb %d: %d, want 422", i, got)
		}
	}

	slow := &http.Client{Timeout: 60 * time.Second}
	statuses := make(chan int, 8)
	var pipes []*io.PipeWriter
	for range 8 {
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		go func() {
			statuses <- uploadStatus(slow, p.Base(), cookies[5], "203.0.113.1", pr, "multipart/form-data; boundary=x")
		}()
		go func() {
			_, _ = pw.Write([]byte("--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n"))
			for range 30 {
				time.Sleep(time.Second)
				if _, err := pw.Write([]byte{0}); err != nil {
					return
				}
			}
		}()
	}
	first := <-statuses // a refusal: another of the eight holds the gate
	if got := uploadStatus(c, p.Base(), cookies[4], "198.51.100.5", bytes.NewReader(small), smallCT); got != http.StatusOK {
		t.Errorf("a small PNG while another account holds a slow body: %d, want 200", got)
	}
	counts := map[int]int{first: 1}
	for range 7 {
		select {
		case got := <-statuses:
			counts[got]++
		case <-time.After(40 * time.Second):
			t.Fatalf("after 40 s the slow uploads had ended with %v", counts)
		}
	}
	for _, pw := range pipes {
		_ = pw.Close()
	}
	// Seven refused at once; the admitted one cut off by the minimum rate
	// (a byte a second) after its first window.
	if counts[http.StatusTooManyRequests] != 7 || counts[http.StatusRequestTimeout] != 1 {
		t.Errorf("an account's eight slow uploads ended with %v, want seven 429 and one 408", counts)
	}
}
