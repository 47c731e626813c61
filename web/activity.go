package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"soulbridge/auth"
	"soulbridge/mailer"
	"soulbridge/session"
	"soulbridge/views"
)

// Security activity for members (docs/architecture.md, "Recent activity"):
// what happened to an account, kept 90 days in the per-account event store
// (auth/events.go), shown on /account and as JSON at GET /account/activity;
// a log-in from a new device is shown on the next page of every other
// session of the account, and mailed to a confirmed address.

// activityQueue is how many events may wait to be written; past it, an
// event is dropped (and logged) rather than slow the action it records.
const activityQueue = 1024

// activityWriteTimeout bounds one event's write.
const activityWriteTimeout = 5 * time.Second

// activityRecorder writes events off the request path, one at a time, so
// recording never fails or slows the action it records: a store outage, a
// full volume or a full queue loses the event, logged.
type activityRecorder struct {
	auth *auth.Service
	log  *slog.Logger
	// after, if set, runs after each event is written (the new-device
	// mail).
	after func(ctx context.Context, j activityJob)

	mu      sync.RWMutex
	closed  bool
	jobs    chan activityJob
	pending sync.WaitGroup // one per queued job
	done    chan struct{}
}

// activityJob is one event to keep for user; failedIP set makes it a
// failed log-in counted in its network's group instead.
type activityJob struct {
	user     string
	e        auth.Event
	failedIP string
}

func newActivityRecorder(a *auth.Service, log *slog.Logger) *activityRecorder {
	rec := &activityRecorder{auth: a, log: log, jobs: make(chan activityJob, activityQueue), done: make(chan struct{})}
	go rec.run()
	return rec
}

func (rec *activityRecorder) run() {
	defer close(rec.done)
	for j := range rec.jobs {
		if rec.auth == nil { // a Server built without accounts (tests)
			rec.pending.Done()
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), activityWriteTimeout)
		var err error
		if j.failedIP != "" {
			err = rec.auth.RecordFailedLogIn(ctx, j.user, j.failedIP, j.e.At)
		} else {
			err = rec.auth.RecordEvent(ctx, j.user, j.e)
		}
		if err != nil && !errors.Is(err, auth.ErrNoAccount) {
			rec.log.Warn("activity event lost: the store did not keep it", "user", j.user, "kind", j.e.Kind, "err", err)
		} else if err == nil && rec.after != nil {
			rec.after(ctx, j)
		}
		cancel()
		rec.pending.Done()
	}
}

// add queues j (its time set now when zero); it never blocks.
func (rec *activityRecorder) add(j activityJob) {
	if j.e.At.IsZero() {
		j.e.At = time.Now().UTC()
	}
	rec.mu.RLock()
	defer rec.mu.RUnlock()
	if rec.closed {
		rec.log.Warn("activity event lost: shutting down", "user", j.user, "kind", j.e.Kind)
		return
	}
	rec.pending.Add(1)
	select {
	case rec.jobs <- j:
	default:
		rec.pending.Done()
		rec.log.Warn("activity event lost: too many waiting to be written", "user", j.user, "kind", j.e.Kind)
	}
}

// close writes what is queued (for at most wait) and stops.
func (rec *activityRecorder) close(wait time.Duration) {
	rec.mu.Lock()
	if !rec.closed {
		rec.closed = true
		close(rec.jobs)
	}
	rec.mu.Unlock()
	select {
	case <-rec.done:
	case <-time.After(wait):
		rec.log.Warn("activity events still being written at shutdown: the rest are lost")
	}
}

// Close stops the Server's background work that writes to the store (the
// activity recorder), writing what is queued for at most a few seconds.
// Call it after the last request is answered and before the store closes.
func (s *Server) Close() { s.activityLog.close(activityWriteTimeout) }

// record keeps an event of the account user made by r's client: its
// device and IP are filled in (unless set), At is now.
func (s *Server) record(r *http.Request, user string, e auth.Event) {
	if e.Device == "" {
		e.Device = deviceName(r.UserAgent())
	}
	if e.IP == "" {
		e.IP = s.clientIP(r)
	}
	s.activityLog.add(activityJob{user: user, e: e})
}

// recordBy is record for an event a session of the member made: that
// session is named as the one that acted.
func (s *Server) recordBy(r *http.Request, sess *session.Session, kind, text string) {
	s.record(r, sess.Username, auth.Event{Kind: kind, Event: text, BySession: sess.PublicID()})
}

// recordFailedLogIn counts a failed log-in of the name typed, when an
// account by that name exists (checked off the request path).
func (s *Server) recordFailedLogIn(r *http.Request, typed string) {
	name, err := auth.NormalizeUsername(typed)
	if err != nil {
		return
	}
	s.activityLog.add(activityJob{user: name, failedIP: s.clientIP(r),
		e: auth.Event{Kind: auth.KindLogInFailed}})
}

// recordLogIn keeps a log-in (newDevice: the browser had no valid device
// cookie for the account) made by session sess.
func (s *Server) recordLogIn(r *http.Request, sess *session.Session, newDevice bool) {
	s.record(r, sess.Username, auth.Event{Kind: auth.KindLogIn, Event: "Logged in", NewDevice: newDevice, Session: sess.PublicID()})
}

// mailNewDevice, after a new-device log-in is kept, mails the account's
// confirmed address (when the site sends mail).
func (s *Server) mailNewDevice(ctx context.Context, j activityJob) {
	if s.mail == nil || j.e.Kind != auth.KindLogIn || !j.e.NewDevice {
		return
	}
	u, err := s.auth.Get(ctx, j.user)
	if err != nil || u.Email == "" {
		return
	}
	s.mail.Send(mailer.Message{To: u.Email, Kind: "new-device", Subject: "New sign-in to your account",
		Body: fmt.Sprintf("Your account %s was signed in to from a new device: %s, %s, at %s.\n\n"+
			"If this was you, there is nothing to do. If not, end that session and change your password:\n%s/account\n",
			u.Username, j.e.Device, j.e.IP, readableTime(j.e.At), s.publicURL)})
}

// activityShown bounds what the activity list reads: the latest events,
// and apart from them the latest failed log-in groups (which so cannot
// push the events out).
const (
	activityShown       = 50
	failedGroupsShown   = 20
	noticeEventsScanned = 20
)

// activityItem is one entry of GET /account/activity.
type activityJSON struct {
	At        string `json:"at"`
	Kind      string `json:"kind"`
	Text      string `json:"text"`
	Device    string `json:"device,omitempty"`
	IP        string `json:"ip,omitempty"`
	NewDevice bool   `json:"new_device,omitempty"`
	Count     int    `json:"count,omitempty"`
	// By: "this session", "another of your sessions", "an operator", or
	// absent.
	By string `json:"by,omitempty"`

	at time.Time
}

// activity returns the account's recent events for sess's page, newest
// first: the latest activityShown events and failedGroupsShown failure
// groups, merged by time, none from before the account was made.
func (s *Server) activity(ctx context.Context, sess *session.Session) ([]activityJSON, error) {
	evs, err := s.auth.Events(ctx, sess.Username, activityShown)
	if err != nil {
		return nil, err
	}
	failed, err := s.auth.FailedLogIns(ctx, sess.Username, failedGroupsShown)
	if err != nil {
		return nil, err
	}
	// An event from before the account was made is an earlier owner's of
	// the name (kept by a write that landed after that account's deletion,
	// or left by an instance that knew no events): not shown.
	var since time.Time
	if u, err := s.auth.Get(ctx, sess.Username); err == nil {
		since = u.CreatedAt
	}
	current := sess.PublicID()
	out := make([]activityJSON, 0, len(evs)+len(failed))
	for _, e := range append(evs, failed...) {
		if e.At.Before(since) {
			continue
		}
		a := activityJSON{At: e.At.UTC().Format(time.RFC3339), Kind: e.Kind, Text: e.Event, Device: e.Device, IP: e.IP,
			NewDevice: e.NewDevice, Count: e.Count, at: e.At}
		switch {
		case e.By == "operator":
			a.By, a.Kind = "an operator", auth.KindOperator
			a.Text = "An operator: " + e.Event
		case e.BySession == current:
			a.By = "this session"
		case e.BySession != "":
			a.By = "another of your sessions"
		}
		if e.Kind == auth.KindLogInFailed {
			a.Text = fmt.Sprintf("%d failed log-in %s from %s", e.Count, plural(e.Count, "attempt", "attempts"), e.IP)
		}
		out = append(out, a)
	}
	slices.SortStableFunc(out, func(a, b activityJSON) int { return b.at.Compare(a.at) })
	return out, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// listActivity (GET /account/activity): 200 with the account's recent
// events, newest first; 401 without a session (an API path: JSON errors).
func (s *Server) listActivity(w http.ResponseWriter, r *http.Request) error {
	sess, err := requireSession(r)
	if err != nil {
		return err
	}
	list, err := s.activity(r.Context(), sess)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// activityItems is the activity list as the account page shows it; nil
// when it cannot be read (the page still shows the rest).
func (s *Server) activityItems(r *http.Request, sess *session.Session) []views.ActivityItem {
	list, err := s.activity(r.Context(), sess)
	if err != nil {
		s.log.Warn("account page: the activity list cannot be read", "user", sess.Username, "err", err)
		return nil
	}
	items := make([]views.ActivityItem, 0, len(list))
	for _, a := range list {
		items = append(items, views.ActivityItem{Kind: a.Kind, Text: a.Text, Device: a.Device, IP: a.IP,
			NewDevice: a.NewDevice, By: a.By, When: readableTime(a.at), ISO: a.At})
	}
	return items
}

// newSignIns are the notices sess's pages show: log-ins from a new device
// made by another, still live, session of the account since sess began,
// that no one dismissed. It only reads; a store error shows none.
func (s *Server) newSignIns(ctx context.Context, sess *session.Session) []views.NewSignIn {
	// The account record (read for this request already, and from memory
	// with the mirror) says whether any other session logged in from a new
	// device since this one began: most page views stop here, without
	// reading the events.
	u, err := s.auth.Get(ctx, sess.Username)
	if err != nil || !u.NewSignInAt.After(sess.CreatedAt) || u.NewSignInBy == sess.PublicID() {
		return nil
	}
	evs, err := s.auth.Events(ctx, sess.Username, noticeEventsScanned)
	if err != nil {
		return nil
	}
	dismissed := map[string]bool{}
	var candidates []auth.Event
	for _, e := range evs {
		if e.At.Before(sess.CreatedAt) {
			break
		}
		switch {
		case e.Kind == auth.KindNoticeDismissed:
			dismissed[e.Session] = true
		case e.Kind == auth.KindLogIn && e.NewDevice && e.Session != "" && e.Session != sess.PublicID() && !dismissed[e.Session]:
			candidates = append(candidates, e)
		}
	}
	if len(candidates) == 0 {
		return nil
	}
	live, err := s.sessions.List(ctx, sess.Username)
	if err != nil {
		return nil
	}
	var out []views.NewSignIn
	for _, e := range candidates {
		if slices.ContainsFunc(live, func(in session.Info) bool { return in.PublicID == e.Session }) {
			out = append(out, views.NewSignIn{Session: e.Session, Device: e.Device, IP: e.IP,
				When: readableTime(e.At), ISO: e.At.UTC().Format(time.RFC3339)})
		}
	}
	return out
}

// dismissNotice (POST /account/notices/{id}/dismiss, a form): the member
// says the new sign-in of session id was theirs; it is kept as an event of
// its own (so every session of the account stops showing the notice), then
// 303 back to the page (form field next, a local path) or /account.
func (s *Server) dismissNotice(w http.ResponseWriter, r *http.Request) error {
	sess, err := requireSession(r)
	if err != nil {
		return err
	}
	if err := parseForm(r); err != nil {
		return err
	}
	id := r.PathValue("id")
	if len(id) == 0 || len(id) > 64 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
		return errorf(http.StatusBadRequest, "no such notice")
	}
	err = s.auth.RecordEvent(r.Context(), sess.Username, auth.Event{Kind: auth.KindNoticeDismissed,
		Event: "You confirmed a new sign-in was yours", Session: id, BySession: sess.PublicID(),
		Device: deviceName(r.UserAgent()), IP: s.clientIP(r)})
	if err != nil {
		return err
	}
	to := safeNext(r.PostForm.Get("next"))
	if to == "" {
		to = "/account"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}
