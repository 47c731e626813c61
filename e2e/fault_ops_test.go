package e2e

// The fault test's user operations: what each request is, and what its
// answer tells the client about its sessions, password, account and
// avatar (fault_user_test.go has the client and its state).

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

func (u *faultUser) signup() {
	r, op := u.send(request{kind: opSignup, inst: -1, sess: -1, target: -1, method: http.MethodPost, path: "/signup",
		form: u.credentials(u.passwords[0])})
	switch {
	case r.Status == http.StatusSeeOther:
		u.account = acctYes
		u.passwords = u.passwords[:1]
		u.former, u.proven = "", true
		u.avatar = avatarWant{known: true, want: "default", op: op}
		if s := u.addSession(r, op); s >= 0 {
			u.list(s, -1)
		}
	case r.Status == http.StatusConflict, unknown(r.Status):
		// Taken: an unanswered sign-up of ours went through, or an earlier
		// owner's deletion is not done. A log-in will tell.
		u.account, u.proven = acctUnsure, false
		u.avatar.known = false
	}
}

func (u *faultUser) login() {
	pw := u.passwords[0]
	r, op := u.send(request{kind: opLogin, inst: -1, sess: -1, target: -1, method: http.MethodPost, path: "/login",
		form: u.credentials(pw)})
	sure := u.account == acctYes && len(u.passwords) == 1
	switch {
	case r.Status == http.StatusSeeOther:
		u.account = acctYes
		u.passwords = []string{pw}
		if s := u.addSession(r, op); s >= 0 {
			u.list(s, -1)
		}
	case r.Status == http.StatusTooManyRequests:
		u.backoff = time.Second
	case r.Status == http.StatusUnauthorized:
		if sure {
			u.refused = append(u.refused, op)
		}
		switch {
		case len(u.passwords) > 1:
			u.passwords = u.passwords[1:]
		case u.account == acctUnsure:
			u.account = acctNone
		}
	}
	u.ops[op].guess = !sure
}

// list asks instance inst (-1: a random one) for the sessions of s's
// user with s's cookie, learns s's public id (the entry marked current) and
// returns every id listed (nil when the list failed).
func (u *faultUser) list(s, inst int) map[string]bool {
	r, _ := u.send(request{kind: opList, inst: inst, sess: s, target: -1, method: http.MethodGet, path: "/account/sessions"})
	if r.Status != http.StatusOK {
		return nil
	}
	var list []struct {
		ID      string `json:"id"`
		Current bool   `json:"current"`
	}
	if json.Unmarshal([]byte(r.Body), &list) != nil {
		return nil
	}
	ids := map[string]bool{}
	for _, e := range list {
		ids[e.ID] = true
		if e.Current {
			u.sessions[s].id = e.ID
		}
	}
	return ids
}

func (u *faultUser) logout() {
	s := u.pickLive()
	r, op := u.send(request{kind: opLogout, inst: -1, sess: s, target: s, method: http.MethodPost, path: "/logout",
		form: url.Values{}})
	switch {
	case r.Status == http.StatusSeeOther:
		u.sessions[s].ended = op
	case unknown(r.Status) || r.Status == http.StatusServiceUnavailable:
		u.sessions[s].unsure = true
	}
}

// endOther ends another of the user's sessions through the sessions API,
// with an id GET /account/sessions gave.
func (u *faultUser) endOther() {
	live := u.live()
	if len(live) < 2 {
		u.login()
		return
	}
	actor := live[u.rng.IntN(len(live))]
	target := actor
	for target == actor {
		target = live[u.rng.IntN(len(live))]
	}
	if u.sessions[target].id == "" {
		u.list(target, -1)
		if u.sessions[target].id == "" {
			return
		}
	}
	// As the account page does: list, then end one, on one instance. An
	// id that instance did not list may answer 503 while its mirror is down
	// (README); a listed one never may.
	inst := u.rng.IntN(len(u.insts))
	listed := u.list(actor, inst)
	r, op := u.send(request{kind: opEnd, inst: inst, sess: actor, target: target, method: http.MethodDelete,
		path: "/account/sessions/" + u.sessions[target].id})
	u.ops[op].unlisted = !listed[u.sessions[target].id]
	switch {
	case r.Status == http.StatusNoContent:
		u.sessions[target].ended = op
	case unknown(r.Status) || r.Status == http.StatusServiceUnavailable:
		u.sessions[target].unsure = true
	}
}

func (u *faultUser) revokeOthers() {
	s := u.pickLive()
	r, op := u.send(request{kind: opRevoke, inst: -1, sess: s, target: -1, method: http.MethodPost,
		path: "/account/sessions/revoke-others", acceptJSON: true})
	switch {
	case r.Status == http.StatusOK:
		u.endAll(s, op)
	case unknown(r.Status) || r.Status == http.StatusServiceUnavailable:
		u.unsureAll(s)
	}
}

func (u *faultUser) put() {
	s := u.pickLive()
	id := u.presets[u.rng.IntN(len(u.presets))]
	r, op := u.send(request{kind: opPut, inst: -1, sess: s, target: -1, method: http.MethodPut,
		path: "/community/avatar", json: `{"avatar":"` + id + `"}`})
	switch {
	case r.Status == http.StatusOK:
		u.avatar = avatarWant{known: true, want: id, op: op}
	case unknown(r.Status) || r.Status == http.StatusServiceUnavailable:
		u.avatar.maybe = append(u.avatar.maybe, id)
	}
}

// getAll reads the avatar with every live cookie, each on a random
// instance (a 200 must name this user), and with one of the last few
// ended ones, as a stale tab would: an instance that has not heard of the
// end yet may answer 200, and may renew the session if its renewal is due.
func (u *faultUser) getAll() {
	for _, s := range u.live() {
		r, op := u.send(request{kind: opGet, inst: -1, sess: s, target: -1, method: http.MethodGet, path: "/community/avatar"})
		if r.Status == http.StatusOK && !strings.Contains(r.Body, `"username":"`+u.name+`"`) {
			u.wrongUser = append(u.wrongUser, op)
		}
	}
	var ended []int
	for i := len(u.sessions) - 1; i >= 0 && len(ended) < 8; i-- {
		if u.sessions[i].ended >= 0 {
			ended = append(ended, i)
		}
	}
	if len(ended) > 0 {
		s := ended[u.rng.IntN(len(ended))]
		u.send(request{kind: opGetEnded, inst: -1, sess: s, target: -1, method: http.MethodGet, path: "/community/avatar"})
	}
}

func (u *faultUser) changePassword() {
	if len(u.passwords) != 1 {
		return
	}
	s := u.pickLive()
	old, next := u.passwords[0], u.newPassword()
	r, op := u.send(request{kind: opPassword, inst: -1, sess: s, target: -1, method: http.MethodPost, path: "/account/password",
		form: url.Values{"current_password": {old}, "new_password": {next}}, acceptJSON: true})
	switch {
	case r.Status == http.StatusOK:
		u.passwords = []string{next}
		u.former, u.proven = old, u.account == acctYes
		u.endAll(-1, op) // every other session, and this one's old token
		if n := u.addSession(r, op); n >= 0 {
			var body struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal([]byte(r.Body), &body)
			u.sessions[n].id = body.ID
		}
	case unknown(r.Status) || (r.Status == http.StatusServiceUnavailable && strings.Contains(r.Body, "may have")):
		// No answer, or Redis did not confirm the change: it may land.
		u.passwords = []string{next, old}
		u.former, u.proven = "", false
		u.unsureAll(-1)
	}
}

func (u *faultUser) deleteAccount() {
	if len(u.passwords) != 1 {
		return
	}
	s := u.pickLive()
	r, op := u.send(request{kind: opDelete, inst: -1, sess: s, target: -1, method: http.MethodPost, path: "/account/delete",
		form: url.Values{"password": {u.passwords[0]}}, acceptJSON: true})
	switch {
	case r.Status == http.StatusNoContent:
		u.endAll(-1, op)
		u.account, u.proven = acctNone, false
		u.avatar = avatarWant{}
		u.signup() // the same name again, at once
	case unknown(r.Status):
		u.account, u.proven = acctUnsure, false
		u.avatar.known = false
		u.unsureAll(-1)
	}
}
