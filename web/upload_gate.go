package web

import (
	"net/http"
	"sync"
	"time"
)

// Who may upload now (docs/architecture.md, "Uploaded avatars"): at most
// one upload in flight per account and per client address (an IPv6
// address as its /64: one subscriber's allocation), at most
// maxUploadsInFlight in all, and a sender whose last upload was refused
// as an image (422, after its price was read from the headers) waits as
// long as after a stored one (the avatar service's upload interval), so a
// refused bomb cannot be sent again at once. Accounts and
// /64s are cheap, so none of this is all that bounds memory: the bodies
// held are bounded in bytes too (uploadBudget), and decoding by the avatar
// service's one slot.

const (
	// maxUploadsInFlight bounds the uploads being received or processed
	// at once (their connections and goroutines; their memory is bounded
	// by maxUploadBytesHeld).
	maxUploadsInFlight = 32
	// busyRetry is the Retry-After of a refusal for an upload in flight.
	busyRetry = 5 * time.Second
	// maxRefusedSenders bounds the refusals remembered; past it the oldest
	// are forgotten first.
	maxRefusedSenders = 4096
)

// uploadGate admits uploads. Its zero value is not usable: see
// newUploadGate.
type uploadGate struct {
	now   func() time.Time
	pause time.Duration // after a refusal

	mu       sync.Mutex
	inFlight int
	busy     map[string]bool      // "user:<name>" and "addr:<key>" of uploads in flight
	refused  map[string]time.Time // the same keys, until when they wait
}

func newUploadGate(now func() time.Time, pause time.Duration) *uploadGate {
	return &uploadGate{now: now, pause: pause, busy: map[string]bool{}, refused: map[string]time.Time{}}
}

// enter admits an upload of user from addr (an address key, auth.AddrKey),
// or returns the refusal: 429 with Retry-After while the account or the
// address has one in flight or waits after a refusal, 503 while
// maxUploadsInFlight are. leave ends the upload; call it once.
func (g *uploadGate) enter(user, addr string) (leave func(), err error) {
	keys := [2]string{"user:" + user, "addr:" + addr}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	for _, k := range keys {
		if until, ok := g.refused[k]; ok && until.After(now) {
			return nil, &Error{Status: http.StatusTooManyRequests, RetryAfter: until.Sub(now),
				Message: "Your last upload was refused; please wait a few seconds before the next one."}
		}
	}
	if g.busy[keys[0]] {
		return nil, &Error{Status: http.StatusTooManyRequests, RetryAfter: busyRetry,
			Message: "You already have an upload in progress; wait until it finishes."}
	}
	if g.busy[keys[1]] {
		return nil, &Error{Status: http.StatusTooManyRequests, RetryAfter: busyRetry,
			Message: "Another upload from your network is in progress; please try again in a moment."}
	}
	if g.inFlight >= maxUploadsInFlight {
		return nil, errUploadsBusy
	}
	g.inFlight++
	g.busy[keys[0]], g.busy[keys[1]] = true, true
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.inFlight--
			delete(g.busy, keys[0])
			delete(g.busy, keys[1])
		})
	}, nil
}

// refuse makes user and addr wait g.pause: their upload was refused
// as an image. A counter of its own, in memory: it needs no store write,
// and it is short-lived.
func (g *uploadGate) refuse(user, addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if len(g.refused) >= maxRefusedSenders {
		g.forget(now)
	}
	until := now.Add(g.pause)
	g.refused["user:"+user] = until
	g.refused["addr:"+addr] = until
}

// forget drops the refusals that are over and, if that is not enough to
// make room, the oldest ones.
func (g *uploadGate) forget(now time.Time) {
	oldest := now.Add(g.pause)
	for k, until := range g.refused {
		if !until.After(now) {
			delete(g.refused, k)
		} else if until.Before(oldest) {
			oldest = until
		}
	}
	if len(g.refused) < maxRefusedSenders {
		return
	}
	for k, until := range g.refused {
		if !until.After(oldest) {
			delete(g.refused, k)
		}
	}
}

var errUploadsBusy = &Error{Status: http.StatusServiceUnavailable, RetryAfter: time.Second,
	Message: "Too many uploads right now; please try again in a moment."}
