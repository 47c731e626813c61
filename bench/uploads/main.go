// Command uploads measures what hostile and honest avatar uploads cost the
// real server (issue 17): for each kind of input, a fresh soulbridge
// process, one account, one POST /community/avatar/upload; it reports the
// answer, the process's CPU-seconds (utime+stime from /proc/PID/stat: the
// server's decoders, collector and HTTP all count) and its peak resident
// memory over idle (VmHWM minus VmRSS before the upload, /proc/PID/status).
// Then the shared cases, each on a fresh process: a small PNG from a fourth
// account while three others send scan bombs, or while one sends eight slow
// bodies; and the site's worst concurrent peak (bodies held and a decode).
// Not part of the product binary or the test command.
//
//	go run ./bench/uploads -bin PATH [-only REGEXP] [-timeout 60s]
//
// bench/uploads.sh builds the binaries (this tree, and a revision before
// the fix) and runs it for each.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"log"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"soulbridge/avatar"
	"soulbridge/internal/testimage"
)

func main() {
	bin := flag.String("bin", "", "the soulbridge binary")
	only := flag.String("only", "", "run the inputs whose name matches")
	timeout := flag.Duration("timeout", 60*time.Second, "how long to wait for one upload's answer")
	flag.Parse()
	if *bin == "" {
		log.Fatal("usage: uploads -bin PATH [-only REGEXP]")
	}
	match := regexp.MustCompile(*only)
	fmt.Printf("%-44s %9s %6s %8s %10s %9s\n", "input", "bytes", "status", "wall s", "CPU s", "peak MB")
	for _, in := range inputs() {
		if !match.MatchString(in.name) {
			continue
		}
		single(*bin, in, *timeout)
	}
	if match.MatchString("shared") {
		shared(*bin)
	}
}

type input struct {
	name string
	data []byte
}

// inputs are the worst files found for each format and the photos that
// must pass, each at most 5 MiB.
func inputs() []input {
	in := []input{
		{"phone photo 4096x3072 baseline (image/jpeg)", phoneJPEG()},
		{"phone photo 4096x3072 progressive 4:2:0", progressive(phoneJPEG())},
		{"phone photo 4096x3072 progressive, dense", densePhoto()},
		{"progressive scan bomb 4096^2, 6000 scans", testimage.ScanBomb(4096, 4096, 6000)},
		{"progressive scan bomb 4096^2, largest accepted", largestAccepted(func(n int) []byte { return testimage.ScanBomb(4096, 4096, avatar.MaxScans-n) })},
		{"baseline scan bomb 4096^2, 79 scans (5 MiB)", testimage.BaselineScanBomb(4096, 4096, 79)},
		{"baseline scan bomb 4096^2, largest accepted", largestAccepted(func(n int) []byte { return testimage.BaselineScanBomb(4096, 4096, 79-n) })},
		{"4-component progressive JPEG 4096^2", testimage.CMYKBomb(4096, 4096)},
		{"4-component progressive JPEG, largest accepted", largestAccepted(func(n int) []byte { return testimage.CMYKBomb(4096-16*n, 4096-16*n) })},
		{"16-bit RGBA PNG 4096^2", png16(4096, 4096)},
		{"16-bit RGBA PNG, largest accepted", largestAccepted(func(n int) []byte { return png16(4096, 4096-64*n) })},
		{"8-bit RGBA PNG 4096^2", png8(4096, 4096)},
		{"GIF 4096^2, one huge first frame", gif4096()},
		{"animated WebP", testimage.AnimatedWebP(4096, 4096)},
	}
	for _, w := range []struct{ name, flag string }{{"lossless WebP 4096^2", "-lossless"}, {"lossy WebP 4096^2", "-q"}} {
		if b := cwebp(w.flag); b != nil {
			in = append(in, input{w.name, b})
		}
	}
	return in
}

// largestAccepted returns make(n) for the least n >= 0 whose price the
// avatar package accepts: the most expensive file of its kind that passes.
func largestAccepted(make func(n int) []byte) []byte {
	for n := 0; n < 256; n++ {
		if b := make(n); len(b) <= avatar.MaxUploadBytes {
			if _, err := avatar.Estimate(b); err == nil {
				return b
			}
		}
	}
	log.Fatal("no accepted size")
	return nil
}

var picture = sync.OnceValue(func() *image.NRGBA { return testimage.Picture(4096, 4096) })

func phoneJPEG() []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, picture().SubImage(image.Rect(0, 0, 4096, 3072)), &jpeg.Options{Quality: 90}); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}

// densePhoto is a 4096×3072 progressive JPEG of nearly 5 MiB: the picture
// with noise, at the best quality that fits, so every scan carries data
// (a photo's fine detail) and the decoder's work is bounded by the bytes.
func densePhoto() []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 4096, 3072))
	copy(img.Pix, picture().Pix[:len(img.Pix)])
	seed := uint32(1)
	for i := range img.Pix {
		if i%4 == 3 {
			continue
		}
		seed = seed*1664525 + 1013904223
		img.Pix[i] = uint8(min(255, max(0, int(img.Pix[i])+int(seed>>27)-16)))
	}
	for q := 95; q >= 30; q -= 5 {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
			log.Fatal(err)
		}
		if p := progressive(b.Bytes()); len(p) <= avatar.MaxUploadBytes {
			return p
		}
	}
	log.Fatal("no quality fits 5 MiB")
	return nil
}

// progressive turns a baseline JPEG progressive with jpegtran (libjpeg's
// ten-scan script); without jpegtran, the crafted structure of one.
func progressive(baseline []byte) []byte {
	cmd := exec.Command("jpegtran", "-progressive")
	cmd.Stdin = bytes.NewReader(baseline)
	out, err := cmd.Output()
	if err != nil {
		log.Printf("no jpegtran (%v): the progressive photo is crafted", err)
		return testimage.PhoneJPEG(4096, 3072, true)
	}
	return out
}

func png16(w, h int) []byte {
	img := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA64(x, y, color.NRGBA64{uint16(x * 16), uint16(y * 16), 0x8000, 0xffff})
		}
	}
	return encodePNG(img)
}

func png8(w, h int) []byte { return encodePNG(picture().SubImage(image.Rect(0, 0, w, h))) }

func encodePNG(img image.Image) []byte {
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, img); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}

func gif4096() []byte {
	pal := color.Palette{color.Black, color.White}
	frame := image.NewPaletted(image.Rect(0, 0, 4096, 4096), pal)
	for i := range frame.Pix {
		frame.Pix[i] = uint8(i / 4096 % 2)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, &gif.GIF{Image: []*image.Paletted{frame, image.NewPaletted(image.Rect(0, 0, 4, 4), pal)}, Delay: []int{0, 0}}); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}

// cwebp encodes the 4096² picture with cwebp (Debian's webp package), or
// returns nil without it.
func cwebp(mode string) []byte {
	dir, err := os.MkdirTemp("", "uploads")
	if err != nil {
		return nil
	}
	defer os.RemoveAll(dir)
	src, dst := filepath.Join(dir, "in.png"), filepath.Join(dir, "out.webp")
	if err := os.WriteFile(src, png8(4096, 4096), 0o600); err != nil {
		return nil
	}
	args := []string{mode}
	if mode == "-q" {
		args = append(args, "80")
	}
	if err := exec.Command("cwebp", append(args, src, "-o", dst, "-quiet")...).Run(); err != nil {
		log.Printf("no cwebp (%v): WebP rows skipped", err)
		return nil
	}
	b, _ := os.ReadFile(dst)
	return b
}

// server is one soulbridge process on a fresh data dir.
type server struct {
	cmd  *exec.Cmd
	base string
	dir  string
}

func start(bin string) *server {
	dir, err := os.MkdirTemp("", "soulbridge-uploads")
	if err != nil {
		log.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755) // started as root, the server drops to uid 65532
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "PORT=" + strconv.Itoa(port), "DATA_DIR=" + filepath.Join(dir, "data"),
		"SECRET_KEY=" + "6f1d2c3b4a5968778695a4b3c2d1e0f00f1e2d3c4b5a69788796a5b4c3d2e1f0", "TRUST_PROXY_HEADERS=true", "LOG_FORMAT=text"}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	s := &server{cmd: cmd, base: "http://127.0.0.1:" + strconv.Itoa(port), dir: dir}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if res, err := http.Get(s.base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			log.Fatal("the server did not start")
		}
	}
	time.Sleep(1500 * time.Millisecond) // start-up's held collection is over (startgc.go)
	return s
}

func (s *server) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	_ = os.RemoveAll(s.dir)
}

// cpu is the process's CPU time so far.
func (s *server) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

func (s *server) statusKB(name string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return -1
}

// resetPeak makes VmHWM the current RSS (clear_refs 5), so a peak read later
// is this measurement's own.
func (s *server) resetPeak() {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.cmd.Process.Pid), []byte("5"), 0)
}

var client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// signup makes an account from address ip and returns its cookie.
func (s *server) signup(name, ip string) string {
	form := url.Values{"username": {name}, "password": {"correct horse battery"}}
	req, _ := http.NewRequest("POST", s.base+"/signup", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Real-IP", ip)
	res, err := client.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	res.Body.Close()
	for _, c := range res.Cookies() {
		if strings.HasSuffix(c.Name, "sb_session") {
			return c.Name + "=" + c.Value
		}
	}
	log.Fatalf("sign-up of %s: %d, no cookie", name, res.StatusCode)
	return ""
}

// upload posts data as cookie's upload from ip and returns the status
// (0 when it gets no answer within timeout).
func (s *server) upload(cookie, ip string, body io.Reader, ct string, timeout time.Duration) int {
	req, _ := http.NewRequest("POST", s.base+"/community/avatar/upload", body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cookie", cookie)
	req.Header.Set("X-Real-IP", ip)
	c := *client
	c.Timeout = timeout
	res, err := c.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func multipartOf(data []byte) ([]byte, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("file", "upload")
	_, _ = fw.Write(data)
	_ = mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

// single measures one input on a fresh process. A decode the client gave
// up on still runs (image/jpeg cannot be cancelled): the CPU is read when
// the process has been idle for a second, or after the timeout.
func single(bin string, in input, timeout time.Duration) {
	s := start(bin)
	defer s.stop()
	cookie := s.signup("alice", "192.0.2.1")
	body, ct := multipartOf(in.data)
	idle := s.statusKB("VmRSS")
	s.resetPeak()
	cpu0, t0 := s.cpu(), time.Now()
	status := s.upload(cookie, "192.0.2.1", bytes.NewReader(body), ct, timeout)
	wall := time.Since(t0)
	deadline := t0.Add(timeout)
	for last := s.cpu(); time.Now().Before(deadline); {
		time.Sleep(time.Second)
		now := s.cpu()
		if now-last < 50*time.Millisecond {
			break
		}
		last = now
	}
	cpu := s.cpu() - cpu0
	peak := s.statusKB("VmHWM") - idle
	st, busy := strconv.Itoa(status), ""
	if status == 0 {
		st = "none"
		if time.Now().After(deadline) {
			busy = "+" // still decoding at the timeout
		}
	}
	fmt.Printf("%-44s %9d %6s %8.2f %9.2f%1s %9.1f\n", in.name, len(in.data), st, wall.Seconds(), cpu.Seconds(), busy, float64(peak)/1024)
}

// shared runs the cases where uploads compete.
func shared(bin string) {
	small := testimage.PNG(64, 64)
	smallBody, smallCT := multipartOf(small)
	fourth := func(s *server, cookie string) string {
		t0 := time.Now()
		status := s.upload(cookie, "198.51.100.4", bytes.NewReader(smallBody), smallCT, 40*time.Second)
		return fmt.Sprintf("%d after %.2f s", status, time.Since(t0).Seconds())
	}

	// Three accounts send scan bombs at once; a fourth uploads a small PNG.
	s := start(bin)
	bomb, bombCT := multipartOf(testimage.ScanBomb(4096, 4096, 6000))
	var cookies []string
	for i := range 4 {
		cookies = append(cookies, s.signup("user"+strconv.Itoa(i), "198.51.100."+strconv.Itoa(i+1)))
	}
	for i := range 3 {
		go s.upload(cookies[i], "198.51.100."+strconv.Itoa(i+1), bytes.NewReader(bomb), bombCT, 40*time.Second)
	}
	time.Sleep(300 * time.Millisecond)
	fmt.Printf("shared: small PNG while 3 accounts send scan bombs: %s\n", fourth(s, cookies[3]))
	s.stop()

	// One account sends eight bodies at a byte a second.
	s = start(bin)
	cookies = cookies[:0]
	for i := range 4 {
		cookies = append(cookies, s.signup("user"+strconv.Itoa(i), "198.51.100."+strconv.Itoa(i+1)))
	}
	var pipes []*io.PipeWriter
	for range 8 {
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		go s.upload(cookies[0], "198.51.100.1", pr, "multipart/form-data; boundary=x", 60*time.Second)
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
	time.Sleep(500 * time.Millisecond)
	fmt.Printf("shared: small PNG while 1 account sends 8 slow bodies: %s\n", fourth(s, cookies[3]))
	for _, pw := range pipes {
		pw.Close()
	}
	s.stop()

	// The worst concurrent peak: 12 accounts at 12 addresses each send a
	// 5 MiB upload (the largest accepted progressive photo, padded), all
	// at once.
	s = start(bin)
	photo := testimage.PhoneJPEG(4096, 3072, true)
	photo = append(photo, make([]byte, avatar.MaxUploadBytes-len(photo))...)
	body, ct := multipartOf(photo)
	cookies = cookies[:0]
	for i := range 12 {
		cookies = append(cookies, s.signup("peak"+strconv.Itoa(i), "203.0.113."+strconv.Itoa(i+1)))
	}
	idle := s.statusKB("VmRSS")
	s.resetPeak()
	statuses := make([]int, 12)
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			statuses[i] = s.upload(cookies[i], "203.0.113."+strconv.Itoa(i+1), bytes.NewReader(body), ct, 120*time.Second)
		})
	}
	wg.Wait()
	fmt.Printf("shared: 12 concurrent 5 MiB progressive 4096x3072 uploads: statuses %v, peak RSS %.1f MB over idle (%.1f MB idle)\n",
		statuses, float64(s.statusKB("VmHWM")-idle)/1024, float64(idle)/1024)
	s.stop()
}
