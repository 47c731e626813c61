package session

import (
	"context"
	"errors"
	"net/http"

	"soulbridge/kv"
)

type ctxKey struct{}

// FromContext returns the request's session, or nil when there is none.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(ctxKey{}).(*Session)
	return s
}

// WithSession returns ctx carrying s (for handlers and tests).
func WithSession(ctx context.Context, s *Session) context.Context {
	return context.WithValue(ctx, ctxKey{}, s)
}

// Middleware loads the request's session into its context (FromContext),
// re-issues a cookie signed with a previous key under the current key, and
// slides the idle lifetime (at most one write per TouchInterval). A request
// without a usable session goes on without one. Store failures go to onErr,
// which writes the response; next is not called then.
func (m *Manager) Middleware(next http.Handler, onErr func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, oldKey, err := m.Load(r.Context(), r)
		if errors.Is(err, ErrNoSession) {
			next.ServeHTTP(w, r)
			return
		}
		if err != nil {
			onErr(w, r, err)
			return
		}
		err = m.touch(r.Context(), s)
		if errors.Is(err, errEnded) {
			// Ended (logged out, revoked or expired) since Load read it:
			// the request goes on as logged out, and nothing is written.
			next.ServeHTTP(w, r)
			return
		}
		if err != nil && !errors.Is(err, kv.ErrFull) {
			// The session is still valid; a failed renewal only means it
			// slides later. Log and go on rather than fail the request. A
			// full volume (the store logged it once) is not logged per
			// request: the renewal is simply retried on the next one.
			m.cfg.Logger.Warn("session renewal failed", "session", s.LogID(), "err", err)
		}
		if oldKey {
			if err := m.writeCookie(w, r, s); err != nil {
				onErr(w, r, err)
				return
			}
			m.cfg.Logger.Info("session cookie re-issued under the current key", "session", s.LogID())
		}
		next.ServeHTTP(w, r.WithContext(WithSession(r.Context(), s)))
	})
}
