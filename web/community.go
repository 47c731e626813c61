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
	page.AvatarName, page.AvatarURL = choiceName(mine), s.choiceURL(mine)
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
		name := choiceName(c)
		if c.ImageFile() != "" {
			name = c.Username + "'s picture"
		}
		page.Members = append(page.Members, views.Member{
			Username: c.Username, AvatarID: c.Avatar, AvatarName: name, AvatarURL: s.choiceURL(c),
		})
	}
	s.render(w, r, http.StatusOK, views.CommunityPage(s.layout(r, "Community"), page))
	return nil
}

// choiceURL is the URL of c's image: /avatars/<hash>.png for an upload, else
// the preset's asset URL.
func (s *Server) choiceURL(c avatar.Choice) string {
	if f := c.ImageFile(); f != "" {
		return "/avatars/" + f
	}
	return s.avatarURL(c.Avatar)
}

// choiceName is how c is named on the page.
func choiceName(c avatar.Choice) string {
	if c.ImageFile() != "" {
		return "Your picture"
	}
	p, _ := avatar.Lookup(c.Avatar)
	return p.Name
}

// avatarURL is the hashed asset URL of an avatar id's image.
func (s *Server) avatarURL(id string) string {
	return s.assets.URL(avatar.Preset{ID: id}.File())
}
