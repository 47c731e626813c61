package main

// End-to-end tests: the real binary as a subprocess, restarted, killed and
// raced against itself, as a deploy on Railway would. Helpers are in
// e2e_helpers_test.go.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestDeploySurvival: a session and an avatar survive a restart with the same
// key; a new key logs people out with a JSON 401; the old key as a fallback
// keeps them in and re-issues their cookie under the new key, which then
// works once the fallback is gone.
func TestDeploySurvival(t *testing.T) {
	root := e2eRoot(t)
	data := filepath.Join(root, "data")
	k1, k2 := e2eKey(t), e2eKey(t)
	c := e2eClient(t)

	// Boot 1 (K1): sign up, choose owl.
	p := e2eStart(t, "boot1-K1", e2eServerEnv(t, data, e2eEnv{"SECRET_KEY": k1}))
	cookie := e2eSignup(t, c, p, "alice", "correct horse battery")
	r, err := e2ePutAvatar(c, p, cookie, "owl")
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("PUT /community/avatar owl: %v status %d body %s", err, r.status, r.body)
	}
	start := time.Now()
	p.stop()
	t.Logf("boot 1 stopped in %s", time.Since(start).Round(time.Millisecond))

	// Boot 2 (K1 again, same data dir): same cookie, same avatar.
	p = e2eStart(t, "boot2-K1", e2eServerEnv(t, data, e2eEnv{"SECRET_KEY": k1}))
	if a, _ := e2eGetAvatar(t, c, p, cookie); a.Avatar != "owl" || a.Username != "alice" {
		t.Fatalf("after restart with the same key: got %+v, want alice/owl", a)
	}
	p.stop()

	// Boot 3 (K2 only): the K1 cookie no longer verifies → JSON 401.
	p = e2eStart(t, "boot3-K2", e2eServerEnv(t, data, e2eEnv{"SECRET_KEY": k2}))
	r = e2eMust(t, c, http.MethodGet, p.base+"/community/avatar", cookie, "", nil)
	if r.status != http.StatusUnauthorized {
		t.Fatalf("K1 cookie under K2: status %d, want 401; body %s", r.status, r.body)
	}
	var e struct {
		Error *string `json:"error"`
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("401 Content-Type = %q, want application/json", ct)
	}
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error == nil || *e.Error == "" {
		t.Errorf(`401 body = %q, want {"error":"..."} (%v)`, r.body, err)
	}
	p.stop()

	// Boot 4 (K2, fallback K1): accepted and re-issued under K2.
	p = e2eStart(t, "boot4-K2+K1", e2eServerEnv(t, data, e2eEnv{"SECRET_KEY": k2, "SECRET_KEY_FALLBACKS": k1}))
	a, r := e2eGetAvatar(t, c, p, cookie)
	if a.Avatar != "owl" {
		t.Fatalf("K1 cookie with K1 as fallback: avatar %q, want owl", a.Avatar)
	}
	reissued := r.sessionCookie()
	if reissued == "" {
		t.Fatalf("K1 cookie with K1 as fallback: no sb_session re-issued; Set-Cookie %q", r.header.Values("Set-Cookie"))
	}
	if reissued == cookie {
		t.Fatal("re-issued cookie is identical to the K1 cookie")
	}
	p.stop()

	// Boot 5 (K2 alone): the re-issued cookie works.
	p = e2eStart(t, "boot5-K2", e2eServerEnv(t, data, e2eEnv{"SECRET_KEY": k2}))
	if a, _ := e2eGetAvatar(t, c, p, reissued); a.Avatar != "owl" || a.Username != "alice" {
		t.Fatalf("re-issued cookie under K2 alone: got %+v, want alice/owl", a)
	}
	p.stop()
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
		root := e2eRoot(t)
		// A raw (non-hex) key, so "its hex" is a different string to look for.
		rb := make([]byte, 24)
		rand.Read(rb)
		key := "e2e-raw-key-" + base64.RawURLEncoding.EncodeToString(rb)
		password := "pw-" + hex.EncodeToString(rb[:8])
		c := e2eClient(t)
		p := e2eStart(t, "keylog", e2eServerEnv(t, filepath.Join(root, "data"), e2eEnv{"SECRET_KEY": key}))

		signupCookie := e2eSignup(t, c, p, "bob", password)
		loginCookie := e2eForm(t, c, p, "/login", "bob", password)
		if r, err := e2ePutAvatar(c, p, loginCookie, "fox"); err != nil || r.status != http.StatusOK {
			t.Fatalf("PUT avatar: %v %d %s", err, r.status, r.body)
		}
		if a, _ := e2eGetAvatar(t, c, p, loginCookie); a.Avatar != "fox" {
			t.Fatalf("avatar %q, want fox", a.Avatar)
		}
		// A failed log-in logs too: it must not log the attempted password.
		form := "username=bob&password=" + password + "-wrong"
		if r := e2eMust(t, c, http.MethodPost, p.base+"/login", "", "application/x-www-form-urlencoded", strings.NewReader(form)); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong password: status %d, want 401", r.status)
		}
		if r := e2eMust(t, c, http.MethodPost, p.base+"/logout", loginCookie, "", nil); r.status != http.StatusSeeOther {
			t.Fatalf("logout: status %d, want 303", r.status)
		}
		p.stop()

		log := p.out.String()
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
		root := e2eRoot(t)
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
		k1, k2 := e2eKey(t), e2eKey(t)
		cases := []struct {
			name    string
			env     e2eEnv
			want    []string
			notWant []string
		}{
			{"short SECRET_KEY", e2eEnv{"SECRET_KEY": short},
				[]string{"soulbridge keygen", "SECRET_KEY"}, []string{short}},
			{"short fallback", e2eEnv{"SECRET_KEY": k1, "SECRET_KEY_FALLBACKS": short},
				[]string{"soulbridge keygen", "SECRET_KEY_FALLBACKS"}, []string{short, k1}},
			{"SECRET_KEY and FLASK_SECRET_KEY differ", e2eEnv{"SECRET_KEY": k1, "FLASK_SECRET_KEY": k2},
				[]string{"FLASK_SECRET_KEY", "differ"}, []string{k1, k2}},
			{"production without key or volume", e2eEnv{"RAILWAY_ENVIRONMENT_NAME": "production"},
				[]string{"SECRET_KEY", "volume", "soulbridge keygen"}, nil},
			{"data dir outside the volume", e2eEnv{"RAILWAY_ENVIRONMENT_NAME": "production", "SECRET_KEY": k1,
				"RAILWAY_VOLUME_MOUNT_PATH": volA, "DATA_DIR": outsideB},
				[]string{volA, outsideB}, []string{k1}},
			{"short key file", e2eEnv{"DATA_DIR": shortKeyFileDir},
				[]string{"soulbridge keygen", keyFileName}, []string{"0123456789abcdef"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				env := e2eEnv{"PORT": strconv.Itoa(e2eFreePort(t)), "DATA_DIR": filepath.Join(root, "data")}
				for k, v := range tc.env {
					env[k] = v
				}
				start := time.Now()
				code, stdout, stderr := e2eRun(t, 10*time.Second, env)
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
		root := e2eRoot(t)
		data := filepath.Join(root, "data")
		c := e2eClient(t)
		p := e2eStart(t, "keyfile-boot1", e2eServerEnv(t, data, nil))
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
		if strings.Contains(p.out.String(), strings.TrimSpace(string(b1))) {
			t.Error("the generated key is in the log")
		}
		cookie := e2eSignup(t, c, p, "carol", "carol-password")
		p.stop()

		p = e2eStart(t, "keyfile-boot2", e2eServerEnv(t, data, nil))
		if a, _ := e2eGetAvatar(t, c, p, cookie); a.Username != "carol" {
			t.Fatalf("boot 2: cookie from boot 1 belongs to %q, want carol", a.Username)
		}
		p.stop()
		b2, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Error("the key file changed on the second boot")
		}
		if strings.Contains(p.out.String(), strings.TrimSpace(string(b1))) {
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
	root := e2eRoot(t)
	data := filepath.Join(root, "data")
	key := e2eKey(t)
	c := e2eClient(t)

	p := e2eStart(t, "crash-boot0", e2eServerEnv(t, data, e2eEnv{"SECRET_KEY": key}))
	ids := e2eCatalogue(t, c, p)
	var writers []*e2eWriter
	for i := range 4 {
		name := fmt.Sprintf("crash%d", i)
		writers = append(writers, &e2eWriter{name: name, cookie: e2eSignup(t, c, p, name, "password-"+name), settled: "default"})
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
					r, err := e2ePutAvatar(c, p, w.cookie, id)
					if err != nil {
						// The process died with this request unanswered:
						// its outcome is unknown.
						return
					}
					if r.status != http.StatusOK {
						t.Errorf("round %d %s: PUT %s: status %d body %s", round, w.name, id, r.status, r.body)
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
		p.kill()
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

		p = e2eStart(t, fmt.Sprintf("crash-boot%d", round), e2eServerEnv(t, data, e2eEnv{"SECRET_KEY": key}))
		for _, w := range writers {
			want := w.settled
			if w.acked != "" {
				want = w.acked
			}
			a, _ := e2eGetAvatar(t, c, p, w.cookie)
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
	p.stop()
	t.Logf("%d writes acknowledged over %d crashes", total, rounds)
}

// TestLockContention: a second process on the same data dir waits for the
// lock and gives up with "locked" after DATA_LOCK_TIMEOUT while the first
// keeps serving; it takes over when the first stops; SIGTERM ends the wait.
func TestLockContention(t *testing.T) {
	root := e2eRoot(t)
	data := filepath.Join(root, "data")
	c := e2eClient(t)
	a := e2eStart(t, "A", e2eServerEnv(t, data, nil))

	b := e2eSpawn(t, "B", e2eServerEnv(t, data, e2eEnv{"DATA_LOCK_TIMEOUT": "2s"}))
	b.waitOutput("locked", 10*time.Second)
	// While B waits, A serves.
	if r := e2eMust(t, c, http.MethodGet, a.base+"/healthz", "", "", nil); r.status != http.StatusOK {
		t.Fatalf("A /healthz while B waits: %d", r.status)
	}
	cookie := e2eSignup(t, c, a, "dave", "dave-password")
	code, ok := b.wait(30 * time.Second)
	took := time.Since(b.started)
	if !ok {
		t.Fatalf("B still running 30s after start with DATA_LOCK_TIMEOUT=2s:\n%s", b.out.String())
	}
	if code == 0 {
		t.Errorf("B exited 0, want non-zero")
	}
	if took < 2*time.Second || took > 15*time.Second {
		t.Errorf("B gave up after %s, want between 2s and 15s", took)
	}
	if !regexp.MustCompile(`(?m)^soulbridge: .*locked`).MatchString(b.out.String()) {
		t.Errorf("B's exit message does not say the data dir is locked:\n%s", b.out.String())
	}
	t.Logf("B gave up after %s with status %d", took.Round(time.Millisecond), code)
	if r := e2eMust(t, c, http.MethodGet, a.base+"/healthz", "", "", nil); r.status != http.StatusOK {
		t.Fatalf("A /healthz after B gave up: %d", r.status)
	}

	// C waits for A's lock; A stops; C takes over and knows A's users.
	cp := e2eSpawn(t, "C", e2eServerEnv(t, data, e2eEnv{"DATA_LOCK_TIMEOUT": "20s"}))
	cp.waitOutput("locked", 10*time.Second)
	time.Sleep(time.Second) // C keeps waiting for a while before A goes away
	a.stop()
	cp.waitHealthy(15 * time.Second)
	if got, _ := e2eGetAvatar(t, c, cp, cookie); got.Username != "dave" {
		t.Fatalf("C: cookie from A belongs to %q, want dave", got.Username)
	}

	// D waits for C's lock; SIGTERM ends the wait at once.
	d := e2eSpawn(t, "D", e2eServerEnv(t, data, e2eEnv{"DATA_LOCK_TIMEOUT": "60s"}))
	d.waitOutput("locked", 10*time.Second)
	sent := time.Now()
	d.cmd.Process.Signal(syscall.SIGTERM)
	code, ok = d.wait(3 * time.Second)
	if !ok {
		t.Fatalf("D did not exit within 3s of SIGTERM during the lock wait:\n%s", d.out.String())
	}
	t.Logf("D exited %s after SIGTERM with status %d", time.Since(sent).Round(time.Millisecond), code)
	if r := e2eMust(t, c, http.MethodGet, cp.base+"/healthz", "", "", nil); r.status != http.StatusOK {
		t.Fatalf("C /healthz after D: %d", r.status)
	}
	cp.stop()
}

// TestCommands: keygen, version, healthcheck, unknown commands.
func TestCommands(t *testing.T) {
	env := func(extra e2eEnv) e2eEnv {
		e := e2eEnv{}
		for k, v := range extra {
			e[k] = v
		}
		return e
	}
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}\n$`)

	code, k1, stderr := e2eRun(t, 10*time.Second, env(nil), "keygen")
	if code != 0 || !hex64.MatchString(k1) {
		t.Errorf("keygen: status %d, stdout %q, stderr %q; want 0 and 64 hex characters + newline", code, k1, stderr)
	}
	_, k2, _ := e2eRun(t, 10*time.Second, env(nil), "keygen")
	if k1 == k2 {
		t.Errorf("two keygen runs printed the same key")
	}

	code, v, stderr := e2eRun(t, 10*time.Second, env(nil), "version")
	if code != 0 || strings.TrimSpace(v) == "" || strings.Count(v, "\n") != 1 {
		t.Errorf("version: status %d, stdout %q, stderr %q; want 0 and one non-empty line", code, v, stderr)
	}

	root := e2eRoot(t)
	p := e2eStart(t, "healthcheck-target", e2eServerEnv(t, filepath.Join(root, "data"), nil))
	code, _, stderr = e2eRun(t, 10*time.Second, env(e2eEnv{"PORT": strconv.Itoa(p.port)}), "healthcheck")
	if code != 0 {
		t.Errorf("healthcheck against a running server: status %d, stderr %q; want 0", code, stderr)
	}
	code, _, _ = e2eRun(t, 10*time.Second, env(e2eEnv{"PORT": strconv.Itoa(e2eFreePort(t))}), "healthcheck")
	if code != 1 {
		t.Errorf("healthcheck against nothing: status %d, want 1", code)
	}
	p.stop()

	code, stdout, stderr := e2eRun(t, 10*time.Second, env(nil), "frobnicate")
	if code == 0 || !strings.Contains(stdout+stderr, "usage") {
		t.Errorf("unknown command: status %d, output %q; want non-zero with usage", code, stdout+stderr)
	}
	code, stdout, stderr = e2eRun(t, 10*time.Second, env(nil), "keygen", "extra")
	if code == 0 || !strings.Contains(stdout+stderr, "usage") {
		t.Errorf("keygen with an argument: status %d, output %q; want non-zero with usage", code, stdout+stderr)
	}
}

// TestGracefulShutdown: a request in flight when SIGTERM arrives completes
// with its normal answer, requests racing the shutdown never get a 5xx, and
// the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	root := e2eRoot(t)
	c := e2eClient(t)
	p := e2eStart(t, "graceful", e2eServerEnv(t, filepath.Join(root, "data"), nil))
	cookie := e2eSignup(t, c, p, "erin", "erin-password")

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
				r, err := e2eDo(c, http.MethodGet, p.base+path, ck, "", nil)
				if err != nil {
					failed.Add(1)
					time.Sleep(5 * time.Millisecond)
					continue
				}
				answered.Add(1)
				if r.status >= 500 {
					t.Errorf("GET %s during shutdown: %d %s", path, r.status, r.body)
				}
			}
		})
	}
	e2eWaitFor(t, 5*time.Second, "racing requests to get answers", func() bool { return answered.Load() >= 20 })

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitOutput("shutting down", 5*time.Second)
	// The listener is closed once nobody new gets in.
	e2eWaitFor(t, 5*time.Second, "the listener to close", func() bool {
		cn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p.port), time.Second)
		if err == nil {
			cn.Close()
			return false
		}
		return true
	})
	stop.Store(true)
	wg.Wait()
	if p.exited() {
		t.Fatalf("the process exited with a request in flight:\n%s", p.out.String())
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
	code, ok := p.wait(10 * time.Second)
	if !ok || code != 0 {
		t.Fatalf("after SIGTERM: exited=%v status %d, want 0:\n%s", ok, code, p.out.String())
	}
	t.Logf("%d racing requests answered, %d refused after the listener closed", answered.Load(), failed.Load())

	// The write completed during shutdown is durable.
	p = e2eStart(t, "graceful-after", e2eServerEnv(t, filepath.Join(root, "data"), e2eEnv{"SHUTDOWN_TIMEOUT": "1s"}))
	if a, _ := e2eGetAvatar(t, c, p, cookie); a.Avatar != "fox" {
		t.Fatalf("after restart: avatar %q, want fox", a.Avatar)
	}

	// A request that never finishes holds the shutdown up for
	// SHUTDOWN_TIMEOUT only; the process still exits 0.
	e2eHeldPut(t, p, cookie, len(body))
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, ok = p.wait(8 * time.Second)
	took := time.Since(sent)
	if !ok || code != 0 {
		t.Fatalf("stuck request, SHUTDOWN_TIMEOUT=1s: exited=%v status %d, want 0:\n%s", ok, code, p.out.String())
	}
	if took < 900*time.Millisecond {
		t.Errorf("exited %s after SIGTERM with a request in flight, before SHUTDOWN_TIMEOUT=1s", took)
	}
	t.Logf("with a stuck request and SHUTDOWN_TIMEOUT=1s, exited %s after SIGTERM", took.Round(time.Millisecond))
}

// e2eHeldPut starts a PUT /community/avatar whose body of bodyLen bytes the
// caller sends later, and returns once the handler is reading it: "Expect:
// 100-continue" makes the server say so.
func e2eHeldPut(t *testing.T, p *e2eProc, cookie string, bodyLen int) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p.port), 5*time.Second)
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
	root := e2eRoot(t)
	data := filepath.Join(root, "data")
	// A root-owned volume with root-owned content, as Railway mounts it.
	if err := os.MkdirAll(filepath.Join(data, "lost+found"), 0o700); err != nil {
		t.Fatal(err)
	}
	p := e2eStart(t, "privdrop", e2eServerEnv(t, data, nil))

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid()))
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
	c := e2eClient(t)
	e2eSignup(t, c, p, "frank", "frank-password")
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
	p.stop()

	// A data dir whose parents do not exist yet: root creates them, and they
	// must stay traversable by 65532 after the drop.
	nested := filepath.Join(root, "missing", "parents", "data")
	p = e2eStart(t, "privdrop-nested", e2eServerEnv(t, nested, nil))
	if !strings.Contains(p.out.String(), "dropped root privileges") {
		t.Errorf("nested data dir: privileges not dropped:\n%s", p.out.String())
	}
	e2eSignup(t, c, p, "grace", "grace-password")
	p.stop()
}
