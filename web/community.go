package web

import (
	"net/http"
	"net/url"

	"soulbridge/avatar"
	"soulbridge/session"
	"soulbridge/views"
)

// maxMembers bounds the members shown on the community page.
const maxMembers = 500

// community shows your avatar, the picker and the members; without a
// session it sends you to log in and back.
func (s *Server) community(w http.ResponseWriter, r *http.Request) error {
	sess := session.FromContext(r.Context())
	if sess == nil {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return nil
	}
	ctx := r.Context()
	mine, err := s.avatars.Get(ctx, sess.Username)
	if err != nil {
		return err
	}
	names, err := s.auth.Usernames(ctx, "", maxMembers)
	if err != nil {
		return err
	}
	page := views.Community{
		Username:         sess.Username,
		AvatarID:         mine.Avatar,
		DefaultAvatarURL: s.avatarURL(avatar.Default),
	}
	p, _ := avatar.Lookup(mine.Avatar)
	page.AvatarName, page.AvatarURL = p.Name, s.avatarURL(p.ID)
	for _, preset := range avatar.Catalogue() {
		page.Options = append(page.Options, views.AvatarOption{
			ID: preset.ID, Name: preset.Name, URL: s.avatarURL(preset.ID), Selected: preset.ID == mine.Avatar,
		})
	}
	choices, err := s.avatars.GetMany(ctx, names)
	if err != nil {
		return err
	}
	for _, c := range choices {
		mp, _ := avatar.Lookup(c.Avatar)
		page.Members = append(page.Members, views.Member{
			Username: c.Username, AvatarID: mp.ID, AvatarName: mp.Name, AvatarURL: s.avatarURL(mp.ID),
		})
	}
	s.render(w, r, http.StatusOK, views.CommunityPage(s.layout(r, "Community"), page))
	return nil
}

// avatarURL is the hashed asset URL of an avatar id's image.
func (s *Server) avatarURL(id string) string {
	return s.assets.URL(avatar.Preset{ID: id}.File())
}
