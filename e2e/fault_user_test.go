package e2e

// The fault test's users: one sequential client per user, each on its own
// client address (X-Real-IP, trusted by the instances) so that the shared
// log-in throttle's counts can be pinned on a user. A client draws its next
// operation from its own seeded generator, sends it to a random instance,
// records the outcome in its history and updates what it expects of the
// site: which of its sessions are live or ended, its password, its
// avatar. An operation that got no answer (or a 5xx) may or may not have
// happened: what it touched becomes unsure and is left out of the checks,
// until a later acknowledged operation settles it.

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"soulbridge/internal/testbin"
)

// maxLive is how many live sessions a user keeps at most (the site keeps
// 50 an account; a log-in past that would end one by itself).
const maxLive = 6

// acctState is what a user knows of its account.
type acctState uint8

const (
	acctNone   acctState = iota // no account: sign up next
	acctYes                     // the account exists, with passwords[0]
	acctUnsure                  // a sign-up or deletion got no answer
)

// faultSession is one session the user's client holds the cookie of.
type faultSession struct {
	cookie string
	id     string // public id (GET /account/sessions), "" until learned
	made   int    // op that created it
	ended  int    // op whose acknowledged answer ended it; -1 while live
	unsure bool   // an end (or the whole account) whose outcome is unknown
}

func (s *faultSession) live() bool { return s.ended < 0 && !s.unsure }

// avatarWant is what GET /community/avatar must answer after healing.
type avatarWant struct {
	known bool     // false after an unsure sign-up or deletion, until the next acknowledged write
	want  string   // the last acknowledged write ("default" after sign-up)
	op    int      // the op that acknowledged it
	maybe []string // later writes whose outcome is unknown
}

// faultUser is one user and its client.
type faultUser struct {
	name, ip string
	rng      *rand.Rand
	began    time.Time
	insts    []string // base URLs
	hc       *http.Client
	presets  []string

	account   acctState
	passwords []string // the password, or the candidates after an unanswered change, likeliest first
	former    string   // the password the last acknowledged change replaced ("" when unsure or none)
	// proven: the account and passwords[0] were set by an acknowledged
	// sign-up or password change, with nothing unsure since (a log-in alone
	// proves little: one on an instance cut off from Redis is checked
	// against its stale copy, window (a)).
	proven    bool
	sessions  []*faultSession
	avatar    avatarWant
	wrongUser []int         // ops whose 200 named another user
	refused   []int         // log-ins refused (401) with the password the client was sure of
	backoff   time.Duration // a longer pause after a 429 (a locked-out user would spin)
	ops       []faultOp
}

func newFaultUser(i int, seed uint64, began time.Time, insts, presets []string, hc *http.Client) *faultUser {
	u := &faultUser{
		name:    fmt.Sprintf("user%02d", i),
		ip:      fmt.Sprintf("10.77.0.%d", i+1),
		rng:     rand.New(rand.NewPCG(seed, uint64(i+1))),
		began:   began,
		insts:   insts,
		hc:      hc,
		presets: presets,
	}
	u.passwords = []string{u.newPassword()}
	return u
}

// run performs operations until ctx ends, one at a time, with a short
// pause between them.
func (u *faultUser) run(ctx context.Context) {
	for ctx.Err() == nil {
		u.step()
		sleepCtx(ctx, time.Duration(10+u.rng.IntN(30))*time.Millisecond+u.backoff)
		u.backoff = 0
	}
}

// step draws and performs one operation.
func (u *faultUser) step() {
	live := u.live()
	switch {
	case u.account == acctNone:
		u.signup()
		return
	case u.account == acctUnsure || len(live) == 0:
		u.login()
		return
	}
	switch r := u.rng.IntN(1000); {
	case r < 120:
		if len(live) < maxLive {
			u.login()
		} else {
			u.logout()
		}
	case r < 210:
		u.logout()
	case r < 330:
		u.endOther()
	case r < 380:
		u.revokeOthers()
	case r < 430:
		u.list(u.pickLive(), -1)
	case r < 630:
		u.put()
	case r < 660:
		u.changePassword()
	case r < 665:
		u.deleteAccount()
	default:
		u.getAll()
	}
}

// live returns the indexes of the sessions the user holds live.
func (u *faultUser) live() []int {
	var out []int
	for i, s := range u.sessions {
		if s.live() {
			out = append(out, i)
		}
	}
	return out
}

// pickLive returns a random live session (there is one).
func (u *faultUser) pickLive() int {
	live := u.live()
	return live[u.rng.IntN(len(live))]
}

func (u *faultUser) newPassword() string {
	b := make([]byte, 10)
	for i := range b {
		b[i] = byte(u.rng.Uint32())
	}
	return "pw " + hex.EncodeToString(b)
}

// request is one request of the user's client.
type request struct {
	kind         opKind
	inst         int // the instance's index; -1: a random one
	sess, target int
	method, path string
	form         url.Values // sent as a form when not nil
	json         string     // sent as JSON when not ""
	acceptJSON   bool
}

// send sends req to a random instance and records it; it returns the
// response (Status noAnswer when none came) and the op's index.
func (u *faultUser) send(req request) (testbin.Response, int) {
	inst := req.inst
	if inst < 0 {
		inst = u.rng.IntN(len(u.insts))
	}
	var body io.Reader
	ctype := ""
	switch {
	case req.form != nil:
		body, ctype = strings.NewReader(req.form.Encode()), "application/x-www-form-urlencoded"
	case req.json != "":
		body, ctype = strings.NewReader(req.json), "application/json"
	}
	hr, err := http.NewRequest(req.method, u.insts[inst]+req.path, body)
	if err != nil {
		panic(err) // a malformed request is a bug in this test
	}
	hr.Header.Set("X-Real-IP", u.ip)
	if ctype != "" {
		hr.Header.Set("Content-Type", ctype)
	}
	if req.acceptJSON {
		hr.Header.Set("Accept", "application/json")
	}
	if req.sess >= 0 {
		hr.Header.Set("Cookie", testbin.SessionCookie+"="+u.sessions[req.sess].cookie)
	}
	start := time.Now()
	var r testbin.Response
	if resp, err := u.hc.Do(hr); err == nil {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			r = testbin.Response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
		}
	}
	u.ops = append(u.ops, faultOp{
		at:     uint32(start.Sub(u.began).Milliseconds()),
		took:   uint32(time.Since(start).Milliseconds()),
		status: int16(r.Status),
		kind:   req.kind,
		inst:   int8(inst),
		sess:   int16(req.sess),
		target: int16(req.target),
	})
	return r, len(u.ops) - 1
}

// unknown reports whether a status leaves the outcome unknown: no answer,
// or a server error (which should not happen, and is checked apart).
func unknown(status int) bool {
	return status == noAnswer || (status >= 500 && status != http.StatusServiceUnavailable)
}

// addSession records a new live session from a response's cookie.
func (u *faultUser) addSession(r testbin.Response, op int) int {
	cookie := r.SessionCookie()
	if cookie == "" {
		return -1
	}
	u.sessions = append(u.sessions, &faultSession{cookie: cookie, made: op, ended: -1})
	s := len(u.sessions) - 1
	u.ops[op].target = int16(s)
	return s
}

// endAll ends every session but keep (-1: all) as of op.
func (u *faultUser) endAll(keep, op int) {
	for i, s := range u.sessions {
		if i != keep && s.ended < 0 {
			s.ended, s.unsure = op, false
		}
	}
}

// unsureAll marks every session but keep as unsure.
func (u *faultUser) unsureAll(keep int) {
	for i, s := range u.sessions {
		if i != keep && s.ended < 0 {
			s.unsure = true
		}
	}
}

func (u *faultUser) credentials(password string) url.Values {
	return url.Values{"username": {u.name}, "password": {password}}
}
