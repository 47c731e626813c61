package web

import (
	"net/http"

	"soulbridge/session"
	"soulbridge/views"
)

// landing: logged out, the landing page; logged in, on to /community.
func (s *Server) landing(w http.ResponseWriter, r *http.Request) error {
	if session.FromContext(r.Context()) != nil {
		http.Redirect(w, r, "/community", http.StatusSeeOther)
		return nil
	}
	s.render(w, r, http.StatusOK, views.Landing(s.layout(r, "Welcome")))
	return nil
}
