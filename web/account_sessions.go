package web

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"soulbridge/auth"
	"soulbridge/kv"
	"soulbridge/metrics"
	"soulbridge/session"
)

// sessionJSON is one entry of GET /account/sessions.
type sessionJSON struct {
	ID        string `json:"id"`
	CreatedAt string `json:"created_at"`
	LastSeen  string `json:"last_seen"`
	Device    string `json:"device"`
	IP        string `json:"ip"`
	Current   bool   `json:"current"`
	// Method is how the session was made ("password", "passkey",
	// "recovery"; omitted for a session from before it was recorded).
	Method  string `json:"method,omitempty"`
	passkey string

	created, lastSeen time.Time
}

// sessionViews describes list (most recently seen first) for sess's user.
func (s *Server) sessionViews(list []session.Info, sess *session.Session) []sessionJSON {
	current := sess.PublicID()
	out := make([]sessionJSON, 0, len(list))
	for _, in := range list {
		out = append(out, sessionJSON{
			ID:        in.PublicID,
			CreatedAt: in.CreatedAt.UTC().Format(time.RFC3339),
			LastSeen:  in.LastSeen.UTC().Format(time.RFC3339),
			Device:    deviceName(in.UserAgent),
			IP:        in.IP,
			Current:   in.PublicID == current,
			Method:    in.Method,
			passkey:   in.Passkey,
			created:   in.CreatedAt,
			lastSeen:  in.LastSeen,
		})
	}
	return out
}

// listSessions: 200 with your live sessions, most recent activity first;
// 401 without a session.
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) error {
	sess, err := requireSession(r)
	if err != nil {
		return err
	}
	list, err := s.sessions.List(r.Context(), sess.Username)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.sessionViews(list, sess))
	return nil
}

// endSession (DELETE /account/sessions/{id}): 204; 404 for an id that
// names none of your live sessions. Ending the current session logs this
// client out (its cookie is expired).
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) error {
	if err := s.endSessionByID(w, r); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// endSessionForm (POST /account/sessions/{id}/end) is endSession for a form
// without JavaScript: 303 to /account (to / when it ended this session).
func (s *Server) endSessionForm(w http.ResponseWriter, r *http.Request) error {
	if err := s.endSessionByID(w, r); err != nil {
		return err
	}
	to := "/account"
	if session.FromContext(r.Context()).PublicID() == r.PathValue("id") {
		to = "/"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

func (s *Server) endSessionByID(w http.ResponseWriter, r *http.Request) error {
	sess, err := requireSession(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if id == sess.PublicID() {
		if err := s.sessions.End(r.Context(), w, r); err != nil {
			return err
		}
		s.metrics.SessionsEnded(metrics.EndRevoked, 1)
		s.authEvent(r, eventRevoke, sess.Username, sess.ID, "revoked", sess.LogID())
		s.recordBy(r, sess, auth.KindSessionEnded, "Session ended: "+deviceName(sess.UserAgent))
		return nil
	}
	in, err := s.sessions.EndByPublicID(r.Context(), sess.Username, id)
	if errors.Is(err, session.ErrUnknownSession) {
		return errorf(http.StatusNotFound, "no such session")
	}
	if err != nil {
		return err
	}
	s.metrics.SessionsEnded(metrics.EndRevoked, 1)
	s.authEvent(r, eventRevoke, sess.Username, sess.ID, "revoked", in.LogID)
	s.recordBy(r, sess, auth.KindSessionEnded, "Session ended: "+deviceName(in.UserAgent)+", IP "+in.IP)
	return nil
}

// revokeOthers (POST /account/sessions/revoke-others, no body) ends every
// session of yours but this one: 200 {"ended": N}, or 303 to /account for a
// browser's form post.
//
// With the shared tier up (or none configured) the account records that
// every session made before now is ended, this one kept
// (session.Manager.Keep), so every other session ends wherever it was
// made, also one an instance cut off from Redis made and has not replayed
// yet; a log-in made after it, anywhere, is not touched. Then the listed
// sessions are removed. While the Redis mirror is down the account is not
// rewritten (a stale local copy replayed later could undo a password change
// made elsewhere) and the listed sessions are ended as before: the end
// never answers 503.
func (s *Server) revokeOthers(w http.ResponseWriter, r *http.Request) error {
	sess, err := requireSession(r)
	if err != nil {
		return err
	}
	if s.requireShared() == nil {
		_, err := s.auth.EndSessions(r.Context(), sess.Username, func(at time.Time) error {
			return s.sessions.Keep(r.Context(), sess, at)
		})
		switch {
		case errors.Is(err, session.ErrNoSession) || errors.Is(err, auth.ErrNoAccount):
			return errUnauthorized // ended, or the account deleted, meanwhile
		case errors.Is(err, kv.ErrUnavailable):
			// Redis went (or came back empty, and this session is not
			// pushed back yet) since the check: the account cannot
			// record it now; the listed sessions still end below.
			s.log.Warn("log out everywhere else: ending the listed sessions only, the shared store is unavailable", "user", sess.Username, "session", sess.LogID())
		case err != nil:
			return err
		}
	}
	ended, err := s.sessions.EndOthers(r.Context(), sess.Username, sess.ID)
	if err != nil {
		return err
	}
	s.metrics.SessionsEnded(metrics.EndRevoked, ended)
	s.authEvent(r, eventRevoke, sess.Username, sess.ID, "revoked", "others", "sessions_ended", ended)
	s.recordBy(r, sess, auth.KindSessionEnded, fmt.Sprintf("Logged out everywhere else (%d %s ended)", ended, plural(ended, "session", "sessions")))
	if isFormPost(r) && !strings.Contains(r.Header.Get("Accept"), "application/json") {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]int{"ended": ended})
	return nil
}

// isFormPost reports whether r's body is an HTML form (what a browser
// without JavaScript sends).
func isFormPost(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data"
}
