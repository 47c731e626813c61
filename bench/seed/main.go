// Command seed fills a soulbridge data dir for bench/run.sh: N sessions and
// M member accounts, written with the real kv, session and auth packages
// (so they are exactly what the server stores), many at a time so Badger
// batches the fsyncs. Members get a deliberately cheap password hash: this
// measures pages and start-up, not hashing. Not part of the product binary.
//
//	go run ./bench/seed -dir DIR -key HEX [-sessions 100000] [-members 0] [-avatars] [-cookies FILE]
//
// It prints one of the sessions' cookie values (to check it still works
// after a restart); -cookies writes every session's cookie value to FILE,
// one a line (bench/mirror.sh spreads its requests over them), and
// -avatars gives every member a preset avatar.
package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"soulbridge/auth"
	"soulbridge/avatar"
	"soulbridge/kv"
	"soulbridge/session"
)

func main() {
	dir := flag.String("dir", "", "data dir (created if missing)")
	keyHex := flag.String("key", "", "SECRET_KEY the server will use (64 hex characters)")
	sessions := flag.Int("sessions", 100_000, "sessions to create")
	members := flag.Int("members", 0, "member accounts to create (member00001, …)")
	prefix := flag.String("prefix", "soulbridge:", "SESSION_KEY_PREFIX")
	workers := flag.Int("workers", 64, "concurrent writers")
	cookieFile := flag.String("cookies", "", "write every session's cookie value to this file, one a line")
	avatars := flag.Bool("avatars", false, "give every member a preset avatar")
	flag.Parse()
	key, err := hex.DecodeString(*keyHex)
	if *dir == "" || err != nil || len(key) < 32 {
		log.Fatal("seed: -dir and a 64-hex-character -key are required")
	}
	ctx := context.Background()
	store, err := kv.Open(ctx, kv.Options{Dir: *dir, Prefix: *prefix, LockTimeout: time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	start := time.Now()
	// Every session belongs to an account (a session whose account does not
	// exist grants nothing): without -members, enough accounts for the
	// sessions, at most session.MaxPerUser each.
	if need := (*sessions + session.MaxPerUser - 1) / session.MaxPerUser; *members < need {
		*members = need
	}
	hasher, err := auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1}, *workers)
	if err != nil {
		log.Fatal(err)
	}
	accounts, err := auth.New(store, auth.Config{Hasher: hasher})
	if err != nil {
		log.Fatal(err)
	}
	if *members > 0 {
		parallel(*members, *workers, func(i int) error {
			_, err := accounts.SignUp(ctx, fmt.Sprintf("member%05d", i), "correct horse battery staple")
			return err
		})
		fmt.Fprintf(os.Stderr, "seed: %d members in %s\n", *members, time.Since(start).Round(time.Millisecond))
	}
	if *avatars {
		pics, err := avatar.New(store, avatar.Config{})
		if err != nil {
			log.Fatal(err)
		}
		presets := avatar.Catalogue()
		parallel(*members, *workers, func(i int) error {
			_, err := pics.Set(ctx, fmt.Sprintf("member%05d", i), presets[i%len(presets)].ID, nil)
			return err
		})
	}

	start = time.Now()
	mgr, err := session.New(store, session.Config{Keys: [][]byte{key}, IdleTimeout: 720 * time.Hour, MaxLifetime: 2160 * time.Hour, Accounts: accounts})
	if err != nil {
		log.Fatal(err)
	}
	var last atomic.Value
	all := make([]string, *sessions)
	parallel(*sessions, *workers, func(i int) error {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/login", nil)
		r.Header.Set("User-Agent", "bench/seed")
		// Sessions spread over the members: an account keeps at most 50
		// sessions (session.MaxPerUser), so piling them on one name would
		// end all but the last 50.
		user := fmt.Sprintf("member%05d", i%*members)
		gen, _, err := accounts.Standing(ctx, user)
		if err != nil {
			return err
		}
		if _, err := mgr.Start(ctx, w, r, user, "127.0.0.1", gen); err != nil {
			return err
		}
		for _, c := range w.Result().Cookies() {
			if c.Name == session.CookieName {
				last.Store(c.Value)
				all[i] = c.Value
			}
		}
		return nil
	})
	if *sessions > 0 {
		fmt.Fprintf(os.Stderr, "seed: %d sessions in %s\n", *sessions, time.Since(start).Round(time.Millisecond))
		fmt.Println(strings.TrimSpace(last.Load().(string)))
	}
	if *cookieFile != "" {
		if err := os.WriteFile(*cookieFile, []byte(strings.Join(all, "\n")+"\n"), 0o600); err != nil {
			log.Fatal(err)
		}
	}
}

// parallel runs fn(0..n-1) on workers goroutines; the first error is fatal.
func parallel(n, workers int, fn func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					log.Fatalf("seed: %d: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
}
