// Command startup measures a server's start-up for bench/run.sh: the time
// from exec to the first 200 on GET /healthz, then its idle RSS a second
// later; then it stops the server (SIGTERM). Not part of the product binary.
//
//	go run ./bench/startup -url http://127.0.0.1:PORT/healthz -- CMD [ARGS...]
//
// The command inherits the environment. Prints "<startup ms> <idle RSS KiB>
// <own ms>": the last is the start-up the server reports itself, soulbridge's
// "startup" on its "listening" line (from "starting" to the port bound, so
// without the exec and the Go runtime's start), or "-" for a server that
// reports none.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	url := flag.String("url", "", "health URL to poll")
	idle := flag.Duration("idle", time.Second, "how long to wait before reading the idle RSS")
	// Each attempt costs CPU the starting server would use (2 cores here):
	// polling every 200µs made soulbridge's own start-up about 30 % slower.
	poll := flag.Duration("poll", time.Millisecond, "how long to wait between attempts")
	flag.Parse()
	if *url == "" || flag.NArg() == 0 {
		log.Fatal("usage: startup -url URL -- CMD [ARGS...]")
	}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	var out io.Writer = os.Stderr
	if os.Getenv("STARTUP_LOG") != "" {
		f, err := os.Create(os.Getenv("STARTUP_LOG"))
		if err != nil {
			log.Fatal(err)
		}
		out = f
	}
	own := &ownStartup{}
	cmd.Stdout, cmd.Stderr = io.MultiWriter(out, own), io.MultiWriter(out, own)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	var took time.Duration
	for deadline := start.Add(30 * time.Second); ; {
		resp, err := client.Get(*url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				took = time.Since(start)
				break
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			log.Fatalf("startup: %s did not answer 200 within 30s", *url)
		}
		time.Sleep(*poll)
	}
	time.Sleep(*idle)
	rss := statusKB(cmd.Process.Pid, "VmRSS")
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
	}
	fmt.Printf("%.1f %d %s\n", float64(took.Microseconds())/1000, rss, own.ms())
}

// ownStartup keeps the server's output until it has seen the start-up the
// server reports: `startup=12.3ms` (text logs) or `"startup":"12.3ms"` (JSON).
type ownStartup struct {
	mu  sync.Mutex
	buf []byte
}

var startupAttr = regexp.MustCompile(`"?startup"?[=:]"?([0-9.]+)(µs|ms|s)`)

func (o *ownStartup) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.buf) < 1<<20 {
		o.buf = append(o.buf, p...)
	}
	return len(p), nil
}

func (o *ownStartup) ms() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := startupAttr.FindSubmatch(o.buf)
	if m == nil {
		return "-"
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return "-"
	}
	switch string(m[2]) {
	case "µs":
		v /= 1000
	case "s":
		v *= 1000
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// statusKB reads a "Name: N kB" line of /proc/PID/status.
func statusKB(pid int, name string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
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
