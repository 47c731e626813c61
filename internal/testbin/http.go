package testbin

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// SessionCookie is the name of the session cookie on plain http.
const SessionCookie = "sb_session"

// Client is an HTTP client that never follows redirects and keeps no cookie
// jar: tests read Set-Cookie and send Cookie themselves. Its idle
// connections are closed when the test ends.
func Client(t testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Response is a response read to the end.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// SessionCookie returns the sb_session value the response sets, "" if none
// (or if it deletes the cookie).
func (r Response) SessionCookie() string {
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == SessionCookie && c.Value != "" && c.MaxAge >= 0 {
			return c.Value
		}
	}
	return ""
}

// Do sends one request; cookie is the sb_session value ("" for none);
// contentType is set when not "".
func Do(c *http.Client, method, u, cookie, contentType string, body io.Reader) (Response, error) {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return Response{}, err
	}
	if cookie != "" {
		req.Header.Set("Cookie", SessionCookie+"="+cookie)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}, nil
}

// Must is Do failing the test on a transport error.
func Must(t testing.TB, c *http.Client, method, u, cookie, contentType string, body io.Reader) Response {
	t.Helper()
	r, err := Do(c, method, u, cookie, contentType, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return r
}

// Form posts username and password to base+path (/signup or /login) and
// requires a 303 with a session cookie, whose value it returns.
func Form(t testing.TB, c *http.Client, base, path, username, password string) string {
	t.Helper()
	form := url.Values{"username": {username}, "password": {password}}
	r := Must(t, c, http.MethodPost, base+path, "", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if r.Status != http.StatusSeeOther {
		t.Fatalf("POST %s %s: status %d, want 303; body:\n%s", path, username, r.Status, r.Body)
	}
	cookie := r.SessionCookie()
	if cookie == "" {
		t.Fatalf("POST %s %s: no %s cookie in %q", path, username, SessionCookie, r.Header.Values("Set-Cookie"))
	}
	return cookie
}

// Signup signs username up and returns the session cookie's value.
func Signup(t testing.TB, c *http.Client, base, username, password string) string {
	t.Helper()
	return Form(t, c, base, "/signup", username, password)
}

// Avatar is the body of GET and PUT /community/avatar.
type Avatar struct {
	Username string `json:"username"`
	Avatar   string `json:"avatar"`
}

// PutAvatar sets the avatar of the session's user to id and returns the
// response.
func PutAvatar(c *http.Client, base, cookie, id string) (Response, error) {
	body, _ := json.Marshal(map[string]string{"avatar": id})
	return Do(c, http.MethodPut, base+"/community/avatar", cookie, "application/json", bytes.NewReader(body))
}

// GetAvatar requires GET /community/avatar to answer 200 and returns the
// avatar and the response (for Set-Cookie).
func GetAvatar(t testing.TB, c *http.Client, base, cookie string) (Avatar, Response) {
	t.Helper()
	r := Must(t, c, http.MethodGet, base+"/community/avatar", cookie, "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s/community/avatar: status %d, want 200; body %s", base, r.Status, r.Body)
	}
	var a Avatar
	if err := json.Unmarshal([]byte(r.Body), &a); err != nil {
		t.Fatalf("GET %s/community/avatar: %v in %q", base, err, r.Body)
	}
	return a, r
}

// Catalogue returns the preset ids from GET /community/avatars and requires
// at least two.
func Catalogue(t testing.TB, c *http.Client, base string) []string {
	t.Helper()
	r := Must(t, c, http.MethodGet, base+"/community/avatars", "", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /community/avatars: status %d", r.Status)
	}
	var presets []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(r.Body), &presets); err != nil {
		t.Fatalf("GET /community/avatars: %v in %q", err, r.Body)
	}
	ids := make([]string, 0, len(presets))
	for _, p := range presets {
		ids = append(ids, p.ID)
	}
	if len(ids) < 2 {
		t.Fatalf("GET /community/avatars: only %d presets", len(ids))
	}
	return ids
}
