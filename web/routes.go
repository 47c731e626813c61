package web

import (
	"net/http"
	"strings"
)

// routes is the whole URL space of the site, in one place.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()

	// Health (no session, no store writes).
	mux.Handle("GET /healthz", s.handle(s.healthz))
	mux.Handle("GET /readyz", s.handle(s.readyz))

	// Static assets, content-hashed and cached forever.
	mux.Handle("GET /assets/", s.assets.Handler(s.handle(func(http.ResponseWriter, *http.Request) error { return errNotFound })))

	// Pages.
	mux.Handle("GET /{$}", s.handle(s.landing))
	mux.Handle("GET /signup", s.handle(s.signupPage))
	mux.Handle("POST /signup", s.handle(s.signup))
	mux.Handle("GET /login", s.handle(s.loginPage))
	mux.Handle("POST /login", s.handle(s.login))
	mux.Handle("POST /logout", s.handle(s.logout))
	mux.Handle("GET /community", s.handle(s.community))
	mux.Handle("GET /recover", s.handle(s.recoverPage))
	mux.Handle("POST /recover", s.handle(s.recoverAccount))
	mux.Handle("GET /reset", s.handle(s.resetPage))
	mux.Handle("POST /reset", s.handle(s.resetPassword))
	if s.mail != nil {
		mux.Handle("POST /recover/email", s.handle(s.mailResetLink))
		mux.Handle("POST /account/email", s.handle(s.changeEmail))
		mux.Handle("GET /account/email/confirm", s.handle(s.confirmEmailPage))
		mux.Handle("POST /account/email/confirm", s.handle(s.confirmEmail))
	}

	// Avatar API (JSON errors) and the no-JavaScript picker.
	mux.Handle("GET /community/avatar", s.handle(s.getAvatar))
	mux.Handle("PUT /community/avatar", s.handle(s.putAvatar))
	mux.Handle("POST /community/avatar", s.handle(s.postAvatar))
	mux.Handle("GET /community/avatars", s.handle(s.listAvatars))

	// Uploaded avatars: the upload (errors follow Accept) and the images.
	mux.Handle("POST "+uploadPath, s.handle(s.countedUpload(s.uploadAvatar)))
	mux.Handle("GET /avatars/{file}", s.handle(s.avatarImage))

	// Passkey ceremonies (JSON API, web/passkeys.go) and the account's
	// passkey forms.
	mux.Handle("POST /passkeys/login/begin", s.handle(s.passkeyLoginBegin))
	mux.Handle("POST /passkeys/login/finish", s.handle(s.passkeyLoginFinish))
	mux.Handle("POST /passkeys/signup/begin", s.handle(s.passkeySignupBegin))
	mux.Handle("POST /passkeys/signup/finish", s.handle(s.passkeySignupFinish))
	mux.Handle("POST /passkeys/add/begin", s.handle(s.passkeyAddBegin))
	mux.Handle("POST /passkeys/add/finish", s.handle(s.passkeyAddFinish))
	mux.Handle("POST /passkeys/reauth/begin", s.handle(s.passkeyReauthBegin))
	mux.Handle("POST /passkeys/reauth/finish", s.handle(s.passkeyReauthFinish))
	mux.Handle("POST /account/passkeys/{id}/rename", s.handle(s.renamePasskey))
	mux.Handle("POST /account/passkeys/{id}/remove", s.handle(s.removePasskey))
	mux.Handle("POST /account/password/remove", s.handle(s.removePassword))

	// Account: the page, its forms, and the sessions API (JSON errors).
	mux.Handle("GET /account", s.handle(s.account))
	mux.Handle("POST /account/password", s.handle(s.changePassword))
	mux.Handle("POST /account/delete", s.handle(s.deleteAccount))
	mux.Handle("POST /account/recovery-codes", s.handle(s.recoveryCodes))
	mux.Handle("GET /account/sessions", s.handle(s.listSessions))
	mux.Handle("DELETE /account/sessions/{id}", s.handle(s.endSession))
	mux.Handle("POST /account/sessions/{id}/end", s.handle(s.endSessionForm))
	mux.Handle("POST /account/sessions/revoke-others", s.handle(s.revokeOthers))
	mux.Handle("GET /account/activity", s.handle(s.listActivity))
	mux.Handle("POST /account/notices/{id}/dismiss", s.handle(s.dismissNotice))

	var h http.Handler = s.routerErrors(mux)
	h = s.withSession(h)
	h = s.limitBody(h)
	h = s.crossOrigin(h)
	h = s.recoverPanics(h)
	h = s.securityHeaders(h)
	h = s.logRequests(h)
	return h
}

// withSession loads the session for every request but static assets,
// uploaded avatar images and liveness probes, which never need one (and so
// cost no store read).
func (s *Server) withSession(next http.Handler) http.Handler {
	loaded := s.sessions.Middleware(next, s.writeError)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/assets/") || strings.HasPrefix(r.URL.Path, "/avatars/") || r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		loaded.ServeHTTP(w, r)
	})
}

// routerErrors answers the mux's own 404 and 405 through the error
// translator, so API paths get JSON and pages get the site's error page.
func (s *Server) routerErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hasDotDot(r.URL.Path) {
			// A traversal attempt (browsers resolve dot segments before
			// sending): 404, not a redirect to the cleaned path.
			s.writeError(w, r, errNotFound)
			return
		}
		h, pattern := mux.Handler(r)
		if s.metrics != nil {
			noteRoute(w, pattern)
		}
		if pattern != "" && !strings.Contains(pattern, "{") {
			// A pattern without wildcards has no path values: serve its
			// handler as the mux would, without matching a second time.
			r.Pattern = pattern
			h.ServeHTTP(w, r)
			return
		}
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// No route matched: find out whether the mux would say 404, 405 or
		// redirect (a cleaned path), without letting it write the body.
		probe := &probeWriter{header: http.Header{}}
		h.ServeHTTP(probe, r)
		switch probe.status {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", probe.header.Get("Allow"))
			s.writeError(w, r, errorf(http.StatusMethodNotAllowed, "method %s not allowed", r.Method))
		case http.StatusNotFound:
			s.writeError(w, r, errNotFound)
		default:
			// Redirects to a cleaned path and the like: let the mux answer.
			mux.ServeHTTP(w, r)
		}
	})
}

// probeWriter captures a handler's status and headers and discards its body.
type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header { return p.header }
func (p *probeWriter) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}
func (p *probeWriter) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}
