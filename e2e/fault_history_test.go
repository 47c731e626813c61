package e2e

// The fault test's history: every request a user's client made, with its
// outcome, kept compact (a few bytes an operation) and printed only where a
// check failed.

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// opKind is one kind of user operation.
type opKind uint8

const (
	opSignup   opKind = iota // POST /signup
	opLogin                  // POST /login
	opLogout                 // POST /logout
	opList                   // GET /account/sessions
	opEnd                    // DELETE /account/sessions/{id}
	opRevoke                 // POST /account/sessions/revoke-others
	opPut                    // PUT /community/avatar
	opGet                    // GET /community/avatar
	opGetEnded               // GET /community/avatar with an ended cookie
	opPassword               // POST /account/password
	opDelete                 // POST /account/delete
	numOpKinds
)

var opNames = [numOpKinds]string{
	"sign-up", "log-in", "log-out", "list", "end", "revoke-others",
	"put-avatar", "get-avatar", "get-ended", "password", "delete",
}

func (k opKind) String() string { return opNames[k] }

// mayBeUnavailable reports whether the README lets o answer 503 while the
// shared tier is down: sign-up, log-in (of an account the instance never
// saw), password change, deletion, and ending a session by an id the
// instance did not list. Logging out, ending a listed session, avatar
// writes and every read never may, on an instance with a persistent data
// dir (every instance here has one).
func (o faultOp) mayBeUnavailable() bool {
	switch o.kind {
	case opSignup, opLogin, opPassword, opDelete:
		return true
	case opEnd:
		return o.unlisted
	}
	return false
}

// ends reports whether k ends sessions when acknowledged.
func (k opKind) ends() bool {
	switch k {
	case opLogout, opEnd, opRevoke, opPassword, opDelete:
		return true
	}
	return false
}

// noAnswer is the status recorded for a request that got no HTTP answer
// (connection refused or reset, timeout): its outcome is unknown.
const noAnswer = 0

// faultOp is one request and its outcome. at and took are milliseconds
// since the run began; sess is the session (index in the user's table)
// whose cookie the request carried, target the session it acted on or
// created; -1 for none. A guess (after an unanswered password change, or
// for an account that may not exist) may be refused.
type faultOp struct {
	at, took     uint32
	status       int16
	kind         opKind
	inst         int8
	sess, target int16
	guess        bool // log-in: with a password the client was not sure of
	unlisted     bool // end: of an id the instance had not just listed
}

// checksPassword reports whether o's kind checks a password, counted by
// the log-in throttle (a success gives its count back).
func (o faultOp) checksPassword() bool {
	return o.kind == opLogin || o.kind == opPassword || o.kind == opDelete
}

// mayBeRefused reports whether o's password check was, or may have been,
// refused: a count it left in the throttle is a real failure's.
func (o faultOp) mayBeRefused() bool {
	switch o.kind {
	case opLogin:
		return o.status == 401 || (o.guess && unknown(int(o.status)))
	case opPassword, opDelete:
		return o.status == 403 // a 401 is a session refused before any check
	}
	return false
}

func (o faultOp) start() time.Duration { return time.Duration(o.at) * time.Millisecond }
func (o faultOp) stop() time.Duration {
	return time.Duration(o.at+o.took) * time.Millisecond
}

// format is one history line: "#17 12.345s log-out on B with s3 → 303 (4 ms)".
func (o faultOp) format(i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %.3fs %s on %s", i, o.start().Seconds(), o.kind, instName(int(o.inst)))
	if o.sess >= 0 {
		fmt.Fprintf(&b, " with s%d", o.sess)
	}
	if o.target >= 0 {
		fmt.Fprintf(&b, " target s%d", o.target)
	}
	if o.unlisted {
		b.WriteString(" (not listed there)")
	}
	if o.status == noAnswer {
		b.WriteString(" → no answer")
	} else {
		fmt.Fprintf(&b, " → %d", o.status)
	}
	fmt.Fprintf(&b, " (%d ms)", o.took)
	return b.String()
}

// history is the part of the user's history that explains f, at most max
// lines (the latest): for a session, the ops that made, used or targeted
// it, and those that ended every session until it ended; for the avatar, the writes and the
// sign-ups and deletions; otherwise the ops around f's op.
func (f faultFailure) history(max int) string {
	u := f.user
	keep := func(i int, o faultOp) bool { return i >= f.op-8 && i <= f.op+3 }
	switch {
	case f.invariant == invAvatar:
		keep = func(_ int, o faultOp) bool {
			return o.kind == opPut || o.kind == opSignup || o.kind == opDelete
		}
	case f.invariant == invPassword:
		keep = func(_ int, o faultOp) bool {
			return o.kind == opSignup || o.kind == opPassword || o.kind == opDelete ||
				(o.kind == opLogin && o.status == http.StatusSeeOther)
		}
	case f.sess >= 0:
		made, last := u.sessions[f.sess].made, u.sessions[f.sess].ended
		if last < 0 {
			last = len(u.ops)
		}
		keep = func(i int, o faultOp) bool {
			return int(o.sess) == f.sess || int(o.target) == f.sess ||
				(i >= made && i <= last && (o.kind == opRevoke || o.kind == opPassword || o.kind == opDelete))
		}
	}
	var lines []string
	for i, o := range u.ops {
		if keep(i, o) {
			lines = append(lines, "    "+o.format(i))
		}
	}
	if len(lines) > max {
		lines = append([]string{fmt.Sprintf("    (%d earlier lines left out)", len(lines)-max)}, lines[len(lines)-max:]...)
	}
	return strings.Join(lines, "\n")
}
