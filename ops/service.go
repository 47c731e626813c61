package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"soulbridge/auth"
	"soulbridge/avatar"
	"soulbridge/kv"
	"soulbridge/metrics"
	"soulbridge/session"
)

// Deps are what the commands act through: the site's own services, so an
// operator's change is made exactly as the site makes it.
type Deps struct {
	Accounts *auth.Service
	Sessions *session.Manager
	Avatars  *avatar.Service
	// RemoveAccount is what deleting an account removes (the member's own
	// deletion: web.Server.RemoveAccount); it returns the sessions ended.
	RemoveAccount func(ctx context.Context, username string) (int, error)
	// Shared reports whether writes reach every instance (no Redis mirror,
	// or the mirror up); nil means always. Writes are refused while it
	// does not hold: queued in one instance's outbox, a lock would leave
	// the others letting the member in meanwhile.
	Shared func() bool
	// Log receives one auth event per change, with by=operator.
	Log *slog.Logger
	// Metrics counts the sessions the commands end (nil: nothing).
	Metrics *metrics.Metrics
}

// Error kinds of Do.
var (
	// ErrUnknownUser: no account has the name.
	ErrUnknownUser = errors.New("unknown user")
	// ErrBadRequest: the request names no command Do knows, or lacks a
	// field it needs.
	ErrBadRequest = errors.New("bad request")
	// ErrSharedDown: a write while the shared store is down.
	ErrSharedDown = errors.New("the shared store (Redis) is down: operator changes must reach every instance; " +
		"try again once /readyz says redis ok")
)

// Service runs the operator commands over Deps.
type Service struct{ d Deps }

// New returns a Service over d.
func New(d Deps) *Service {
	if d.Shared == nil {
		d.Shared = func() bool { return true }
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{d: d}
}

// Do runs req. Errors match ErrUnknownUser, ErrBadRequest, ErrSharedDown
// or kv.ErrUnavailable, or are the store's.
func (s *Service) Do(ctx context.Context, req Request) (Reply, error) {
	c, ok := commandNamed(req.Command)
	if !ok {
		return Reply{}, fmt.Errorf("%w: unknown command %q", ErrBadRequest, req.Command)
	}
	if c.needsName && req.Name == "" {
		return Reply{}, fmt.Errorf("%w: %s needs a username", ErrBadRequest, c.name)
	}
	if c.write && !s.d.Shared() {
		return Reply{}, ErrSharedDown
	}
	rep, err := c.run(s, ctx, req)
	if errors.Is(err, auth.ErrNoAccount) {
		return Reply{}, fmt.Errorf("%w %q", ErrUnknownUser, req.Name)
	}
	if errors.Is(err, kv.ErrUnavailable) {
		return Reply{}, fmt.Errorf("%w: %w", ErrSharedDown, err)
	}
	return rep, err
}

// event logs one operator change as an auth event and keeps it among the
// account's events (auth.RecordEvent), which a member's activity page can
// read. The change is made either way: a failure to keep it is logged.
func (s *Service) event(ctx context.Context, event, username string, attrs ...any) {
	s.logEvent(ctx, event, username, attrs...)
	if err := s.d.Accounts.RecordEvent(ctx, username, auth.Event{Event: event, By: "operator"}); err != nil {
		s.d.Log.WarnContext(ctx, "keeping an operator event among the account's events failed", "user", username, "err", err)
	}
}

// logEvent logs one operator change as an auth event, by=operator.
func (s *Service) logEvent(ctx context.Context, event, username string, attrs ...any) {
	args := append([]any{"event", event, "user", username, "by", "operator"}, attrs...)
	s.d.Log.InfoContext(ctx, "auth event", args...)
}

// Handler serves PathOp on the admin socket.
func (s *Service) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req Request
		rep, err := Reply{}, json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req)
		if err != nil {
			err = fmt.Errorf("%w: %w", ErrBadRequest, err)
		} else {
			rep, err = s.Do(r.Context(), req)
		}
		status := http.StatusOK
		if err != nil {
			status, rep = statusOf(err), Reply{Error: err.Error()}
			if status == http.StatusInternalServerError {
				s.d.Log.Error("operator command failed", "command", req.Command, "err", err)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(rep)
	})
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnknownUser):
		return http.StatusNotFound
	case errors.Is(err, ErrSharedDown):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// info is an account as listed.
func info(u auth.User) UserInfo {
	return UserInfo{Username: u.Username, CreatedAt: u.CreatedAt, Locked: u.Locked(),
		LockReason: u.LockReason, UploadsAllowed: u.UploadsAllowed()}
}

// lastSeen is the latest LastSeen of sessions, nil when there are none.
func lastSeen(sessions []session.Info) *time.Time {
	var last *time.Time
	for _, in := range sessions {
		if last == nil || in.LastSeen.After(*last) {
			t := in.LastSeen
			last = &t
		}
	}
	return last
}
