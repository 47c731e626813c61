package e2e

// The operator commands (`soulbridge users …`, `soulbridge avatars …`):
// against a running server (through the admin socket), and on the store
// when no server runs.

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testimage"
)

const operatorPassword = "correct horse battery"

// operator runs `soulbridge args…` and requires exit status want; on
// failure, the reason must be one line.
func runOperator(t *testing.T, env testbin.Env, want int, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := testbin.Run(t, 20*time.Second, env, args...)
	if code != want {
		t.Fatalf("soulbridge %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	if code != 0 && strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("soulbridge %s: the reason is not one line: %q", strings.Join(args, " "), stderr)
	}
	return stdout, stderr
}

type listed struct {
	Username  string    `json:"username"`
	CreatedAt time.Time `json:"created_at"`
	Locked    bool      `json:"locked"`
}

func listedUsers(t *testing.T, env testbin.Env, args ...string) map[string]listed {
	t.Helper()
	out, _ := runOperator(t, env, 0, append([]string{"users", "list", "--json"}, args...)...)
	var us []listed
	if err := json.Unmarshal([]byte(out), &us); err != nil {
		t.Fatalf("users list --json: %v in %q", err, out)
	}
	m := map[string]listed{}
	for _, u := range us {
		if u.CreatedAt.IsZero() {
			t.Fatalf("users list --json: %s has no created_at", u.Username)
		}
		m[u.Username] = u
	}
	return m
}

// logIn posts the log-in form as a JSON client and returns the response.
func operatorLogIn(t *testing.T, c *http.Client, base, name, password string) testbin.Response {
	t.Helper()
	form := url.Values{"username": {name}, "password": {password}}
	req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return testbin.Response{Status: resp.StatusCode, Header: resp.Header, Body: b.String()}
}

// notImageUpload uploads a file that is no image: 415 when uploads are
// allowed, 403 when an operator turned them off.
func notImageUpload(t *testing.T, c *http.Client, base, cookie string) testbin.Response {
	t.Helper()
	return uploadFile(t, c, base, cookie, []byte("this is not an image"))
}

// uploadFile uploads data as the avatar of cookie's user, as a JSON client.
func uploadFile(t *testing.T, c *http.Client, base, cookie string, data []byte) testbin.Response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "x.png")
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, base+"/community/avatar/upload", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cookie", testbin.SessionCookie+"="+cookie)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return testbin.Response{Status: resp.StatusCode, Body: b.String()}
}

func avatarStatus(t *testing.T, c *http.Client, base, cookie string) int {
	t.Helper()
	return testbin.Must(t, c, http.MethodGet, base+"/community/avatar", cookie, "", nil).Status
}

// TestOperatorCommandsServing runs every command against a running server.
func TestOperatorCommandsServing(t *testing.T) {
	testbin.SkipShort(t)
	root := testbin.Root(t)
	env := keyedEnv(t, filepath.Join(root, "data"))
	c := testbin.Client(t)
	p := testbin.Start(t, "ops", env)
	base := p.Base()
	alice := testbin.Signup(t, c, base, "alice", operatorPassword)
	bob := testbin.Signup(t, c, base, "bob", operatorPassword)
	testbin.Signup(t, c, base, "carol", operatorPassword)
	if r, err := testbin.PutAvatar(c, base, bob, "owl"); err != nil || r.Status != http.StatusOK {
		t.Fatalf("bob picks owl: %v %v", r.Status, err)
	}

	codesReq, _ := http.NewRequest(http.MethodPost, base+"/account/recovery-codes",
		strings.NewReader(url.Values{"password": {operatorPassword}}.Encode()))
	codesReq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	codesReq.Header.Set("Accept", "application/json")
	codesReq.Header.Set("Cookie", testbin.SessionCookie+"="+bob)
	if resp, err := c.Do(codesReq); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("bob makes recovery codes: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// list and show
	all := listedUsers(t, env)
	if len(all) != 3 || all["alice"].Locked {
		t.Fatalf("users list: %+v, want alice, bob, carol, none locked", all)
	}
	if some := listedUsers(t, env, "--prefix", "b"); len(some) != 1 || some["bob"].Username != "bob" {
		t.Fatalf("users list --prefix b: %+v, want bob only", some)
	}
	out, _ := runOperator(t, env, 0, "users", "show", "bob")
	for _, want := range []string{"bob", "sessions:  1", "avatar:    owl", "locked:    no", "last seen: 20", "recovery codes left: 10"} {
		if !strings.Contains(out, want) {
			t.Errorf("users show bob: %q lacks %q", out, want)
		}
	}
	if _, stderr := runOperator(t, env, 1, "users", "show", "nobody"); !strings.Contains(stderr, "unknown user") {
		t.Errorf("users show nobody: %q, want unknown user", stderr)
	}

	// lock: sessions end, the correct password gets 403, a wrong one 401
	runOperator(t, env, 0, "users", "lock", "alice", "--reason", "spam")
	if s := avatarStatus(t, c, base, alice); s != http.StatusUnauthorized {
		t.Errorf("alice's session after the lock: %d, want 401", s)
	}
	r := operatorLogIn(t, c, base, "alice", operatorPassword)
	if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "locked") || !strings.Contains(r.Body, "operator") {
		t.Errorf("log-in of a locked account: %d %s, want 403 saying locked and to contact the operator", r.Status, r.Body)
	}
	if r := operatorLogIn(t, c, base, "alice", "wrong password!"); r.Status != http.StatusUnauthorized {
		t.Errorf("wrong password on a locked account: %d, want 401", r.Status)
	}
	if !listedUsers(t, env)["alice"].Locked {
		t.Error("users list: alice not locked")
	}
	if r := testbin.Must(t, c, http.MethodPost, base+"/signup", "", "application/x-www-form-urlencoded",
		strings.NewReader(url.Values{"username": {"alice"}, "password": {operatorPassword}}.Encode())); r.Status != http.StatusConflict {
		t.Errorf("sign-up as the locked alice: %d, want 409 (the name is kept)", r.Status)
	}
	runOperator(t, env, 1, "users", "lock", "alice") // no reason

	// unlock: the password logs in again, and /account tells the member
	runOperator(t, env, 0, "users", "unlock", "alice")
	if out, _ := runOperator(t, env, 0, "users", "show", "alice"); !strings.Contains(out, "account locked by operator") ||
		!strings.Contains(out, "account unlocked by operator") {
		t.Errorf("users show alice does not list the operator's events:\n%s", out)
	}
	alice = testbin.Form(t, c, base, "/login", "alice", operatorPassword)
	if page := testbin.Must(t, c, http.MethodGet, base+"/account", alice, "", nil); !strings.Contains(page.Body, "An operator of this site") {
		t.Error("/account does not say an operator changed the account")
	}

	// end-sessions
	runOperator(t, env, 0, "users", "end-sessions", "alice")
	if s := avatarStatus(t, c, base, alice); s != http.StatusUnauthorized {
		t.Errorf("alice's session after end-sessions: %d, want 401", s)
	}

	// avatars remove / allow
	if r := notImageUpload(t, c, base, bob); r.Status != http.StatusUnsupportedMediaType {
		t.Fatalf("bob's upload before removal: %d %s, want 415", r.Status, r.Body)
	}
	up := uploadFile(t, c, base, bob, testimage.PNG(64, 64))
	var uploaded struct {
		URL string `json:"url"`
	}
	if json.Unmarshal([]byte(up.Body), &uploaded); up.Status != http.StatusOK || !strings.HasPrefix(uploaded.URL, "/avatars/") {
		t.Fatalf("bob uploads a picture: %d %s", up.Status, up.Body)
	}
	if r := testbin.Must(t, c, http.MethodGet, base+uploaded.URL, "", "", nil); r.Status != http.StatusOK {
		t.Fatalf("GET %s: %d before the removal", uploaded.URL, r.Status)
	}
	runOperator(t, env, 0, "avatars", "remove", "bob", "--reason", "offensive")
	if r := testbin.Must(t, c, http.MethodGet, base+uploaded.URL, "", "", nil); r.Status != http.StatusNotFound {
		t.Errorf("GET %s after the removal: %d, want 404 (nothing else uses it)", uploaded.URL, r.Status)
	}
	if a, _ := testbin.GetAvatar(t, c, base, bob); a.Avatar != "default" {
		t.Errorf("bob's avatar after removal: %q, want default", a.Avatar)
	}
	if r := notImageUpload(t, c, base, bob); r.Status != http.StatusForbidden || !strings.Contains(r.Body, "operator") {
		t.Errorf("bob's upload after removal: %d %s, want 403 with a reason", r.Status, r.Body)
	}
	runOperator(t, env, 0, "avatars", "allow", "bob")
	if r := notImageUpload(t, c, base, bob); r.Status != http.StatusUnsupportedMediaType {
		t.Errorf("bob's upload after allow: %d %s, want 415", r.Status, r.Body)
	}

	// delete: as the member's own deletion
	runOperator(t, env, 0, "users", "delete", "bob")
	if s := avatarStatus(t, c, base, bob); s != http.StatusUnauthorized {
		t.Errorf("bob's session after delete: %d, want 401", s)
	}
	if _, ok := listedUsers(t, env)["bob"]; ok {
		t.Error("users list still has bob")
	}
	runOperator(t, env, 1, "users", "delete", "bob")
	testbin.Signup(t, c, base, "bob", operatorPassword) // the name is free

	if out := p.Output(); !strings.Contains(out, `event="account locked" user=alice by=operator`) {
		t.Errorf("the server's log has no operator event for the lock:\n%s", out)
	}
}

// TestOperatorCommandsNoServer: with no server running, the commands open
// the store; with REDIS_URL set, changes are refused.
func TestOperatorCommandsNoServer(t *testing.T) {
	testbin.SkipShort(t)
	root := testbin.Root(t)
	env := keyedEnv(t, filepath.Join(root, "data"))
	c := testbin.Client(t)
	p := testbin.Start(t, "ops-before", env)
	testbin.Signup(t, c, p.Base(), "alice", operatorPassword)
	testbin.Signup(t, c, p.Base(), "bob", operatorPassword)
	p.Stop()

	if _, ok := listedUsers(t, env)["alice"]; !ok {
		t.Fatal("users list on the store: no alice")
	}
	out, _ := runOperator(t, env, 0, "users", "show", "alice")
	if !strings.Contains(out, "sessions:  1") {
		t.Errorf("users show alice on the store: %q, want 1 session", out)
	}
	runOperator(t, env, 0, "users", "lock", "alice", "--reason", "spam")
	runOperator(t, env, 0, "users", "delete", "bob")
	runOperator(t, env, 1, "users", "unlock", "nobody")
	withRedis := env.With(testbin.Env{"REDIS_URL": "redis://127.0.0.1:1"})
	if _, stderr := runOperator(t, withRedis, 1, "users", "unlock", "alice"); !strings.Contains(stderr, "REDIS_URL") {
		t.Errorf("a change with REDIS_URL and no server: %q, want a refusal naming REDIS_URL", stderr)
	}

	p = testbin.Start(t, "ops-after", env)
	if r := operatorLogIn(t, c, p.Base(), "alice", operatorPassword); r.Status != http.StatusForbidden {
		t.Errorf("log-in after a lock made on the store: %d, want 403", r.Status)
	}
	testbin.Signup(t, c, p.Base(), "bob", operatorPassword) // deleted: the name is free
}

// TestOperatorLockAcrossInstances: two instances on one Redis; a lock
// made through A refuses the password on B at once, and ends B's sessions;
// a reset link made through A works on B, once; with Redis down, a change
// is refused (exit 1), not queued.
func TestOperatorLockAcrossInstances(t *testing.T) {
	p := startPair(t)
	envA := p.envA

	onB := testbin.Signup(t, p.c, p.b.Base(), "alice", operatorPassword)
	runOperator(t, envA, 0, "users", "lock", "alice", "--reason", "spam")
	if r := operatorLogIn(t, p.c, p.b.Base(), "alice", operatorPassword); r.Status != http.StatusForbidden {
		t.Errorf("log-in on B right after a lock through A: %d %s, want 403", r.Status, r.Body)
	}
	if s := avatarStatus(t, p.c, p.b.Base(), onB); s != http.StatusUnauthorized {
		t.Errorf("alice's session on B after the lock through A: %d, want 401", s)
	}

	// A reset link made through A works on B, once.
	testbin.Signup(t, p.c, p.a.Base(), "bob", operatorPassword)
	out, _ := runOperator(t, envA, 0, "users", "reset-link", "bob", "--base", p.b.Base())
	lines := strings.Split(strings.TrimSpace(out), "\n")
	form := url.Values{"new_password": {"staple violet quarry"}}.Encode()
	if r := testbin.Must(t, p.c, http.MethodPost, lines[len(lines)-1], "", "application/x-www-form-urlencoded", strings.NewReader(form)); r.Status != http.StatusSeeOther {
		t.Errorf("a reset link made through A, used on B: %d, want 303", r.Status)
	}
	if r := testbin.Must(t, p.c, http.MethodPost, strings.Replace(lines[len(lines)-1], p.b.Base(), p.a.Base(), 1), "",
		"application/x-www-form-urlencoded", strings.NewReader(form)); r.Status != http.StatusBadRequest {
		t.Errorf("the same link used again on A: %d, want 400", r.Status)
	}

	p.redis.Kill()
	p.waitRedis(t, "down", 10*time.Second)
	if _, stderr := runOperator(t, envA, 1, "users", "unlock", "alice"); !strings.Contains(stderr, "Redis") {
		t.Errorf("unlock with Redis down: %q, want a refusal naming Redis", stderr)
	}
}

// TestOperatorStoreLocked: a server that holds the store but has no admin
// socket (its path is too long for a Unix socket) leaves the command
// nothing to ask and the store locked: exit 1 with a one-line reason.
func TestOperatorStoreLocked(t *testing.T) {
	testbin.SkipShort(t)
	dir := filepath.Join(testbin.Root(t), strings.Repeat("d", 60), strings.Repeat("e", 60))
	env := keyedEnv(t, dir)
	p := testbin.Start(t, "no-socket", env)
	testbin.Signup(t, testbin.Client(t), p.Base(), "alice", operatorPassword)
	if !strings.Contains(p.Output(), "admin socket unavailable") {
		t.Fatalf("the server has its admin socket; the test needs one without:\n%s", p.Output())
	}
	if _, stderr := runOperator(t, env, 1, "users", "lock", "alice", "--reason", "spam"); !strings.Contains(stderr, "locked by another process") {
		t.Errorf("users lock with the store held and no socket: %q, want the store-locked reason", stderr)
	}
}

// TestOperatorResetLink: `users reset-link` prints a link as its last line
// (refused without a public address unless --base); the link sets a new
// password once, logging the member in; the server's log never holds it.
func TestOperatorResetLink(t *testing.T) {
	testbin.SkipShort(t)
	env := keyedEnv(t, filepath.Join(testbin.Root(t), "data"))
	c := testbin.Client(t)
	p := testbin.Start(t, "reset", env)
	old := testbin.Signup(t, c, p.Base(), "alice", operatorPassword)

	if _, stderr := runOperator(t, env, 1, "users", "reset-link", "alice"); !strings.Contains(stderr, "PUBLIC_URL") {
		t.Errorf("reset-link without a public address: %q, want a refusal naming PUBLIC_URL", stderr)
	}
	runOperator(t, env, 1, "users", "reset-link", "nobody", "--base", p.Base())
	out, _ := runOperator(t, env.With(testbin.Env{"PUBLIC_URL": p.Base()}), 0, "users", "reset-link", "alice")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	link := lines[len(lines)-1]
	if !strings.HasPrefix(link, p.Base()+"/reset?") {
		t.Fatalf("reset-link's last line %q is not a link to %s/reset", link, p.Base())
	}
	if r := testbin.Must(t, c, http.MethodGet, link, "", "", nil); r.Status != http.StatusOK || !strings.Contains(r.Body, "new_password") {
		t.Fatalf("GET the link: %d", r.Status)
	}
	const newPassword = "staple violet quarry"
	form := url.Values{"new_password": {newPassword}}.Encode()
	r := testbin.Must(t, c, http.MethodPost, link, "", "application/x-www-form-urlencoded", strings.NewReader(form))
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/account" || r.SessionCookie() == "" {
		t.Fatalf("POST the link: %d %q, want 303 /account with a session", r.Status, r.Header.Get("Location"))
	}
	if s := avatarStatus(t, c, p.Base(), r.SessionCookie()); s != http.StatusOK {
		t.Errorf("the reset's session: %d, want 200", s)
	}
	if s := avatarStatus(t, c, p.Base(), old); s != http.StatusUnauthorized {
		t.Errorf("the session from before the reset: %d, want 401", s)
	}
	if r := testbin.Must(t, c, http.MethodPost, link, "", "application/x-www-form-urlencoded", strings.NewReader(form)); r.Status != http.StatusBadRequest {
		t.Errorf("the link used twice: %d, want 400", r.Status)
	}
	testbin.Form(t, c, p.Base(), "/login", "alice", newPassword)
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if token := u.Query().Get("token"); len(token) < 40 || strings.Contains(p.Output(), token) {
		t.Errorf("the link's token is short or in the server's log: %q", u.Query().Get("token"))
	}
}
