package web

import (
	"context"
	"net/http"
	"net/url"

	"soulbridge/auth"
	"soulbridge/avatar"
	"soulbridge/session"
	"soulbridge/views"
)

// membersPerPage is how many members one community page lists.
const membersPerPage = 100

// community shows your avatar, the picker and one page of members; without
// a session it sends you to log in and back.
//
// Pages are cursors, not numbers: ?after=<name> lists the members after
// that name, ?before=<name> the ones just before it (read backwards, so
// any page costs one page of reads). A cursor is a username; anything else
// is a 400, and so is giving both.
func (s *Server) community(w http.ResponseWriter, r *http.Request) error {
	sess := session.FromContext(r.Context())
	if sess == nil {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return nil
	}
	ctx := r.Context()
	q := r.URL.Query()
	after, okAfter := pageCursor(q.Get("after"))
	before, okBefore := pageCursor(q.Get("before"))
	if !okAfter || !okBefore || after != "" && before != "" {
		return errorf(http.StatusBadRequest, "That page of members does not exist. Start again from the community page.")
	}
	mine, err := s.avatars.Get(ctx, sess.Username)
	if err != nil {
		return err
	}
	names, prev, next, err := s.membersPage(ctx, after, before)
	if err != nil {
		return err
	}
	page := views.Community{
		Username:         sess.Username,
		AvatarID:         mine.Avatar,
		DefaultAvatarURL: s.avatarURL(avatar.Default),
		PrevURL:          prev,
		NextURL:          next,
		RecoveryBanner:   s.takeWelcome(w, r),
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

// pageCursor checks a page cursor: "" (none) or a username, returned
// normalised; ok is false for anything else.
func pageCursor(v string) (string, bool) {
	if v == "" {
		return "", true
	}
	name, err := auth.NormalizeUsername(v)
	return name, err == nil
}

// membersPage returns the member names of the page after or before a
// cursor (neither: the first page) and the links to the pages around it
// ("" when there is none). A page reached backwards that meets the start
// of the list is the first page, full.
func (s *Server) membersPage(ctx context.Context, after, before string) (names []string, prev, next string, err error) {
	if before != "" {
		names, err = s.auth.UsernamesBefore(ctx, before, membersPerPage+1)
		if err != nil {
			return nil, "", "", err
		}
		if len(names) > membersPerPage {
			names = names[1:]
			more, err := s.auth.Usernames(ctx, names[len(names)-1], 1)
			if err != nil {
				return nil, "", "", err
			}
			if len(more) > 0 {
				next = "/community?after=" + url.QueryEscape(names[len(names)-1])
			}
			return names, "/community?before=" + url.QueryEscape(names[0]), next, nil
		}
		after = "" // back at the start: the first page
	}
	names, err = s.auth.Usernames(ctx, after, membersPerPage+1)
	if err != nil {
		return nil, "", "", err
	}
	if len(names) > membersPerPage {
		names = names[:membersPerPage]
		next = "/community?after=" + url.QueryEscape(names[len(names)-1])
	}
	switch {
	case after == "":
	case len(names) == 0:
		prev = "/community" // past the end: back to the start
	default:
		earlier, err := s.auth.UsernamesBefore(ctx, names[0], 1)
		if err != nil {
			return nil, "", "", err
		}
		if len(earlier) > 0 {
			prev = "/community?before=" + url.QueryEscape(names[0])
		}
	}
	return names, prev, next, nil
}

// avatarURL is the hashed asset URL of an avatar id's image.
func (s *Server) avatarURL(id string) string {
	return s.assets.URL(avatar.Preset{ID: id}.File())
}
