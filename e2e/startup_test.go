package e2e

// Start-up: the secret key rules (refusals, the generated key file) and that
// the key, cookies, tokens and passwords never reach the log; the listener on
// IPv4 and IPv6.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// TestSecretKeyNeverLogged: the key's source is logged, never the key, a
// cookie, a token or a password; the key rules refuse bad configurations at
// start; without a key one is generated, persisted and reused.
func TestSecretKeyNeverLogged(t *testing.T) {
	// Every subtest starts the binary and so skips under -short; skipping
	// here too reports the test itself as skipped, not as passed.
	testbin.SkipShort(t)
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
		// The listening line says how long the start-up took (bench/run.sh
		// reports it): a duration, more than nothing, less than the run.
		if m := regexp.MustCompile(`msg=listening addr=\S+ startup=(\S+)`).FindStringSubmatch(log); m == nil {
			t.Errorf("no listening line with startup=<duration>:\n%s", log)
		} else if d, err := time.ParseDuration(m[1]); err != nil || d <= 0 || d > time.Minute {
			t.Errorf("listening line: startup=%s is not a plausible start-up duration (%v)", m[1], err)
		}
		secrets := map[string]string{
			"the key":           key,
			"the key's hex":     hex.EncodeToString([]byte(key)),
			"the password":      password,
			"the signup cookie": signupCookie,
			"the login cookie":  loginCookie,
		}
		for i, ck := range []string{signupCookie, loginCookie} {
			tok := cookieToken(ck)
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
		if err := os.WriteFile(filepath.Join(shortKeyFileDir, keyFile), []byte("0123456789abcdef\n"), 0o600); err != nil {
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
				[]string{"soulbridge keygen", keyFile}, []string{"0123456789abcdef"}},
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
		path := filepath.Join(data, keyFile)
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
		cookie := testbin.Signup(t, c, p.Base(), "carol", "staple battery horse")
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

// cookieToken extracts the session token from a securecookie value
// (base64url of "date|base64url(token)|mac"), or nil.
func cookieToken(cookie string) []byte {
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

// TestStartupCollectsAfterListening: the start-up runs without a garbage
// collection (startgc.go: the first one, at the collector's 4 MB minimum,
// came before the port was bound and cost about a fifth of the start-up);
// about a second after the listening line the collector is given back and
// the start-up's garbage collected (a forced collection). Seen through the
// Go runtime's own trace of every collection (GODEBUG=gctrace=1).
func TestStartupCollectsAfterListening(t *testing.T) {
	testbin.SkipShort(t)
	p := testbin.Start(t, "gctrace", testbin.ServerEnv(t, filepath.Join(testbin.Root(t), "data"), testbin.Env{
		"SECRET_KEY": testbin.Key(t),
		"LOG_FORMAT": "text",
		"GODEBUG":    "gctrace=1",
	}))
	gcLine := regexp.MustCompile(`(?m)^gc \d+ @.*$`)
	waitFor(t, 10*time.Second, "a forced collection after the start-up", func() bool {
		return strings.Contains(p.Output(), "(forced)")
	})
	p.Stop()
	out := p.Output()
	listening := strings.Index(out, "msg=listening")
	if listening < 0 {
		t.Fatalf("no listening line:\n%s", out)
	}
	first := gcLine.FindStringIndex(out)
	if first == nil {
		t.Fatalf("no collection traced:\n%s", out)
	}
	if first[0] < listening {
		t.Errorf("a collection ran before the port was bound: %q", out[first[0]:first[1]])
	}
}
