package web

import (
	"log/slog"
	"net/http"
	"unicode/utf8"

	"soulbridge/auth"

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
	eventRecoveryCodes  = "recovery codes made"
	eventRecovered      = "password recovered"
	eventRecoveryFailed = "recovery failed"
	eventPasswordReset  = "password reset by link"
	eventResetFailed    = "reset link refused"
)

// authEvent logs one authentication event as a structured line: the event,
// the account's username, the client IP and, when there is one, the short
// hash of the session id (session.LogIDOf) — never a token, a password or a
// key. attrs add event-specific fields. For a name as typed (a failed or
// throttled log-in or sign-up), use typedNameEvent instead.
func (s *Server) authEvent(r *http.Request, event, username, sessionID string, attrs ...any) {
	s.logEvent(r, event, slog.String("user", username), sessionID, attrs...)
}

// typedNameEvent logs an event for a name as someone typed it into a form:
// the name only when an account by that name exists, otherwise only its
// length (user_len). People type their password into the name box; a log
// must not keep it, nor kilobytes of whatever a client sends.
func (s *Server) typedNameEvent(r *http.Request, event, typed string, attrs ...any) {
	name, err := auth.NormalizeUsername(typed)
	if err == nil {
		if _, _, err = s.auth.Standing(r.Context(), name); err == nil {
			s.logEvent(r, event, slog.String("user", name), "", attrs...)
			return
		}
	}
	s.logEvent(r, event, slog.Int("user_len", utf8.RuneCountInString(typed)), "", attrs...)
}

func (s *Server) logEvent(r *http.Request, event string, user slog.Attr, sessionID string, attrs ...any) {
	level := slog.LevelInfo
	if event == eventLogInFailed || event == eventThrottled || event == eventRecoveryFailed {
		level = slog.LevelWarn
	}
	args := make([]any, 0, 8+len(attrs))
	args = append(args, "event", event, user, "ip", logValue(s.clientIP(r)))
	if sessionID != "" {
		args = append(args, "session", session.LogIDOf(sessionID))
	}
	args = append(args, attrs...)
	s.log.Log(r.Context(), level, "auth event", args...)
}

// maxLogValue bounds a value a request supplies (a path, a method, an
// address) in a log line.
const maxLogValue = 200

// logValue returns v cut to maxLogValue bytes (on a character boundary),
// marked with "…" when cut, so no request can make a log line long.
func logValue(v string) string {
	if len(v) <= maxLogValue {
		return v
	}
	cut := maxLogValue
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + "…"
}
