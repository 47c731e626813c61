package web

import (
	"bytes"
	"net/http"

	"github.com/a-h/templ"

	"soulbridge/session"
	"soulbridge/views"
)

// layout returns the page frame for r: asset URLs and the logged-in user.
func (s *Server) layout(r *http.Request, pageTitle string) views.Layout {
	l := views.Layout{
		Title:   pageTitle,
		CSS:     s.assets.URL("app.css"),
		JS:      s.assets.URL("app.js"),
		Favicon: s.assets.URL("favicon.svg"),
	}
	if sess := session.FromContext(r.Context()); sess != nil {
		l.Username = sess.Username
		l.NewSignIns = s.newSignIns(r.Context(), sess)
	}
	return l
}

// render writes c as an HTML page with status. It renders into a buffer
// first so a rendering failure becomes a clean 500, not half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		s.log.Error("render failed", "path", logValue(r.URL.Path), "err", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// refusedForm answers a form refused with 400 (recovery, a reset link):
// JSON clients get msg as the error, a browser page, the form again with
// its message.
func (s *Server) refusedForm(w http.ResponseWriter, r *http.Request, msg string, page templ.Component) error {
	if wantsJSON(r) {
		return errorf(http.StatusBadRequest, "%s", msg)
	}
	s.render(w, r, http.StatusBadRequest, page)
	return nil
}
