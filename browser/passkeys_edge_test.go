package browser_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testredis"
)

// TestPasskeyBegunOnOneInstanceFinishedOnAnother: two instances on one
// Redis behind one origin, as behind Railway's edge (no sticky sessions).
// The edge sends every ceremony's finish to B and everything else to A, so
// in Chromium a passkey sign-up and a log-in with the button are each begun
// on A and finished on B, and the session B made is the one A then serves.
func TestPasskeyBegunOnOneInstanceFinishedOnAnother(t *testing.T) {
	rs := testredis.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	key := testbin.Key(t)
	start := func(name string) *server {
		s := &server{t: t, env: testbin.ServerEnv(t, filepath.Join(testbin.Root(t), name), testbin.Env{
			"SECRET_KEY":        key,
			"REDIS_URL":         rs.URL(),
			"PUBLIC_URL":        front, // one relying party for both
			"LOG_FORMAT":        "text",
			"SHUTDOWN_TIMEOUT":  "5s",
			"DATA_LOCK_TIMEOUT": "10s",
		})}
		s.start()
		return s
	}
	a, b := start("a"), start("b")

	// The edge keeps the request's Host (the relying party's), as a
	// platform's does, and notes which instance answered each ceremony step.
	var mu sync.Mutex
	served := map[string][]string{}
	proxy := func(s *server) *httputil.ReverseProxy {
		u, err := url.Parse(s.proc.Base())
		if err != nil {
			t.Fatal(err)
		}
		return httputil.NewSingleHostReverseProxy(u)
	}
	toA, toB := proxy(a), proxy(b)
	edge := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		to, name := toA, "A"
		if strings.HasPrefix(r.URL.Path, "/passkeys/") && strings.HasSuffix(r.URL.Path, "/finish") {
			to, name = toB, "B"
		}
		if strings.HasPrefix(r.URL.Path, "/passkeys/") {
			mu.Lock()
			served[r.URL.Path] = append(served[r.URL.Path], name)
			mu.Unlock()
		}
		to.ServeHTTP(w, r)
	})}
	go func() {
		if err := edge.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("edge: %v", err)
		}
	}()
	t.Cleanup(func() { edge.Close() })
	a.front = front

	tb := newTab(t, a, tabOptions{})
	auth := tb.virtualAuthenticator()
	tb.passkeySignUp("ada")
	tb.checkAxe("community after a passkey sign-up across instances")
	creds := tb.credentials(auth)
	if len(creds) != 1 {
		t.Fatalf("after the sign-up the authenticator holds %d credentials, want 1", len(creds))
	}
	tb.logOut()

	// Log in with the button (the credential added once the page's
	// autofill request is pending: see TestPasskeysInBrowser).
	tb.clearCredentials(auth)
	if res := tb.navigate("/login"); res.Status != 200 {
		t.Fatalf("GET /login: %d", res.Status)
	}
	tb.waitTrue("the autofill request made", `document.querySelector('[data-passkey-login]').dataset.mediation === 'conditional'`)
	tb.addCredential(auth, creds[0])
	mark := tb.rec.mark()
	tb.do("log in with the button", chromedp.Click(chromedp.ID("passkey-login"), chromedp.NodeVisible))
	tb.waitCommunity(mark) // GET /community/avatar 200 from A, with B's session

	mu.Lock()
	defer mu.Unlock()
	for path, want := range map[string]string{
		"/passkeys/signup/begin": "A", "/passkeys/signup/finish": "B",
		"/passkeys/login/begin": "A", "/passkeys/login/finish": "B",
	} {
		if got := served[path]; len(got) == 0 || slices.ContainsFunc(got, func(n string) bool { return n != want }) {
			t.Errorf("%s answered by %v, want %s only", path, got, want)
		}
	}
}
