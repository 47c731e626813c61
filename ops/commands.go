package ops

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"soulbridge/auth"
	"soulbridge/metrics"
)

// command is one operator command: its name on the command line, whether
// it needs a username and whether it writes, and what it does.
type command struct {
	name      string
	needsName bool
	write     bool
	run       func(s *Service, ctx context.Context, req Request) (Reply, error)
}

// commands returns every operator command, in the order help lists them.
func commands() []command {
	return []command{
		{"users list", false, false, (*Service).list},
		{"users show", true, false, (*Service).show},
		{"users end-sessions", true, true, (*Service).endSessions},
		{"users lock", true, true, (*Service).lock},
		{"users unlock", true, true, (*Service).unlock},
		{"users delete", true, true, (*Service).remove},
		{"users reset-link", true, true, (*Service).resetLink},
		{"avatars remove", true, true, (*Service).removeAvatar},
		{"avatars allow", true, true, (*Service).allowUploads},
	}
}

func commandNamed(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// Writes reports whether the command named name changes anything.
func Writes(name string) bool {
	c, _ := commandNamed(name)
	return c.write
}

func (s *Service) list(ctx context.Context, req Request) (Reply, error) {
	rep := Reply{Users: []UserInfo{}}
	err := s.d.Accounts.Accounts(ctx, req.Prefix, func(u auth.User) error {
		rep.Users = append(rep.Users, info(u))
		return nil
	})
	return rep, err
}

// shownEvents is how many of an account's recent events `users show` lists.
const shownEvents = 10

func (s *Service) show(ctx context.Context, req Request) (Reply, error) {
	u, err := s.d.Accounts.Get(ctx, req.Name)
	if err != nil {
		return Reply{}, err
	}
	in := info(u)
	left := u.Recovery.Left()
	in.RecoveryCodesLeft = &left
	sessions, err := s.d.Sessions.List(ctx, u.Username)
	if err != nil {
		return Reply{}, err
	}
	n := len(sessions)
	in.Sessions, in.LastSeen = &n, lastSeen(sessions)
	c, err := s.d.Avatars.Get(ctx, u.Username)
	if err != nil {
		return Reply{}, err
	}
	in.Avatar = c.Avatar
	if f := c.ImageFile(); f != "" {
		in.Avatar += " (/avatars/" + f + ")"
	}
	events, err := s.d.Accounts.Events(ctx, u.Username, shownEvents)
	if err != nil {
		return Reply{}, err
	}
	for _, e := range events {
		in.Events = append(in.Events, Event{At: e.At, Event: e.Event, By: e.By})
	}
	return Reply{Users: []UserInfo{in}}, nil
}

func (s *Service) endSessions(ctx context.Context, req Request) (Reply, error) {
	u, err := s.d.Accounts.EndSessionsByOperator(ctx, req.Name)
	if err != nil {
		return Reply{}, err
	}
	// The account's SessionsSince already ends them everywhere; the
	// records and index entries go too, so `users show` counts none.
	ended, err := s.d.Sessions.EndAll(ctx, u.Username)
	if err != nil {
		return Reply{}, err
	}
	s.d.Metrics.SessionsEnded(metrics.EndOperator, ended)
	s.event(ctx, "sessions ended", u.Username, "sessions_ended", ended)
	return Reply{Message: fmt.Sprintf("ended %d sessions of %s", ended, u.Username)}, nil
}

func (s *Service) lock(ctx context.Context, req Request) (Reply, error) {
	if req.Reason == "" {
		return Reply{}, fmt.Errorf("%w: users lock needs --reason TEXT", ErrBadRequest)
	}
	u, err := s.d.Accounts.Lock(ctx, req.Name, req.Reason)
	if err != nil {
		return Reply{}, err
	}
	ended, err := s.d.Sessions.EndAll(ctx, u.Username)
	if err != nil {
		return Reply{}, err
	}
	s.d.Metrics.SessionsEnded(metrics.EndOperator, ended)
	s.event(ctx, "account locked", u.Username, "reason", req.Reason, "sessions_ended", ended)
	return Reply{Message: fmt.Sprintf("locked %s (%d sessions ended); `soulbridge users unlock %s` undoes it", u.Username, ended, u.Username)}, nil
}

func (s *Service) unlock(ctx context.Context, req Request) (Reply, error) {
	u, err := s.d.Accounts.Unlock(ctx, req.Name)
	if err != nil {
		return Reply{}, err
	}
	s.event(ctx, "account unlocked", u.Username)
	return Reply{Message: "unlocked " + u.Username}, nil
}

func (s *Service) remove(ctx context.Context, req Request) (Reply, error) {
	u, err := s.d.Accounts.Get(ctx, req.Name)
	if err != nil {
		return Reply{}, err
	}
	ended, err := s.d.RemoveAccount(ctx, u.Username)
	if err != nil {
		return Reply{}, err
	}
	// Logged only: the account's events went with it.
	s.logEvent(ctx, "account deleted", u.Username, "sessions_ended", ended)
	return Reply{Message: fmt.Sprintf("deleted %s (%d sessions ended); the name is free again", u.Username, ended)}, nil
}

// removeAvatar turns the member's uploads off first, then puts their avatar
// back to the default: an upload racing the removal is refused or undone
// (web re-checks the flag once it is stored), never left in place.
func (s *Service) removeAvatar(ctx context.Context, req Request) (Reply, error) {
	u, err := s.d.Accounts.SetUploads(ctx, req.Name, false, req.Reason)
	if err != nil {
		return Reply{}, err
	}
	if err := s.d.Avatars.Delete(ctx, u.Username); err != nil {
		return Reply{}, err
	}
	s.event(ctx, "avatar removed", u.Username, "reason", req.Reason)
	return Reply{Message: fmt.Sprintf("removed the avatar of %s and turned off their uploads; `soulbridge avatars allow %s` turns them on again", u.Username, u.Username)}, nil
}

func (s *Service) allowUploads(ctx context.Context, req Request) (Reply, error) {
	u, err := s.d.Accounts.SetUploads(ctx, req.Name, true, "")
	if err != nil {
		return Reply{}, err
	}
	s.event(ctx, "uploads allowed", u.Username)
	return Reply{Message: "allowed avatar uploads of " + u.Username + " again"}, nil
}

// resetLink makes a single-use reset link for the member (auth reset
// links), printed as the reply's last line; the log gets the event, never
// the link.
func (s *Service) resetLink(ctx context.Context, req Request) (Reply, error) {
	if req.Base == "" {
		return Reply{}, fmt.Errorf("%w: no public address for the link: set PUBLIC_URL, or pass --base URL", ErrBadRequest)
	}
	name, err := s.d.Accounts.Get(ctx, req.Name)
	if err != nil {
		return Reply{}, err
	}
	token, err := s.d.Accounts.NewResetToken(ctx, name.Username)
	if err != nil {
		return Reply{}, err
	}
	s.event(ctx, "reset link made", name.Username)
	link := strings.TrimRight(req.Base, "/") + "/reset?" + url.Values{"user": {name.Username}, "token": {token}}.Encode()
	return Reply{Message: fmt.Sprintf("a reset link for %s, single use, valid %s; give it to the member only:\n%s",
		name.Username, auth.ResetLifetime, link)}, nil
}
