package web

import "net/http"

// logout ends the session server-side and expires the cookie; 303 to /.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if err := s.sessions.End(r.Context(), w, r); err != nil {
		return err
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}
