package main

// End-to-end tests: the real binary as a subprocess, restarted, killed and
// raced against itself, as a deploy on Railway would. internal/testbin builds
// and runs the binary; helpers only these tests use are below.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// TestDeploySurvival: a session and an avatar survive a restart with the same
// key; a new key logs people out with a JSON 401; the old key as a fallback
// keeps them in and re-issues their cookie under the new key, which then
// works once the fallback is gone.
func TestDeploySurvival(t *testing.T) {
	root := testbin.Root(t)
	data := filepath.Join(root, "data")
	k1, k2 := testbin.Key(t), testbin.Key(t)
	c := testbin.Client(t)

	// Boot 1 (K1): sign up, choose owl.
	p := testbin.Start(t, "boot1-K1", testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": k1}))
	cookie := testbin.Signup(t, c, p.Base(), "alice", "correct horse battery")
	r, err := testbin.PutAvatar(c, p.Base(), cookie, "owl")
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("PUT /community/avatar owl: %v status %d body %s", err, r.Status, r.Body)
	}
	start := time.Now()
	p.Stop()
	t.Logf("boot 1 stopped in %s", time.Since(start).Round(time.Millisecond))

	// Boot 2 (K1 again, same data dir): same cookie, same avatar.
	p = testbin.Start(t, "boot2-K1", testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": k1}))
	if a, _ := testbin.GetAvatar(t, c, p.Base(), cookie); a.Avatar != "owl" || a.Username != "alice" {
		t.Fatalf("after restart with the same key: got %+v, want alice/owl", a)
	}
	p.Stop()

	// Boot 3 (K2 only): the K1 cookie no longer verifies → JSON 401.
	p = testbin.Start(t, "boot3-K2", testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": k2}))
	r = testbin.Must(t, c, http.MethodGet, p.Base()+"/community/avatar", cookie, "", nil)
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("K1 cookie under K2: status %d, want 401; body %s", r.Status, r.Body)
	}
	var e struct {
		Error *string `json:"error"`
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("401 Content-Type = %q, want application/json", ct)
	}
	if err := json.Unmarshal([]byte(r.Body), &e); err != nil || e.Error == nil || *e.Error == "" {
		t.Errorf(`401 body = %q, want {"error":"..."} (%v)`, r.Body, err)
	}
	p.Stop()

	// Boot 4 (K2, fallback K1): accepted and re-issued under K2.
	p = testbin.Start(t, "boot4-K2+K1", testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": k2, "SECRET_KEY_FALLBACKS": k1}))
	a, r := testbin.GetAvatar(t, c, p.Base(), cookie)
	if a.Avatar != "owl" {
		t.Fatalf("K1 cookie with K1 as fallback: avatar %q, want owl", a.Avatar)
	}
	reissued := r.SessionCookie()
	if reissued == "" {
		t.Fatalf("K1 cookie with K1 as fallback: no sb_session re-issued; Set-Cookie %q", r.Header.Values("Set-Cookie"))
	}
	if reissued == cookie {
		t.Fatal("re-issued cookie is identical to the K1 cookie")
	}
	p.Stop()

	// Boot 5 (K2 alone): the re-issued cookie works.
	p = testbin.Start(t, "boot5-K2", testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": k2}))
	if a, _ := testbin.GetAvatar(t, c, p.Base(), reissued); a.Avatar != "owl" || a.Username != "alice" {
		t.Fatalf("re-issued cookie under K2 alone: got %+v, want alice/owl", a)
	}
	p.Stop()
}

// e2eCookieToken extracts the session token from a securecookie value
// (base64url of "date|base64url(token)|mac"), or nil.
func e2eCookieToken(cookie string) []byte {
	raw, err := base64.URLEncoding.DecodeString(cookie)
	if err != nil {
		return nil
	}
	parts := bytes.SplitN(raw, []byte("|"), 3) // the raw MAC may hold a "|"
	if len(parts) != 3 {
		return nil
	}
	tok, err := base64.URLEncoding.DecodeString(string(parts[1]))
	if err != nil {
		return nil
	}
	return tok
}

// TestSecretKeyNeverLogged: the key's source is logged, never the key, a
// cookie, a token or a password; the key rules refuse bad configurations at
// start; without a key one is generated, persisted and reused.
func TestSecretKeyNeverLogged(t *testing.T) {
	t.Run("log", func(t *testing.T) {
		root := testbin.Root(t)
		// A raw (non-hex) key, so "its hex" is a different string to look for.
		rb := make([]byte, 24)
		rand.Read(rb)
		key := "e2e-raw-key-" + base64.RawURLEncoding.EncodeToString(rb)
		password := "pw-" + hex.EncodeToString(rb[:8])
		c := testbin.Client(t)
		p := testbin.Start(t, "keylog", testbin.ServerEnv(t, filepath.Join(root, "data"), testbin.Env{"SECRET_KEY": key}))

		signupCookie := testbin.Signup(t, c, p.Base(), "bob", password)
		loginCookie := testbin.Form(t, c, p.Base(), "/login", "bob", password)
		if r, err := testbin.PutAvatar(c, p.Base(), loginCookie, "fox"); err != nil || r.Status != http.StatusOK {
			t.Fatalf("PUT avatar: %v %d %s", err, r.Status, r.Body)
		}
		if a, _ := testbin.GetAvatar(t, c, p.Base(), loginCookie); a.Avatar != "fox" {
			t.Fatalf("avatar %q, want fox", a.Avatar)
		}
		// A failed log-in logs too: it must not log the attempted password.
		form := "username=bob&password=" + password + "-wrong"
		if r := testbin.Must(t, c, http.MethodPost, p.Base()+"/login", "", "application/x-www-form-urlencoded", strings.NewReader(form)); r.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password: status %d, want 401", r.Status)
		}
		if r := testbin.Must(t, c, http.MethodPost, p.Base()+"/logout", loginCookie, "", nil); r.Status != http.StatusSeeOther {
			t.Fatalf("logout: status %d, want 303", r.Status)
		}
		p.Stop()

		log := p.Output()
		if !strings.Contains(log, "source=SECRET_KEY") {
			t.Errorf("log does not say source=SECRET_KEY:\n%s", log)
		}
		secrets := map[string]string{
			"the key":           key,
			"the key's hex":     hex.EncodeToString([]byte(key)),
			"the password":      password,
			"the signup cookie": signupCookie,
			"the login cookie":  loginCookie,
		}
		for i, ck := range []string{signupCookie, loginCookie} {
			tok := e2eCookieToken(ck)
			if len(tok) != 32 {
				t.Fatalf("cookie %d: could not extract a 32-byte token (got %d bytes)", i, len(tok))
			}
			secrets[fmt.Sprintf("token %d (hex)", i)] = hex.EncodeToString(tok)
			secrets[fmt.Sprintf("token %d (base64url)", i)] = base64.URLEncoding.EncodeToString(tok)
			secrets[fmt.Sprintf("token %d (base64)", i)] = base64.StdEncoding.EncodeToString(tok)
		}
		for what, s := range secrets {
			if strings.Contains(log, s) {
				t.Errorf("log contains %s", what)
			}
		}
	})

	t.Run("refusals", func(t *testing.T) {
		root := testbin.Root(t)
		volA := filepath.Join(root, "volume")
		outsideB := filepath.Join(root, "elsewhere")
		shortKeyFileDir := filepath.Join(root, "shortkeyfile")
		if err := os.MkdirAll(shortKeyFileDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shortKeyFileDir, keyFileName), []byte("0123456789abcdef\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		short := "e2e-short-secret"
		k1, k2 := testbin.Key(t), testbin.Key(t)
		cases := []struct {
			name    string
			env     testbin.Env
			want    []string
			notWant []string
		}{
			{"short SECRET_KEY", testbin.Env{"SECRET_KEY": short},
				[]string{"soulbridge keygen", "SECRET_KEY"}, []string{short}},
			{"short fallback", testbin.Env{"SECRET_KEY": k1, "SECRET_KEY_FALLBACKS": short},
				[]string{"soulbridge keygen", "SECRET_KEY_FALLBACKS"}, []string{short, k1}},
			{"SECRET_KEY and FLASK_SECRET_KEY differ", testbin.Env{"SECRET_KEY": k1, "FLASK_SECRET_KEY": k2},
				[]string{"FLASK_SECRET_KEY", "differ"}, []string{k1, k2}},
			{"production without key or volume", testbin.Env{"RAILWAY_ENVIRONMENT_NAME": "production"},
				[]string{"SECRET_KEY", "volume", "soulbridge keygen"}, nil},
			{"data dir outside the volume", testbin.Env{"RAILWAY_ENVIRONMENT_NAME": "production", "SECRET_KEY": k1,
				"RAILWAY_VOLUME_MOUNT_PATH": volA, "DATA_DIR": outsideB},
				[]string{volA, outsideB}, []string{k1}},
			{"short key file", testbin.Env{"DATA_DIR": shortKeyFileDir},
				[]string{"soulbridge keygen", keyFileName}, []string{"0123456789abcdef"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				env := testbin.Env{"PORT": strconv.Itoa(testbin.FreePort(t)), "DATA_DIR": filepath.Join(root, "data")}
				for k, v := range tc.env {
					env[k] = v
				}
				start := time.Now()
				code, stdout, stderr := testbin.Run(t, 10*time.Second, env)
				took := time.Since(start)
				out := stdout + stderr
				if code == 0 {
					t.Fatalf("exit status 0, want non-zero; output:\n%s", out)
				}
				if took > 5*time.Second {
					t.Errorf("took %s to refuse, want quick", took)
				}
				for _, w := range tc.want {
					if !strings.Contains(out, w) {
						t.Errorf("output does not mention %q:\n%s", w, out)
					}
				}
				for _, nw := range tc.notWant {
					if strings.Contains(out, nw) {
						t.Errorf("output contains the secret %q:\n%s", nw, out)
					}
				}
			})
		}
		if _, err := os.Stat(outsideB); err == nil {
			t.Errorf("the refused data dir %s was created anyway", outsideB)
		}
	})

	t.Run("generated key file", func(t *testing.T) {
		root := testbin.Root(t)
		data := filepath.Join(root, "data")
		c := testbin.Client(t)
		p := testbin.Start(t, "keyfile-boot1", testbin.ServerEnv(t, data, nil))
		path := filepath.Join(data, keyFileName)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatalf("no key file after the first boot: %v", err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s mode %v, want 0600", path, m)
		}
		b1, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(strings.TrimSpace(string(b1))) {
			t.Errorf("key file holds %d bytes, not 64 hex characters", len(strings.TrimSpace(string(b1))))
		}
		if strings.Contains(p.Output(), strings.TrimSpace(string(b1))) {
			t.Error("the generated key is in the log")
		}
		cookie := testbin.Signup(t, c, p.Base(), "carol", "carol-password")
		p.Stop()

		p = testbin.Start(t, "keyfile-boot2", testbin.ServerEnv(t, data, nil))
		if a, _ := testbin.GetAvatar(t, c, p.Base(), cookie); a.Username != "carol" {
			t.Fatalf("boot 2: cookie from boot 1 belongs to %q, want carol", a.Username)
		}
		p.Stop()
		b2, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Error("the key file changed on the second boot")
		}
		if strings.Contains(p.Output(), strings.TrimSpace(string(b1))) {
			t.Error("the persisted key is in the log")
		}
	})
}

// e2eWriter is one user's avatar writer in the crash test.
type e2eWriter struct {
	name   string
	cookie string
	// settled is what the store must hold at the start of a round.
	settled string

	mu       sync.Mutex
	acked    string // last id answered 200 in this round ("" if none)
	inflight string // id of the request without an answer ("" if none)
	acks     int
}

// TestCrashDurability: avatar writes acknowledged before a SIGKILL are all
// there after the restart; the one write in flight per user may or may not be.
func TestCrashDurability(t *testing.T) {
	root := testbin.Root(t)
	data := filepath.Join(root, "data")
	key := testbin.Key(t)
	c := testbin.Client(t)

	p := testbin.Start(t, "crash-boot0", testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": key}))
	ids := testbin.Catalogue(t, c, p.Base())
	var writers []*e2eWriter
	for i := range 4 {
		name := fmt.Sprintf("crash%d", i)
		writers = append(writers, &e2eWriter{name: name, cookie: testbin.Signup(t, c, p.Base(), name, "password-"+name), settled: "default"})
	}

	const rounds = 3
	total := 0
	for round := 1; round <= rounds; round++ {
		var stop atomic.Bool
		var wg sync.WaitGroup
		for wi, w := range writers {
			w.acked, w.inflight, w.acks = "", "", 0
			wg.Go(func() {
				for n := wi; !stop.Load(); n++ {
					id := ids[n%len(ids)]
					w.mu.Lock()
					w.inflight = id
					w.mu.Unlock()
					r, err := testbin.PutAvatar(c, p.Base(), w.cookie, id)
					if err != nil {
						// The process died with this request unanswered:
						// its outcome is unknown.
						return
					}
					if r.Status != http.StatusOK {
						t.Errorf("round %d %s: PUT %s: status %d body %s", round, w.name, id, r.Status, r.Body)
						w.mu.Lock()
						w.inflight = ""
						w.mu.Unlock()
						return
					}
					w.mu.Lock()
					w.acked, w.inflight = id, ""
					w.acks++
					w.mu.Unlock()
				}
			})
		}
		delay := time.Duration(200+mrand.IntN(1300)) * time.Millisecond
		time.Sleep(delay) // the random kill time, not an assertion
		p.Kill()
		stop.Store(true)
		wg.Wait()

		roundAcks := 0
		for _, w := range writers {
			roundAcks += w.acks
		}
		total += roundAcks
		t.Logf("round %d: SIGKILL after %s; %d writes acknowledged", round, delay, roundAcks)
		if roundAcks == 0 {
			t.Errorf("round %d: no write was acknowledged before the kill", round)
		}

		p = testbin.Start(t, fmt.Sprintf("crash-boot%d", round), testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": key}))
		for _, w := range writers {
			want := w.settled
			if w.acked != "" {
				want = w.acked
			}
			a, _ := testbin.GetAvatar(t, c, p.Base(), w.cookie)
			switch {
			case a.Avatar == want:
			case w.inflight != "" && a.Avatar == w.inflight:
			default:
				t.Fatalf("round %d %s: avatar after the crash is %q; want the last acknowledged %q or the in-flight %q",
					round, w.name, a.Avatar, want, w.inflight)
			}
			w.settled = a.Avatar
		}
	}
	p.Stop()
	t.Logf("%d writes acknowledged over %d crashes", total, rounds)
}

// TestLockContention: a second process on the same data dir waits for the
// lock and gives up with "locked" after DATA_LOCK_TIMEOUT while the first
// keeps serving; it takes over when the first stops; SIGTERM ends the wait.
func TestLockContention(t *testing.T) {
	root := testbin.Root(t)
	data := filepath.Join(root, "data")
	c := testbin.Client(t)
	a := testbin.Start(t, "A", testbin.ServerEnv(t, data, nil))

	b := testbin.Spawn(t, "B", testbin.ServerEnv(t, data, testbin.Env{"DATA_LOCK_TIMEOUT": "2s"}))
	b.WaitOutput("locked", 10*time.Second)
	// While B waits, A serves.
	if r := testbin.Must(t, c, http.MethodGet, a.Base()+"/healthz", "", "", nil); r.Status != http.StatusOK {
		t.Fatalf("A /healthz while B waits: %d", r.Status)
	}
	cookie := testbin.Signup(t, c, a.Base(), "dave", "dave-password")
	code, ok := b.Wait(30 * time.Second)
	took := time.Since(b.Started())
	if !ok {
		t.Fatalf("B still running 30s after start with DATA_LOCK_TIMEOUT=2s:\n%s", b.Output())
	}
	if code == 0 {
		t.Errorf("B exited 0, want non-zero")
	}
	if took < 2*time.Second || took > 15*time.Second {
		t.Errorf("B gave up after %s, want between 2s and 15s", took)
	}
	if !regexp.MustCompile(`(?m)^soulbridge: .*locked`).MatchString(b.Output()) {
		t.Errorf("B's exit message does not say the data dir is locked:\n%s", b.Output())
	}
	t.Logf("B gave up after %s with status %d", took.Round(time.Millisecond), code)
	if r := testbin.Must(t, c, http.MethodGet, a.Base()+"/healthz", "", "", nil); r.Status != http.StatusOK {
		t.Fatalf("A /healthz after B gave up: %d", r.Status)
	}

	// C waits for A's lock; A stops; C takes over and knows A's users.
	cp := testbin.Spawn(t, "C", testbin.ServerEnv(t, data, testbin.Env{"DATA_LOCK_TIMEOUT": "20s"}))
	cp.WaitOutput("locked", 10*time.Second)
	time.Sleep(time.Second) // C keeps waiting for a while before A goes away
	a.Stop()
	cp.WaitHealthy(15 * time.Second)
	if got, _ := testbin.GetAvatar(t, c, cp.Base(), cookie); got.Username != "dave" {
		t.Fatalf("C: cookie from A belongs to %q, want dave", got.Username)
	}

	// D waits for C's lock; SIGTERM ends the wait at once.
	d := testbin.Spawn(t, "D", testbin.ServerEnv(t, data, testbin.Env{"DATA_LOCK_TIMEOUT": "60s"}))
	d.WaitOutput("locked", 10*time.Second)
	sent := time.Now()
	d.Signal(syscall.SIGTERM)
	code, ok = d.Wait(3 * time.Second)
	if !ok {
		t.Fatalf("D did not exit within 3s of SIGTERM during the lock wait:\n%s", d.Output())
	}
	t.Logf("D exited %s after SIGTERM with status %d", time.Since(sent).Round(time.Millisecond), code)
	if r := testbin.Must(t, c, http.MethodGet, cp.Base()+"/healthz", "", "", nil); r.Status != http.StatusOK {
		t.Fatalf("C /healthz after D: %d", r.Status)
	}
	cp.Stop()
}

// TestCommands: keygen, version, healthcheck, unknown commands.
func TestCommands(t *testing.T) {
	env := func(extra testbin.Env) testbin.Env {
		e := testbin.Env{}
		for k, v := range extra {
			e[k] = v
		}
		return e
	}
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}\n$`)

	code, k1, stderr := testbin.Run(t, 10*time.Second, env(nil), "keygen")
	if code != 0 || !hex64.MatchString(k1) {
		t.Errorf("keygen: status %d, stdout %q, stderr %q; want 0 and 64 hex characters + newline", code, k1, stderr)
	}
	_, k2, _ := testbin.Run(t, 10*time.Second, env(nil), "keygen")
	if k1 == k2 {
		t.Errorf("two keygen runs printed the same key")
	}

	code, v, stderr := testbin.Run(t, 10*time.Second, env(nil), "version")
	if code != 0 || strings.TrimSpace(v) == "" || strings.Count(v, "\n") != 1 {
		t.Errorf("version: status %d, stdout %q, stderr %q; want 0 and one non-empty line", code, v, stderr)
	}

	root := testbin.Root(t)
	p := testbin.Start(t, "healthcheck-target", testbin.ServerEnv(t, filepath.Join(root, "data"), nil))
	code, _, stderr = testbin.Run(t, 10*time.Second, env(testbin.Env{"PORT": strconv.Itoa(p.Port())}), "healthcheck")
	if code != 0 {
		t.Errorf("healthcheck against a running server: status %d, stderr %q; want 0", code, stderr)
	}
	code, _, _ = testbin.Run(t, 10*time.Second, env(testbin.Env{"PORT": strconv.Itoa(testbin.FreePort(t))}), "healthcheck")
	if code != 1 {
		t.Errorf("healthcheck against nothing: status %d, want 1", code)
	}
	p.Stop()

	code, stdout, stderr := testbin.Run(t, 10*time.Second, env(nil), "frobnicate")
	if code == 0 || !strings.Contains(stdout+stderr, "usage") {
		t.Errorf("unknown command: status %d, output %q; want non-zero with usage", code, stdout+stderr)
	}
	code, stdout, stderr = testbin.Run(t, 10*time.Second, env(nil), "keygen", "extra")
	if code == 0 || !strings.Contains(stdout+stderr, "usage") {
		t.Errorf("keygen with an argument: status %d, output %q; want non-zero with usage", code, stdout+stderr)
	}
}

// TestGracefulShutdown: a request in flight when SIGTERM arrives completes
// with its normal answer, requests racing the shutdown never get a 5xx, and
// the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	root := testbin.Root(t)
	c := testbin.Client(t)
	p := testbin.Start(t, "graceful", testbin.ServerEnv(t, filepath.Join(root, "data"), nil))
	cookie := testbin.Signup(t, c, p.Base(), "erin", "erin-password")

	// The in-flight request.
	body := `{"avatar":"fox"}`
	conn, br := e2eHeldPut(t, p, cookie, len(body))

	// Requests racing the shutdown.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var answered, failed atomic.Int64
	for i := range 6 {
		wg.Go(func() {
			for !stop.Load() {
				path, ck := "/healthz", ""
				if i%2 == 1 {
					path, ck = "/community/avatar", cookie
				}
				r, err := testbin.Do(c, http.MethodGet, p.Base()+path, ck, "", nil)
				if err != nil {
					failed.Add(1)
					time.Sleep(5 * time.Millisecond)
					continue
				}
				answered.Add(1)
				if r.Status >= 500 {
					t.Errorf("GET %s during shutdown: %d %s", path, r.Status, r.Body)
				}
			}
		})
	}
	e2eWaitFor(t, 5*time.Second, "racing requests to get answers", func() bool { return answered.Load() >= 20 })

	p.Signal(syscall.SIGTERM)
	p.WaitOutput("shutting down", 5*time.Second)
	// The listener is closed once nobody new gets in.
	e2eWaitFor(t, 5*time.Second, "the listener to close", func() bool {
		cn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p.Port()), time.Second)
		if err == nil {
			cn.Close()
			return false
		}
		return true
	})
	stop.Store(true)
	wg.Wait()
	if p.Exited() {
		t.Fatalf("the process exited with a request in flight:\n%s", p.Output())
	}

	// Finish the held-back request: it gets its normal answer.
	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the in-flight response: %v", err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(rb), `"fox"`) {
		t.Fatalf("in-flight PUT: %d %s, want 200 with fox", resp.StatusCode, rb)
	}
	code, ok := p.Wait(10 * time.Second)
	if !ok || code != 0 {
		t.Fatalf("after SIGTERM: exited=%v status %d, want 0:\n%s", ok, code, p.Output())
	}
	t.Logf("%d racing requests answered, %d refused after the listener closed", answered.Load(), failed.Load())

	// The write completed during shutdown is durable.
	p = testbin.Start(t, "graceful-after", testbin.ServerEnv(t, filepath.Join(root, "data"), testbin.Env{"SHUTDOWN_TIMEOUT": "1s"}))
	if a, _ := testbin.GetAvatar(t, c, p.Base(), cookie); a.Avatar != "fox" {
		t.Fatalf("after restart: avatar %q, want fox", a.Avatar)
	}

	// A request that never finishes holds the shutdown up for
	// SHUTDOWN_TIMEOUT only; the process still exits 0.
	e2eHeldPut(t, p, cookie, len(body))
	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	code, ok = p.Wait(8 * time.Second)
	took := time.Since(sent)
	if !ok || code != 0 {
		t.Fatalf("stuck request, SHUTDOWN_TIMEOUT=1s: exited=%v status %d, want 0:\n%s", ok, code, p.Output())
	}
	if took < 900*time.Millisecond {
		t.Errorf("exited %s after SIGTERM with a request in flight, before SHUTDOWN_TIMEOUT=1s", took)
	}
	t.Logf("with a stuck request and SHUTDOWN_TIMEOUT=1s, exited %s after SIGTERM", took.Round(time.Millisecond))
}

// e2eHeldPut starts a PUT /community/avatar whose body of bodyLen bytes the
// caller sends later, and returns once the handler is reading it: "Expect:
// 100-continue" makes the server say so.
func e2eHeldPut(t *testing.T, p *testbin.Proc, cookie string, bodyLen int) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p.Port()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "PUT /community/avatar HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: sb_session=%s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n", cookie, bodyLen)
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || !strings.Contains(line, " 100 ") {
		t.Fatalf("want 100 Continue, got %q (%v)", line, err)
	}
	if _, err := br.ReadString('\n'); err != nil { // the blank line after it
		t.Fatal(err)
	}
	return conn, br
}

// e2eWaitFor polls cond until it holds or fails the test after within.
func e2eWaitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPrivilegeDrop: started as root, the server runs as 65532:65532 and
// owns everything in its data dir, including what root left there.
func TestPrivilegeDrop(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the privilege drop only happens when started as uid 0")
	}
	root := testbin.Root(t)
	data := filepath.Join(root, "data")
	// A root-owned volume with root-owned content, as Railway mounts it.
	if err := os.MkdirAll(filepath.Join(data, "lost+found"), 0o700); err != nil {
		t.Fatal(err)
	}
	p := testbin.Start(t, "privdrop", testbin.ServerEnv(t, data, nil))

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID()))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string][]string{}
	for line := range strings.SplitSeq(string(status), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if ok {
			fields[name] = strings.Fields(rest)
		}
	}
	for _, name := range []string{"Uid", "Gid"} {
		if len(fields[name]) != 4 {
			t.Fatalf("/proc status %s line: %q", name, fields[name])
		}
		for _, id := range fields[name] {
			if id != "65532" {
				t.Errorf("%s = %v, want 65532 (real, effective, saved, fs)", name, fields[name])
				break
			}
		}
	}
	if g := fields["Groups"]; len(g) != 1 || g[0] != "65532" {
		t.Errorf("Groups = %v, want [65532]", g)
	}

	// A write, so the store has files of its own.
	c := testbin.Client(t)
	testbin.Signup(t, c, p.Base(), "frank", "frank-password")
	for _, want := range []string{keyFileName, "MANIFEST", "lost+found"} {
		if _, err := os.Stat(filepath.Join(data, want)); err != nil {
			t.Errorf("data dir: %v", err)
		}
	}
	n := 0
	err = filepath.Walk(data, func(path string, fi os.FileInfo, err error) error {
		if os.IsNotExist(err) {
			return nil // removed by the running store meanwhile
		}
		if err != nil {
			return err
		}
		n++
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 65532 || st.Gid != 65532 {
			t.Errorf("%s owned by %d:%d, want 65532:65532", path, st.Uid, st.Gid)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries in the data dir checked", n)
	p.Stop()

	// A data dir whose parents do not exist yet: root creates them, and they
	// must stay traversable by 65532 after the drop.
	nested := filepath.Join(root, "missing", "parents", "data")
	p = testbin.Start(t, "privdrop-nested", testbin.ServerEnv(t, nested, nil))
	if !strings.Contains(p.Output(), "dropped root privileges") {
		t.Errorf("nested data dir: privileges not dropped:\n%s", p.Output())
	}
	testbin.Signup(t, c, p.Base(), "grace", "grace-password")
	p.Stop()
}

// TestListensOnIPv4AndIPv6: the server answers on the IPv4 and the IPv6
// loopback alike (it listens on the wildcard address of both families), so a
// platform probing either, such as Railway's IPv6 private network, reaches it.
func TestListensOnIPv4AndIPv6(t *testing.T) {
	p := testbin.Start(t, "dual-stack", testbin.ServerEnv(t, filepath.Join(testbin.Root(t), "data"), nil))
	c := testbin.Client(t)
	port := strconv.Itoa(p.Port())
	healthz := func(t *testing.T, host string) {
		t.Helper()
		u := "http://" + net.JoinHostPort(host, port) + "/healthz"
		r := testbin.Must(t, c, http.MethodGet, u, "", "", nil)
		if r.Status != http.StatusOK || !strings.Contains(r.Body, `"ok"`) {
			t.Errorf("GET %s: status %d body %q, want 200 ok", u, r.Status, r.Body)
		}
	}
	t.Run("IPv4", func(t *testing.T) { healthz(t, "127.0.0.1") })
	t.Run("IPv6", func(t *testing.T) {
		ln, err := net.Listen("tcp6", "[::1]:0")
		if err != nil {
			msg := fmt.Sprintf("this machine has no IPv6 loopback (%v): the IPv6 half is not checked", err)
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		ln.Close()
		healthz(t, "::1")
	})
	p.Stop()
}

// e2eFileState is what TestReadsDoNotWrite records of one file.
type e2eFileState struct {
	size  int64
	mtime time.Time
	sum   [sha256.Size]byte
}

// e2eDataFiles records every regular file under dataDir but the key file
// (written once at first boot, and not the store's), by path relative to
// dataDir.
func e2eDataFiles(t *testing.T, dataDir string) map[string]e2eFileState {
	t.Helper()
	files := map[string]e2eFileState{}
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() || (filepath.Dir(path) == dataDir && d.Name() == keyFileName) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dataDir, path)
		st := e2eFileState{size: fi.Size(), mtime: fi.ModTime()}
		h.Sum(st.sum[:0])
		files[rel] = st
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestReadsDoNotWrite: reads, with a session, write nothing to the data dir.
// A signed-in member sets an avatar; then 50 rounds of GET /community,
// /community/avatar, /community/avatars and /readyz with the session cookie
// must leave every store file as it was. The session's idle-lifetime touch
// writes at most once per 5 minutes and the session is seconds old, and
// value-log GC runs every 10 minutes, so no write of any kind is due within
// the test.
//
// Every file is compared by size, modification time and a SHA-256 of its
// content. Size and mtime alone are not enough: Badger writes its memtable
// log (*.mem) and value log (*.vlog) through mmap into files preallocated to
// their full size, so a write never grows them, and the kernel updates the
// mtime of an mmapped file only when a clean page is first written to. The
// content hash sees any write; with nothing due, Badger's background
// goroutines (compaction, GC) leave the files alone, so the hash does not
// flake.
func TestReadsDoNotWrite(t *testing.T) {
	data := filepath.Join(testbin.Root(t), "data")
	c := testbin.Client(t)
	p := testbin.Start(t, "reads", testbin.ServerEnv(t, data, testbin.Env{"SECRET_KEY": testbin.Key(t)}))
	cookie := testbin.Signup(t, c, p.Base(), "reader", "reader-password")
	if r, err := testbin.PutAvatar(c, p.Base(), cookie, "owl"); err != nil || r.Status != http.StatusOK {
		t.Fatalf("PUT /community/avatar owl: %v status %d body %s", err, r.Status, r.Body)
	}

	before := e2eDataFiles(t, data)
	if len(before) == 0 {
		t.Fatalf("no store files in %s", data)
	}
	paths := []string{"/community", "/community/avatar", "/community/avatars", "/readyz"}
	for range 50 {
		for _, path := range paths {
			if r := testbin.Must(t, c, http.MethodGet, p.Base()+path, cookie, "", nil); r.Status != http.StatusOK {
				t.Fatalf("GET %s: status %d, want 200; body %s", path, r.Status, r.Body)
			}
		}
	}
	after := e2eDataFiles(t, data)

	var changed []string
	for name, a := range after {
		b, ok := before[name]
		if !ok {
			changed = append(changed, fmt.Sprintf("%s: created (%d bytes)", name, a.size))
			continue
		}
		var how []string
		if a.size != b.size {
			how = append(how, fmt.Sprintf("size %d -> %d bytes", b.size, a.size))
		}
		if !a.mtime.Equal(b.mtime) {
			how = append(how, fmt.Sprintf("modified at %s (was %s)", a.mtime.Format(time.RFC3339Nano), b.mtime.Format(time.RFC3339Nano)))
		}
		if a.sum != b.sum {
			how = append(how, "content changed")
		}
		if len(how) > 0 {
			changed = append(changed, name+": "+strings.Join(how, "; "))
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			changed = append(changed, name+": removed")
		}
	}
	if len(changed) > 0 {
		slices.Sort(changed)
		t.Errorf("%d GETs changed the data dir:\n%s", 50*len(paths), strings.Join(changed, "\n"))
	} else {
		t.Logf("%d GETs; the %d store files are unchanged", 50*len(paths), len(before))
	}
	p.Stop()
}
