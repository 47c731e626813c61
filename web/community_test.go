package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// TestCommunityPage: the page shows you, your avatar and the members with
// theirs.
func TestCommunityPage(t *testing.T) {
	s := newSite(t, siteOptions{})
	alice := s.signup(t, "alice")
	bob := s.signup(t, "Bob") // stored lower-case
	presets := s.catalogue(t)
	res := s.do(t, req{method: "PUT", path: "/community/avatar", cookie: bob, body: `{"avatar":"fox"}`,
		header: map[string]string{"Content-Type": "application/json"}})
	if res.status != http.StatusOK {
		t.Fatalf("bob picks fox: %d %s", res.status, res.body)
	}

	tests := []struct {
		name   string
		cookie *http.Cookie
		want   []string
	}{
		{"alice sees herself and bob's fox", alice, []string{"alice", "bob", presets["fox"], presets["owl"]}},
		{"bob sees alice", bob, []string{"alice", "bob", presets["fox"]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := s.do(t, req{method: "GET", path: "/community", cookie: tc.cookie})
			if res.status != http.StatusOK {
				t.Fatalf("GET /community: %d, want 200", res.status)
			}
			isHTML(t, "GET /community", res)
			checkSecurityHeaders(t, "GET /community", res)
			for _, w := range tc.want {
				if !strings.Contains(res.body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if strings.Contains(res.body, "Bob") {
				t.Errorf("page shows the name as typed (Bob), want it lower-case")
			}
			if cc := res.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store on a personal page", cc)
			}
		})
	}
}

// communityPage is what a test reads off one community page: the members
// listed, the pager's links, and the viewer's own avatar at the top.
type communityPage struct {
	members    []string
	prev, next string // hrefs, "" when absent
	myAvatar   string // src of the viewer's avatar
}

func readCommunityPage(t *testing.T, s *site, path string, cookie *http.Cookie) communityPage {
	t.Helper()
	res := s.do(t, req{method: "GET", path: path, cookie: cookie})
	if res.status != http.StatusOK {
		t.Fatalf("GET %s: %d, want 200", path, res.status)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(res.body))
	if err != nil {
		t.Fatal(err)
	}
	var p communityPage
	doc.Find(".members-grid li[data-member]").Each(func(_ int, li *goquery.Selection) {
		p.members = append(p.members, li.AttrOr("data-member", ""))
	})
	// Plain links inside the page (no JavaScript needed to follow them).
	p.prev = doc.Find(`nav.pager a[rel="prev"]`).AttrOr("href", "")
	p.next = doc.Find(`nav.pager a[rel="next"]`).AttrOr("href", "")
	p.myAvatar = doc.Find("img#current-avatar").AttrOr("src", "")
	return p
}

// TestCommunityPaging: with 250 members, 100 a page; next links reach the
// end, previous links come back to the very same pages, the viewer's own
// avatar stays at the top of every page, and bad cursors are a 400.
func TestCommunityPaging(t *testing.T) {
	s := newSite(t, siteOptions{})
	viewer := s.signup(t, "viewer")
	if res := s.do(t, req{method: "POST", path: "/community/avatar", cookie: viewer, form: url.Values{"avatar": {"owl"}}}); res.status != http.StatusSeeOther {
		t.Fatalf("viewer picks owl: %d", res.status)
	}
	owl := s.catalogue(t)["owl"]
	var all []string
	for i := range 249 {
		all = append(all, fmt.Sprintf("m%03d", i))
	}
	addMembers(t, s.store, all)
	all = append(all, "viewer") // sorts last

	var pages []communityPage
	path := "/community"
	for range 4 {
		p := readCommunityPage(t, s, path, viewer)
		pages = append(pages, p)
		if p.myAvatar != owl {
			t.Errorf("%s: your avatar %q, want owl %q at the top", path, p.myAvatar, owl)
		}
		if p.next == "" {
			break
		}
		path = p.next
	}
	if len(pages) != 3 {
		t.Fatalf("following next links gave %d pages, want 3", len(pages))
	}
	for i, want := range [][]string{all[:100], all[100:200], all[200:]} {
		if !slices.Equal(pages[i].members, want) {
			t.Errorf("page %d lists %d members %q…, want %d from %q", i+1, len(pages[i].members), first(pages[i].members), len(want), want[0])
		}
	}
	if pages[0].prev != "" {
		t.Errorf("first page has a previous link %q", pages[0].prev)
	}

	// Back from the last page: the same pages in reverse, then no previous.
	path = pages[2].prev
	for i := 1; i >= 0; i-- {
		if path == "" {
			t.Fatalf("page %d has no previous link", i+2)
		}
		p := readCommunityPage(t, s, path, viewer)
		if !slices.Equal(p.members, pages[i].members) || p.next != pages[i].next || p.prev != pages[i].prev {
			t.Errorf("previous to page %d (%s): %d members from %q, prev %q next %q; want the page seen going forward (prev %q next %q)",
				i+1, path, len(p.members), first(p.members), p.prev, p.next, pages[i].prev, pages[i].next)
		}
		path = p.prev
	}

	// Cursors: normalised like usernames; past the end an empty page with a
	// way back; anything else, or both at once, a 400.
	if p := readCommunityPage(t, s, "/community?after=M099", viewer); !slices.Equal(p.members, all[100:200]) {
		t.Errorf("after=M099 lists %q…, want the second page", first(p.members))
	}
	if p := readCommunityPage(t, s, "/community?after=zzz", viewer); len(p.members) != 0 || p.prev != "/community" || p.next != "" {
		t.Errorf("after the last name: %d members, prev %q, next %q; want none, /community, none", len(p.members), p.prev, p.next)
	}
	if p := readCommunityPage(t, s, "/community?before=aaa", viewer); !slices.Equal(p.members, pages[0].members) {
		t.Errorf("before the first name: %q…, want the first page", first(p.members))
	}
	for _, q := range []string{"after=%3Cscript%3E", "before=a", "after=" + strings.Repeat("x", 33), "after=m001&before=m200", "before=%2F%2Fevil"} {
		res := s.do(t, req{method: "GET", path: "/community?" + q, cookie: viewer})
		if res.status != http.StatusBadRequest {
			t.Errorf("GET /community?%s: %d, want 400", q, res.status)
		}
		isHTML(t, "GET /community?"+q, res)
	}
}

func first(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

// BenchmarkCommunityPage: GET /community with 10,000 members through the
// real router (in-process), as the first page and as pages reached with
// each kind of cursor in the middle of the list.
func BenchmarkCommunityPage(b *testing.B) {
	h, store, viewer := inProcessSite(b, "viewer")
	names := make([]string, 9_999)
	for i := range names {
		names[i] = fmt.Sprintf("member%05d", i)
	}
	addMembers(b, store, names)
	for _, bc := range []struct{ name, path string }{
		{"first", "/community"},
		{"after", "/community?after=member05000"},
		{"before", "/community?before=member05000"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodGet, bc.path, nil)
				r.AddCookie(viewer)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK || strings.Count(w.Body.String(), "data-member=") != membersPerPage {
					b.Fatalf("GET %s: %d with %d members", bc.path, w.Code, strings.Count(w.Body.String(), "data-member="))
				}
			}
		})
	}
}

// membersPerPage is the page size the community page promises.
const membersPerPage = 100
