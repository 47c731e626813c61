package e2e

// The fault test's reads after healing: every settled cookie on every
// instance, judged against the user's history (ended: 401; live: 200 as
// this user; one live cookie a user: the last acknowledged avatar), again
// and again until the instances agree and every answer is right, or the
// bound has passed.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"soulbridge/internal/testbin"
)

// checkItem is one cookie to read on every instance: a session that must
// be ended or live, and for one live session per user, its avatar.
type checkItem struct {
	u      *faultUser
	s      int
	avatar bool
}

// checkAnswer is what every instance answered for an item.
type checkAnswer struct {
	status []int
	avatar []string
}

// items lists every settled session of every user (unsure ones are left
// out), and marks one live session per user whose avatar is known.
func (k *faultChecker) items() []checkItem {
	var out []checkItem
	for _, u := range k.users {
		avatarDone := !(u.account == acctYes && u.avatar.known)
		for i, s := range u.sessions {
			if s.unsure {
				continue
			}
			it := checkItem{u: u, s: i}
			if s.live() && !avatarDone {
				it.avatar, avatarDone = true, true
			}
			out = append(out, it)
		}
	}
	return out
}

// read asks every instance about every item, a few items at a time.
func (k *faultChecker) read(items []checkItem) []checkAnswer {
	out := make([]checkAnswer, len(items))
	work := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range work {
				out[i] = k.readOne(items[i])
			}
		})
	}
	for i := range items {
		work <- i
	}
	close(work)
	wg.Wait()
	return out
}

func (k *faultChecker) readOne(it checkItem) checkAnswer {
	var a checkAnswer
	for _, in := range k.c.insts {
		r, err := testbin.Do(k.hc, http.MethodGet, in.base+"/community/avatar", it.u.sessions[it.s].cookie, "", nil)
		if err != nil {
			r.Status = noAnswer
		}
		var body testbin.Avatar
		_ = json.Unmarshal([]byte(r.Body), &body)
		if r.Status == http.StatusOK && body.Username != it.u.name {
			body.Avatar = "(as " + body.Username + ")"
		}
		a.status = append(a.status, r.Status)
		a.avatar = append(a.avatar, body.Avatar)
	}
	return a
}

// judge returns the failure an answer shows (nil if none) and whether the
// instances disagreed.
func (k *faultChecker) judge(it checkItem, a checkAnswer) (*faultFailure, bool) {
	u, s := it.u, it.u.sessions[it.s]
	disagree := slices.ContainsFunc(a.status, func(st int) bool { return st != a.status[0] }) ||
		(it.avatar && slices.ContainsFunc(a.avatar, func(v string) bool { return v != a.avatar[0] }))
	answers := k.answers(a, it.avatar)
	made := u.ops[s.made]
	switch {
	case s.ended >= 0:
		if slices.ContainsFunc(a.status, func(st int) bool { return st != http.StatusUnauthorized }) {
			end := u.ops[s.ended]
			if k.windowC(made, end) {
				k.exempt[fmt.Sprintf("%s s%d", u.name, it.s)] = true
				return nil, disagree
			}
			return &faultFailure{invEnded, u, it.s, s.ended, fmt.Sprintf(
				"%s s%d (made by %s) ended by %s answers %s; faults from %s before the end on: %s",
				u.name, it.s, made.format(s.made), end.format(s.ended), answers, faultGrace, k.faultsSince(end.start()-faultGrace)),
				k.endCase(made, end)}, disagree
		}
	case slices.ContainsFunc(a.status, func(st int) bool { return st != http.StatusOK }) ||
		slices.ContainsFunc(a.avatar, func(v string) bool { return strings.HasPrefix(v, "(as ") }):
		if k.staleLogin(u, s.made) {
			k.exempt[fmt.Sprintf("%s s%d (stale log-in)", u.name, it.s)] = true
			return nil, disagree
		}
		return &faultFailure{invLive, u, it.s, s.made, fmt.Sprintf(
			"%s s%d (made by %s, never ended) answers %s; faults since: %s",
			u.name, it.s, made.format(s.made), answers, k.faultsSince(made.start())), ""}, disagree
	case it.avatar:
		allowed := append([]string{u.avatar.want}, u.avatar.maybe...)
		if slices.ContainsFunc(a.avatar, func(v string) bool { return !slices.Contains(allowed, v) }) {
			how := "sign-up"
			if u.avatar.op >= 0 && u.avatar.op < len(u.ops) {
				how = u.ops[u.avatar.op].format(u.avatar.op)
			}
			return &faultFailure{invAvatar, u, it.s, u.avatar.op, fmt.Sprintf(
				"%s: last acknowledged avatar %q (%s), unanswered writes after it %q; read with s%d: %s",
				u.name, u.avatar.want, how, u.avatar.maybe, it.s, answers), ""}, disagree
		}
	}
	return nil, disagree
}

// endCase sorts a session that outlived its acknowledged end by where
// the faults were: made on an instance cut off from Redis (a fault
// overlapped the log-in, and the end came on another instance before that
// fault was over for a second, so the ending instance could not know of
// it); ended on an instance cut off from Redis, or back from an outage for
// less than faultGrace (Redis restarted empty included: until the push-back
// it knows only its own sessions), made elsewhere; both; or neither.
func (k *faultChecker) endCase(made, end faultOp) string {
	madeCut := made.inst != end.inst && k.overlaps(int(made.inst), made.start(), made.stop(), end.start()-time.Second)
	endCut := made.inst != end.inst && k.faultsAt(int(end.inst), end.start(), end.stop()) != "none"
	switch {
	case madeCut && endCut:
		return "made and ended on instances cut off from Redis"
	case madeCut:
		return "made on an instance cut off from Redis, ended elsewhere before it was back"
	case endCut:
		return fmt.Sprintf("ended on an instance cut off from Redis (or back for under %s), made elsewhere", faultGrace)
	}
	return "no fault at the making or the ending instance"
}

// windowC reports whether a session that outlived its end is in the one
// case the design leaves open besides windows (a) and (b) (SECURITY.md,
// docs/architecture.md): "log out everywhere else" answered by an
// instance whose mirror was down (so the account could not record the end
// for everyone, and only the sessions that instance had heard of were
// ended), of a session made on another instance.
func (k *faultChecker) windowC(made, end faultOp) bool {
	return end.kind == opRevoke && made.inst != end.inst && k.saidDown(int(end.inst), end.start(), end.stop())
}

// staleLogin reports whether the log-in u.ops[i] is in window (a) for
// accounts: made by an instance whose mirror was down, after the account
// was changed on another instance (a password change, a deletion and a new
// sign-up) while that instance could not hear of it (approximated: its
// mirror was down at the log-in and at some time since the change). It
// checked the
// password against its stale copy, so its session belongs to the account
// as it was, and ends once the instance is back (seed 10: log-ins on B,
// cut off, after the account was deleted and signed up again on A).
func (k *faultChecker) staleLogin(u *faultUser, i int) bool {
	made := u.ops[i]
	if made.kind != opLogin || !k.saidDown(int(made.inst), made.start(), made.stop()) {
		return false
	}
	for _, o := range u.ops[:i] {
		changed := o.kind == opPassword || o.kind == opDelete || o.kind == opSignup
		if changed && o.inst != made.inst && o.status > 0 && o.status < 400 &&
			k.saidDown(int(made.inst), o.start(), made.start()) {
			return true
		}
	}
	return false
}

// overlaps reports whether a fault on instance i (Redis' included)
// overlapped [from, to] and lasted at least until notBefore.
func (k *faultChecker) overlaps(i int, from, to, notBefore time.Duration) bool {
	for _, e := range k.events {
		if e.affects(i) && e.start <= to && e.end >= from && e.end >= notBefore {
			return true
		}
	}
	return false
}

// answers formats what each instance answered: "A 200 owl, B 401, C 200 owl".
func (k *faultChecker) answers(a checkAnswer, avatar bool) string {
	parts := make([]string, len(a.status))
	for i, st := range a.status {
		parts[i] = instName(i) + " " + strconv.Itoa(st)
		if (avatar && st == http.StatusOK) || strings.HasPrefix(a.avatar[i], "(as ") {
			parts[i] += " " + a.avatar[i]
		}
	}
	return strings.Join(parts, ", ")
}

// convergence is how the reads settled after healing.
type convergence struct {
	agreed, correct time.Duration // when every instance first gave the same answers; every answer right
	agreedOK        bool
	correctOK       bool
	rounds          int
	items           int
}

// converge reads every item, then again only those that failed or on which
// the instances disagreed, until none is left or bound has passed since
// the cluster was ready, then reads every item once more: the failures of
// that last round are the verdict.
func (k *faultChecker) converge(ready time.Time, bound time.Duration) (convergence, []faultFailure) {
	all := k.items()
	cv := convergence{items: len(all)}
	pending := all
	for {
		cv.rounds++
		answers := k.read(pending)
		var failing, disagreeing []checkItem
		for i, it := range pending {
			f, dis := k.judge(it, answers[i])
			if f != nil || dis {
				failing = append(failing, it)
			}
			if dis {
				disagreeing = append(disagreeing, it)
			}
		}
		if len(disagreeing) == 0 && !cv.agreedOK {
			cv.agreed, cv.agreedOK = time.Since(ready), true
		}
		if len(failing) == 0 {
			cv.correct, cv.correctOK = time.Since(ready), true
			break
		}
		if time.Since(ready) > bound {
			break
		}
		pending = failing
		time.Sleep(100 * time.Millisecond)
	}
	var fails []faultFailure
	for i, a := range k.read(all) {
		if f, _ := k.judge(all[i], a); f != nil {
			fails = append(fails, *f)
		}
	}
	return cv, fails
}
