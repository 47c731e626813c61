package web

import (
	"log/slog"
	"net/http"

	"soulbridge/session"
)

// Authentication events, one structured log line each (see authEvent).
const (
	eventSignUp         = "sign-up"
	eventLogIn          = "log-in"
	eventLogInFailed    = "log-in failed"
	eventThrottled      = "throttled"
	eventLogOut         = "log-out"
	eventRevoke         = "session revoked"
	eventPasswordChange = "password changed"
	eventAccountDeleted = "account deleted"
)

// authEvent logs one authentication event as a structured line: the event,
// the username (as typed, for a failure), the client IP and, when there is
// one, the short hash of the session id (session.LogIDOf) — never a token,
// a password or a key. attrs add event-specific fields.
func (s *Server) authEvent(r *http.Request, event, username, sessionID string, attrs ...any) {
	level := slog.LevelInfo
	if event == eventLogInFailed || event == eventThrottled {
		level = slog.LevelWarn
	}
	args := make([]any, 0, 8+len(attrs))
	args = append(args, "event", event, "user", username, "ip", s.clientIP(r))
	if sessionID != "" {
		args = append(args, "session", session.LogIDOf(sessionID))
	}
	args = append(args, attrs...)
	s.log.Log(r.Context(), level, "auth event", args...)
}
