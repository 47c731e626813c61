// Command visibility measures, for bench/mirror.sh, how soon a write
// acknowledged on one instance is what another instance answers: for each
// sample it reads a user's avatar on B (so B holds it in memory), changes
// it on A, and from the moment A's 200 arrives reads B, back to back, until
// B answers the new choice. It prints, over the samples, p50, p99 and max
// of the stale window (from the acknowledgement to the sending of the first
// read that answered the new choice: 0 when the first read did) and of the
// time until that read's answer arrived (the window plus a request's
// latency under the load), and how many first reads were stale. Not part
// of the product binary.
//
//	go run ./bench/visibility -a URL -b URL -cookies FILE [-n 100]
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"slices"
	"time"
)

func main() {
	a := flag.String("a", "", "base URL of the instance written to")
	b := flag.String("b", "", "base URL of the instance read from")
	cookies := flag.String("cookies", "", "file of session cookie values, one a line (one sample each, round robin)")
	n := flag.Int("n", 100, "samples")
	flag.Parse()
	if *a == "" || *b == "" || *cookies == "" {
		log.Fatal("visibility: -a, -b and -cookies are required")
	}
	f, err := os.Open(*cookies)
	if err != nil {
		log.Fatal(err)
	}
	var vals []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v := sc.Text(); v != "" {
			vals = append(vals, v)
		}
	}
	f.Close()
	if len(vals) == 0 {
		log.Fatal("visibility: no cookies")
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	var samples, windows []time.Duration
	staleFirst := 0
	for i := range *n {
		c := vals[i%len(vals)]
		before := avatarOf(hc, *b, c)
		avatarOf(hc, *b, c) // now held in memory on B
		want := "owl"
		if before == "owl" {
			want = "fox"
		}
		put(hc, *a, c, want)
		acked := time.Now()
		for reads := 0; ; reads++ {
			sent := time.Now()
			got := avatarOf(hc, *b, c)
			if got == want {
				samples = append(samples, time.Since(acked))
				windows = append(windows, max(0, sent.Sub(acked)))
				break
			}
			if reads == 0 {
				staleFirst++
			}
			if time.Since(acked) > 5*time.Second {
				log.Fatalf("visibility: B still answers %q 5 s after A acknowledged %q", got, want)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Printf("visibility on B after an acknowledged write on A, %d samples: stale window %s; answered after %s; first read stale %d of %d\n",
		len(samples), dist(windows), dist(samples), staleFirst, len(samples))
}

func avatarOf(hc *http.Client, base, cookie string) string {
	req, _ := http.NewRequest(http.MethodGet, base+"/community/avatar", nil)
	req.Header.Set("Cookie", "sb_session="+cookie)
	resp, err := hc.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Avatar string `json:"avatar"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil {
		log.Fatalf("visibility: GET %s/community/avatar: %s", base, resp.Status)
	}
	return body.Avatar
}

func put(hc *http.Client, base, cookie, id string) {
	req, _ := http.NewRequest(http.MethodPut, base+"/community/avatar", bytes.NewReader([]byte(`{"avatar":"`+id+`"}`)))
	req.Header.Set("Cookie", "sb_session="+cookie)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		log.Fatalf("visibility: PUT %s/community/avatar: %s", base, resp.Status)
	}
}

// dist is "p50 X, p99 Y, max Z" of ds.
func dist(ds []time.Duration) string {
	slices.Sort(ds)
	q := func(p float64) time.Duration {
		return ds[min(len(ds)-1, int(p*float64(len(ds))))].Round(time.Microsecond)
	}
	return fmt.Sprintf("p50 %s, p99 %s, max %s", q(0.50), q(0.99), ds[len(ds)-1].Round(time.Microsecond))
}
