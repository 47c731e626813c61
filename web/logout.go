package web

import (
	"net/http"

	"soulbridge/auth"
	"soulbridge/metrics"
	"soulbridge/session"
)

// logout ends the session server-side and expires the cookie; 303 to /.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if err := s.sessions.End(r.Context(), w, r); err != nil {
		return err
	}
	if sess := session.FromContext(r.Context()); sess != nil {
		s.metrics.SessionsEnded(metrics.EndLogout, 1)
		s.authEvent(r, eventLogOut, sess.Username, sess.ID)
		s.recordBy(r, sess, auth.KindLogOut, "Logged out")
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}
