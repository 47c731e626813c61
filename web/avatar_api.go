package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"soulbridge/avatar"
	"soulbridge/session"
)

// avatarJSON is the shape of GET and PUT /community/avatar.
type avatarJSON struct {
	Username  string  `json:"username"`
	Avatar    string  `json:"avatar"`
	URL       string  `json:"url"`
	UpdatedAt *string `json:"updated_at"`
}

func (s *Server) avatarResponse(c avatar.Choice) avatarJSON {
	out := avatarJSON{Username: c.Username, Avatar: c.Avatar, URL: s.choiceURL(c)}
	if !c.UpdatedAt.IsZero() {
		t := c.UpdatedAt.UTC().Format(time.RFC3339)
		out.UpdatedAt = &t
	}
	return out
}

// getAvatar: 200 with your avatar ("default" until chosen); 401 without a session.
func (s *Server) getAvatar(w http.ResponseWriter, r *http.Request) error {
	sess, err := requireSession(r)
	if err != nil {
		return err
	}
	c, err := s.avatars.Get(r.Context(), sess.Username)
	if err != nil {
		return err
	}
	s.writeAvatar(w, c) // avatar_cache.go
	return nil
}

// putAvatar sets your avatar from JSON {"avatar":"owl"}. Checks, in order:
// no session 401, not JSON 415, body over 64 KiB 413, malformed or unknown
// id 400.
func (s *Server) putAvatar(w http.ResponseWriter, r *http.Request) error {
	sess, err := requireSession(r)
	if err != nil {
		return err
	}
	body, err := readJSON(r)
	if err != nil {
		return err
	}
	var req struct {
		Avatar *string `json:"avatar"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return errorf(http.StatusBadRequest, `malformed JSON: send {"avatar":"<id>"}`)
	}
	if req.Avatar == nil {
		return errorf(http.StatusBadRequest, `missing "avatar": send {"avatar":"<id>"}`)
	}
	c, err := s.setAvatar(r, sess, *req.Avatar)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.avatarResponse(c))
	return nil
}

// postAvatar is the no-JavaScript picker: form field avatar, 303 to /community.
func (s *Server) postAvatar(w http.ResponseWriter, r *http.Request) error {
	sess, err := requireSession(r)
	if err != nil {
		return err
	}
	if err := parseForm(r); err != nil {
		return err
	}
	if _, err := s.setAvatar(r, sess, r.PostForm.Get("avatar")); err != nil {
		return err
	}
	http.Redirect(w, r, "/community", http.StatusSeeOther)
	return nil
}

// setAvatar makes preset id sess's user's avatar: 400 for an id outside
// the catalogue; 401 (and nothing changed) when the account was deleted or
// its password changed while the request ran (stillFor).
func (s *Server) setAvatar(r *http.Request, sess *session.Session, id string) (avatar.Choice, error) {
	c, err := s.avatars.Set(r.Context(), sess.Username, id, s.stillFor(sess))
	switch {
	case errors.Is(err, avatar.ErrUnknown):
		return c, errorf(http.StatusBadRequest, "unknown avatar; GET /community/avatars lists the choices")
	case errors.Is(err, session.ErrNoSession):
		return c, errUnauthorized
	case err == nil:
		s.log.Info("avatar changed", "user", sess.Username, "avatar", id)
	}
	return c, err
}

// stillFor is the re-check of a write made in sess's user's name once it is
// stored (avatar.Still): the session must still stand for its account.
func (s *Server) stillFor(sess *session.Session) avatar.Still {
	return func(ctx context.Context) error { return s.sessions.Check(ctx, sess) }
}

type presetJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	URL  string `json:"url"`
}

// listAvatars returns the preset catalogue.
func (s *Server) listAvatars(w http.ResponseWriter, r *http.Request) error {
	cat := avatar.Catalogue()
	out := make([]presetJSON, 0, len(cat))
	for _, p := range cat {
		out = append(out, presetJSON{ID: p.ID, Name: p.Name, URL: s.avatarURL(p.ID)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
