package views

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

var (
	layoutOut = Layout{Title: "Welcome", CSS: "/assets/app.0123456789.css", JS: "/assets/app.abcdef0123.js", Favicon: "/assets/favicon.1111111111.svg"}
	layoutIn  = Layout{Title: "Community", CSS: layoutOut.CSS, JS: layoutOut.JS, Favicon: layoutOut.Favicon, Username: "alice"}
)

func render(t *testing.T, c templ.Component) (*goquery.Document, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	html := buf.String()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(html))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc, html
}

func attr(t *testing.T, s *goquery.Selection, name string) string {
	t.Helper()
	v, ok := s.Attr(name)
	if !ok {
		t.Errorf("%s: no attribute %q", describe(s), name)
	}
	return v
}

func describe(s *goquery.Selection) string {
	if s.Length() == 0 {
		return "<nothing>"
	}
	h, _ := goquery.OuterHtml(s.First())
	if len(h) > 120 {
		h = h[:120] + "…"
	}
	return h
}

// one returns the single element matching sel, failing the test otherwise.
func one(t *testing.T, doc *goquery.Document, sel string) *goquery.Selection {
	t.Helper()
	s := doc.Find(sel)
	if s.Length() != 1 {
		t.Fatalf("%s: %d matches, want 1", sel, s.Length())
	}
	return s
}

func community() Community {
	opts := []AvatarOption{
		{ID: "owl", Name: "Owl", URL: "/assets/avatars/owl.1.svg"},
		{ID: "fox", Name: "Fox", URL: "/assets/avatars/fox.2.svg", Selected: true},
		{ID: "cat", Name: "Cat", URL: "/assets/avatars/cat.3.svg"},
	}
	return Community{
		Username: "alice", AvatarID: "fox", AvatarName: "Fox", AvatarURL: "/assets/avatars/fox.2.svg",
		DefaultAvatarURL: "/assets/avatars/default.0.svg",
		Options:          opts,
		Members: []Member{
			{Username: "alice", AvatarID: "fox", AvatarName: "Fox", AvatarURL: "/assets/avatars/fox.2.svg"},
			{Username: "<b>x</b>", AvatarID: "owl", AvatarName: "Owl", AvatarURL: "/assets/avatars/owl.1.svg"},
		},
	}
}

// pages renders every component in both header states.
func pages() map[string]templ.Component {
	return map[string]templ.Component{
		"landing":          Landing(layoutOut),
		"signup":           SignUp(layoutOut, AuthForm{Username: "al", FieldErrors: map[string]string{"username": "Too short."}}),
		"login":            LogIn(layoutOut, AuthForm{Username: "alice", Next: "/community", Error: "Wrong username or password."}),
		"community":        CommunityPage(layoutIn, community()),
		"community empty":  CommunityPage(layoutIn, Community{Username: "alice", AvatarID: "default"}),
		"recover":          Recover(layoutOut, RecoverForm{Username: "alice", Error: "Wrong username or recovery code.", FieldErrors: map[string]string{"new_password": "Too short."}}),
		"recovery codes":   RecoveryCodesPage(layoutIn, RecoveryCodes{Codes: []string{"ABCD-EFGH-IJKL-MNOP-QRST-UVWX"}, Download: "data:text/plain;charset=utf-8,ABCD"}),
		"community banner": CommunityPage(layoutIn, Community{Username: "alice", AvatarID: "default", RecoveryBanner: true}),
		"error logged in":  Error(layoutIn, ErrorPage{Status: 404, Title: "Not found", Message: "Nothing here."}),
		"error logged out": Error(layoutOut, ErrorPage{Status: 500, Title: "Something went wrong", Message: "Try again."}),
	}
}

func TestLayout(t *testing.T) {
	for name, c := range pages() {
		t.Run(name, func(t *testing.T) {
			doc, html := render(t, c)
			if !strings.HasPrefix(strings.ToLower(html), "<!doctype html>") {
				t.Errorf("does not start with a doctype: %.40q", html)
			}
			if lang := attr(t, one(t, doc, "html"), "lang"); lang != "en" {
				t.Errorf("lang = %q", lang)
			}
			one(t, doc, "meta[charset]")
			one(t, doc, `meta[name="viewport"]`)
			if title := one(t, doc, "title").Text(); !strings.HasSuffix(title, " · soulbridge") {
				t.Errorf("title = %q, want the site name appended", title)
			}
			if href := attr(t, one(t, doc, `link[rel="stylesheet"]`), "href"); href != layoutOut.CSS {
				t.Errorf("stylesheet href = %q", href)
			}
			icon := one(t, doc, `link[rel="icon"]`)
			if attr(t, icon, "href") != layoutOut.Favicon || attr(t, icon, "type") != "image/svg+xml" {
				t.Errorf("icon = %s", describe(icon))
			}
			script := one(t, doc, "script")
			if attr(t, script, "src") != layoutOut.JS {
				t.Errorf("script = %s", describe(script))
			}
			if _, ok := script.Attr("defer"); !ok {
				t.Error("script is not deferred")
			}
			if attr(t, one(t, doc, "header a.brand"), "href") != "/" {
				t.Error("site name does not link home")
			}
			one(t, doc, "main")
			one(t, doc, "footer")
		})
	}
}

func TestHeaderAccountLinks(t *testing.T) {
	tests := []struct {
		name     string
		layout   Layout
		loggedIn bool
	}{
		{"logged out", layoutOut, false},
		{"logged in", layoutIn, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, _ := render(t, Error(tt.layout, ErrorPage{Status: 404, Title: "Not found"}))
			header := doc.Find("header")
			logout := header.Find(`form[action="/logout"]`)
			login := header.Find(`a[href="/login"]`)
			signup := header.Find(`a[href="/signup"]`)
			if tt.loggedIn {
				if logout.Length() != 1 {
					t.Fatalf("logout forms = %d, want 1", logout.Length())
				}
				if m := strings.ToLower(attr(t, logout, "method")); m != "post" {
					t.Errorf("logout method = %q", m)
				}
				if b := strings.TrimSpace(logout.Find(`button[type="submit"]`).Text()); b != "Log out" {
					t.Errorf("logout button = %q", b)
				}
				if !strings.Contains(header.Text(), "alice") {
					t.Error("header does not show the username")
				}
				if login.Length()+signup.Length() != 0 {
					t.Error("logged-in header shows log-in/sign-up links")
				}
			} else {
				if logout.Length() != 0 {
					t.Error("logged-out header has a logout form")
				}
				if login.Length() != 1 || signup.Length() != 1 {
					t.Errorf("log in links = %d, sign up links = %d, want 1 and 1", login.Length(), signup.Length())
				}
			}
		})
	}
}

func TestNoInlineCodeOrStyles(t *testing.T) {
	for name, c := range pages() {
		t.Run(name, func(t *testing.T) {
			doc, html := render(t, c)
			if n := doc.Find("[style]").Length(); n != 0 {
				t.Errorf("%d elements with a style attribute", n)
			}
			if strings.Contains(strings.ToLower(html), "style=") {
				t.Error("output contains style=")
			}
			if n := doc.Find("style").Length(); n != 0 {
				t.Errorf("%d <style> elements", n)
			}
			doc.Find("script").Each(func(_ int, s *goquery.Selection) {
				if src, _ := s.Attr("src"); src == "" || strings.TrimSpace(s.Text()) != "" {
					t.Errorf("inline script: %s", describe(s))
				}
			})
			doc.Find("*").Each(func(_ int, s *goquery.Selection) {
				for _, a := range s.Nodes[0].Attr {
					if strings.HasPrefix(strings.ToLower(a.Key), "on") {
						t.Errorf("inline event handler %s on %s", a.Key, describe(s))
					}
				}
			})
		})
	}
}

func TestLanding(t *testing.T) {
	doc, _ := render(t, Landing(layoutOut))
	main := doc.Find("main")
	for _, href := range []string{"/signup", "/login"} {
		if main.Find(`a[href="`+href+`"]`).Length() == 0 {
			t.Errorf("main has no link to %s", href)
		}
	}
	if strings.TrimSpace(main.Find("h1").Text()) == "" {
		t.Error("no heading")
	}
}

func TestAuthForms(t *testing.T) {
	tests := []struct {
		name         string
		component    templ.Component
		action       string
		passwordAuto string
		next         string
		formError    string
		fieldErrors  map[string]string
	}{
		{
			name:         "signup with field errors",
			component:    SignUp(layoutOut, AuthForm{Username: "a\"><i>b", FieldErrors: map[string]string{"username": "Use 3 to 32 characters.", "password": "Too short."}}),
			action:       "/signup",
			passwordAuto: "new-password",
			fieldErrors:  map[string]string{"username": "Use 3 to 32 characters.", "password": "Too short."},
		},
		{
			name:         "signup clean",
			component:    SignUp(layoutOut, AuthForm{}),
			action:       "/signup",
			passwordAuto: "new-password",
		},
		{
			name:         "login with next and error",
			component:    LogIn(layoutOut, AuthForm{Username: "alice", Next: "/community", Error: "Wrong username or password."}),
			action:       "/login",
			passwordAuto: "current-password",
			next:         "/community",
			formError:    "Wrong username or password.",
		},
		{
			name:         "login plain",
			component:    LogIn(layoutOut, AuthForm{}),
			action:       "/login",
			passwordAuto: "current-password",
		},
		{
			name:         "login field error",
			component:    LogIn(layoutOut, AuthForm{FieldErrors: map[string]string{"username": "Enter your username."}}),
			action:       "/login",
			passwordAuto: "current-password",
			fieldErrors:  map[string]string{"username": "Enter your username."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, _ := render(t, tt.component)
			form := one(t, doc, `main form[action="`+tt.action+`"]`)
			if m := strings.ToLower(attr(t, form, "method")); m != "post" {
				t.Errorf("method = %q", m)
			}
			user := form.Find(`input[name="username"]`)
			pass := form.Find(`input[name="password"]`)
			if user.Length() != 1 || pass.Length() != 1 {
				t.Fatalf("username inputs %d, password inputs %d", user.Length(), pass.Length())
			}
			if attr(t, user, "autocomplete") != "username" {
				t.Error("username autocomplete")
			}
			if _, ok := user.Attr("required"); !ok {
				t.Error("username not required")
			}
			if attr(t, pass, "type") != "password" {
				t.Error("password input is not type=password")
			}
			if got := attr(t, pass, "autocomplete"); got != tt.passwordAuto {
				t.Errorf("password autocomplete = %q, want %q", got, tt.passwordAuto)
			}
			if _, ok := pass.Attr("value"); ok {
				t.Error("password is refilled")
			}
			if form.Find(`button[type="submit"]`).Length() != 1 {
				t.Error("no submit button")
			}
			if tt.action == "/signup" {
				for k, v := range map[string]string{"minlength": "3", "maxlength": "32", "autocapitalize": "none"} {
					if got := attr(t, user, k); got != v {
						t.Errorf("username %s = %q, want %q", k, got, v)
					}
				}
				if attr(t, user, "pattern") == "" {
					t.Error("username has no pattern")
				}
				for k, v := range map[string]string{"minlength": "8", "maxlength": "128"} {
					if got := attr(t, pass, k); got != v {
						t.Errorf("password %s = %q, want %q", k, got, v)
					}
				}
				if doc.Find(`main a[href="/login"]`).Length() == 0 {
					t.Error("no link to log in")
				}
			} else if doc.Find(`main a[href="/signup"]`).Length() == 0 {
				t.Error("no link to sign up")
			}

			next := form.Find(`input[name="next"]`)
			if tt.next == "" {
				if next.Length() != 0 {
					t.Error("hidden next rendered without a value")
				}
			} else if next.Length() != 1 || attr(t, next, "type") != "hidden" || attr(t, next, "value") != tt.next {
				t.Errorf("next = %s", describe(next))
			}

			alert := doc.Find(`main [role="alert"]`)
			if tt.formError == "" {
				if alert.Length() != 0 {
					t.Errorf("unexpected form error %s", describe(alert))
				}
			} else if !strings.Contains(alert.Text(), tt.formError) {
				t.Errorf("form error = %q, want %q", alert.Text(), tt.formError)
			}

			for _, field := range []string{"username", "password"} {
				in := form.Find(`input[name="` + field + `"]`)
				msg := tt.fieldErrors[field]
				inv, hasInv := in.Attr("aria-invalid")
				if msg == "" {
					if hasInv {
						t.Errorf("%s: aria-invalid=%q without an error", field, inv)
					}
					if _, ok := in.Attr("autofocus"); ok {
						t.Errorf("%s: autofocus without an error", field)
					}
					continue
				}
				if inv != "true" {
					t.Errorf("%s: aria-invalid = %q, want true", field, inv)
				}
				if _, ok := in.Attr("autofocus"); !ok {
					t.Errorf("%s: a field with an error is not focused on load", field)
				}
				found := false
				for _, id := range strings.Fields(attr(t, in, "aria-describedby")) {
					if strings.TrimSpace(doc.Find("#"+id).Text()) == msg {
						found = true
					}
				}
				if !found {
					t.Errorf("%s: no aria-describedby element says %q", field, msg)
				}
				label := doc.Find(`label[for="` + attr(t, in, "id") + `"]`)
				if label.Length() != 1 {
					t.Errorf("%s: no label", field)
				}
			}
		})
	}
}

func TestSignUpRefillIsEscaped(t *testing.T) {
	doc, _ := render(t, SignUp(layoutOut, AuthForm{Username: `a"><i>b`}))
	if doc.Find("main form i").Length() != 0 {
		t.Fatal("username broke out of the value attribute")
	}
	if v := attr(t, doc.Find(`input[name="username"]`), "value"); v != `a"><i>b` {
		t.Errorf("value = %q", v)
	}
}

func TestCommunityPage(t *testing.T) {
	c := community()
	doc, _ := render(t, CommunityPage(layoutIn, c))

	root := one(t, doc, "main[data-avatar-endpoint]")
	for k, v := range map[string]string{
		"data-avatar-endpoint":    "/community/avatar",
		"data-default-avatar-url": c.DefaultAvatarURL,
		"data-login-url":          "/login?next=/community",
	} {
		if got := attr(t, root, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}

	img := one(t, doc, "img#current-avatar")
	if attr(t, img, "src") != c.AvatarURL || !strings.Contains(attr(t, img, "alt"), "Fox") {
		t.Errorf("current avatar = %s", describe(img))
	}
	if got := one(t, doc, "#current-avatar-name").Text(); got != "Fox" {
		t.Errorf("current avatar name = %q", got)
	}

	ended := one(t, doc, "#session-ended")
	if _, ok := ended.Attr("hidden"); !ok {
		t.Error("#session-ended is not hidden")
	}
	if ended.Find(`a[href="/login?next=/community"]`).Length() != 1 {
		t.Error("#session-ended has no log-in link")
	}

	form := one(t, doc, "form#avatar-form")
	if attr(t, form, "action") != "/community/avatar" || strings.ToLower(attr(t, form, "method")) != "post" {
		t.Errorf("form = %s", describe(form))
	}
	if form.Find("fieldset legend").Length() != 1 {
		t.Error("picker has no fieldset/legend")
	}
	// The hint under the legend is the group's description (app.js rewrites
	// it for the click-to-save picker; the markup's text is for the form).
	hintID := attr(t, form.Find("fieldset"), "aria-describedby")
	if hint := doc.Find("#" + hintID); hintID == "" || hint.Length() != 1 || !strings.Contains(hint.Text(), "Save avatar") {
		t.Errorf("picker hint #%s = %s, want a description that names the Save avatar button", hintID, describe(hint))
	}
	radios := form.Find(`fieldset label input[type="radio"][name="avatar"]`)
	if radios.Length() != len(c.Options) {
		t.Fatalf("radios = %d, want %d", radios.Length(), len(c.Options))
	}
	radios.Each(func(i int, r *goquery.Selection) {
		o := c.Options[i]
		if attr(t, r, "value") != o.ID {
			t.Errorf("radio %d value = %q, want %q", i, attr(t, r, "value"), o.ID)
		}
		label := r.Parent()
		if attr(t, label.Find("img"), "src") != o.URL {
			t.Errorf("radio %d image = %s", i, describe(label.Find("img")))
		}
		if got := strings.TrimSpace(label.Find("span").Text()); got != o.Name {
			t.Errorf("radio %d name = %q", i, got)
		}
	})
	checked := form.Find(`input[name="avatar"]:checked`)
	if checked.Length() != 1 || attr(t, checked, "value") != "fox" {
		t.Errorf("checked = %d radios (%s), want fox", checked.Length(), describe(checked))
	}
	if b := strings.TrimSpace(form.Find(`button[type="submit"]`).Text()); b != "Save avatar" {
		t.Errorf("submit button = %q", b)
	}

	status := one(t, doc, "#avatar-status")
	if attr(t, status, "role") != "status" || attr(t, status, "aria-live") != "polite" {
		t.Errorf("status = %s", describe(status))
	}
	if status.Text() != "" {
		t.Errorf("status text = %q, want empty (app.js writes it)", status.Text())
	}

	members := doc.Find("li[data-member]")
	if members.Length() != len(c.Members) {
		t.Fatalf("members = %d, want %d", members.Length(), len(c.Members))
	}
	members.Each(func(i int, li *goquery.Selection) {
		m := c.Members[i]
		if attr(t, li, "data-member") != m.Username {
			t.Errorf("member %d data-member = %q, want %q", i, attr(t, li, "data-member"), m.Username)
		}
		if attr(t, li.Find("img"), "src") != m.AvatarURL || attr(t, li.Find("img"), "alt") != m.AvatarName {
			t.Errorf("member %d image = %s", i, describe(li.Find("img")))
		}
		if got := li.Find("span").Text(); got != m.Username {
			t.Errorf("member %d name = %q, want %q", i, got, m.Username)
		}
		if li.Find("b").Length() != 0 {
			t.Errorf("member %d: username rendered as markup", i)
		}
	})
	if doc.Find(`[data-member="alice"] img`).Length() != 1 {
		t.Error(`the script's selector [data-member="alice"] img finds nothing`)
	}
}

func TestCommunityPageDefaults(t *testing.T) {
	c := community()
	for i := range c.Options {
		c.Options[i].Selected = false
	}
	c.AvatarID, c.AvatarName, c.AvatarURL = "default", "Default", c.DefaultAvatarURL
	c.Members = nil
	doc, _ := render(t, CommunityPage(layoutIn, c))
	if n := doc.Find(`input[name="avatar"]:checked`).Length(); n != 0 {
		t.Errorf("%d radios checked, want none before a choice", n)
	}
	if doc.Find("li[data-member]").Length() != 0 {
		t.Error("members listed for an empty list")
	}
	if !strings.Contains(doc.Find(".members-card").Text(), "No members yet") {
		t.Error("no empty-state text")
	}
	if got := one(t, doc, "#avatar-status").Text(); got != "" {
		t.Errorf("status = %q, want empty", got)
	}
}

// TestCommunityPager: the members' pager is plain links, shown only when
// there is another page, and the count says it is one page.
func TestCommunityPager(t *testing.T) {
	tests := []struct {
		name, prev, next string
		members          bool
		wantText         string
	}{
		{"one page", "", "", true, "members"},
		{"first of several", "", "/community?after=m099", true, "members on this page"},
		{"middle", "/community?before=m100", "/community?after=m199", true, "members on this page"},
		{"past the end", "/community", "", false, "No more members."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := community()
			c.PrevURL, c.NextURL = tt.prev, tt.next
			if !tt.members {
				c.Members = nil
			}
			doc, _ := render(t, CommunityPage(layoutIn, c))
			for rel, want := range map[string]string{"prev": tt.prev, "next": tt.next} {
				a := doc.Find(`.members-card nav.pager a[rel="` + rel + `"]`)
				if want == "" && a.Length() != 0 || want != "" && a.AttrOr("href", "") != want {
					t.Errorf("%s link: %d found, href %q; want %q", rel, a.Length(), a.AttrOr("href", ""), want)
				}
			}
			if (tt.prev == "" && tt.next == "") != (doc.Find("nav.pager").Length() == 0) {
				t.Errorf("pager shown = %v, want %v", doc.Find("nav.pager").Length() != 0, tt.prev != "" || tt.next != "")
			}
			text := doc.Find(".members-card").Text()
			if !strings.Contains(text, tt.wantText) || tt.prev == "" && tt.next == "" && strings.Contains(text, "on this page") {
				t.Errorf("members card says %q, want %q", strings.Join(strings.Fields(text), " "), tt.wantText)
			}
		})
	}
}

func TestUserDataIsEscaped(t *testing.T) {
	evil := `"><script>alert(1)</script><b>x</b>`
	l := layoutIn
	l.Username = evil
	l.Title = evil
	c := community()
	c.Username = evil
	c.AvatarName = evil
	c.Members = []Member{{Username: evil, AvatarName: evil, AvatarURL: "/a.svg"}}
	for name, comp := range map[string]templ.Component{
		"community": CommunityPage(l, c),
		"error":     Error(l, ErrorPage{Status: 400, Title: evil, Message: evil}),
		"login":     LogIn(layoutOut, AuthForm{Username: evil, Next: evil, Error: evil, FieldErrors: map[string]string{"username": evil}}),
	} {
		t.Run(name, func(t *testing.T) {
			doc, _ := render(t, comp)
			if n := doc.Find("script").Length(); n != 1 {
				t.Errorf("%d script elements, want only the layout's", n)
			}
			if n := doc.Find("b").Length(); n != 0 {
				t.Errorf("%d <b> elements from user data", n)
			}
			if !strings.Contains(doc.Find("body").Text(), "<b>x</b>") {
				t.Error("user data not shown as text")
			}
		})
	}
}

func TestErrorPage(t *testing.T) {
	tests := []ErrorPage{
		{Status: 404, Title: "Page not found", Message: "There is nothing at this address."},
		{Status: 429, Title: "Too many attempts", Message: "Wait a few minutes."},
	}
	for _, e := range tests {
		t.Run(e.Title, func(t *testing.T) {
			doc, _ := render(t, Error(layoutOut, e))
			main := doc.Find("main")
			text := main.Text()
			for _, want := range []string{e.Title, e.Message, strconv.Itoa(e.Status)} {
				if !strings.Contains(text, want) {
					t.Errorf("main text lacks %q", want)
				}
			}
			if main.Find(`a[href="/"]`).Length() != 1 {
				t.Error("no link home")
			}
			if got := doc.Find("h1").Text(); got != e.Title {
				t.Errorf("h1 = %q", got)
			}
		})
	}
}

func TestPageTitle(t *testing.T) {
	tests := map[string]string{"": "soulbridge", "Log in": "Log in · soulbridge"}
	for in, want := range tests {
		doc, _ := render(t, Landing(Layout{Title: in}))
		if got := doc.Find("title").Text(); got != want {
			t.Errorf("title for %q = %q, want %q", in, got, want)
		}
	}
}

// The recovery pages: the form posts username, code and new_password to
// /recover with the right autocomplete hints; the codes page shows each
// code and keeps the data: download link as given (templ would otherwise
// replace a data: URL with about:invalid).
func TestRecoveryPages(t *testing.T) {
	doc, _ := render(t, Recover(layoutOut, RecoverForm{FieldErrors: map[string]string{"new_password": "Too short."}}))
	form := one(t, doc, `main form[method="post"][action="/recover"]`)
	for name, auto := range map[string]string{"username": "username", "code": "one-time-code", "new_password": "new-password"} {
		in := one(t, doc, `main form[action="/recover"] input[name="`+name+`"]`)
		if got := attr(t, in, "autocomplete"); got != auto {
			t.Errorf("%s: autocomplete %q, want %q", name, got, auto)
		}
	}
	if attr(t, one(t, doc, `form[action="/recover"] input[name="new_password"]`), "type") != "password" {
		t.Error("new_password is not a password field")
	}
	if !strings.Contains(form.Text(), "Too short.") {
		t.Error("the new password's error is not shown")
	}
	login, _ := render(t, LogIn(layoutOut, AuthForm{}))
	one(t, login, `main a[href="/recover"]`)

	codes := []string{"ABCD-EFGH-IJKL-MNOP-QRST-UVWX", "BCDE-FGHI-JKLM-NOPQ-RSTU-VWXY"}
	doc, _ = render(t, RecoveryCodesPage(layoutIn, RecoveryCodes{Codes: codes, Download: "data:text/plain;charset=utf-8,ABCD%0A"}))
	pre := one(t, doc, "pre.recovery-codes").Text()
	for _, c := range codes {
		if !strings.Contains(pre, c+"\n") {
			t.Errorf("the codes block %q lacks %s on a line of its own", pre, c)
		}
	}
	if href := attr(t, one(t, doc, "a[download]"), "href"); href != "data:text/plain;charset=utf-8,ABCD%0A" {
		t.Errorf("download href %q, want the data: URL", href)
	}
}
