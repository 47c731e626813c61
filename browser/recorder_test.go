package browser_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
)

// exchange is one HTTP request of the page and its answer, as the browser
// saw them. A redirect is an exchange of its own (status 3xx), followed by
// the exchange of the request it led to.
type exchange struct {
	seq       int // position in the recording, for "since" queries
	id        network.RequestID
	method    string
	url       string
	kind      network.ResourceType
	status    int64   // 0 until a response arrives
	done      bool    // finished, failed or redirected
	failed    string  // error text of a failed load
	encoded   float64 // bytes received, headers included (Network.loadingFinished)
	fromCache bool
}

// path is the exchange's URL path with its query.
func (e exchange) path() string {
	u, err := url.Parse(e.url)
	if err != nil {
		return e.url
	}
	return u.RequestURI()
}

func (e exchange) String() string {
	return fmt.Sprintf("%s %s → %d", e.method, e.path(), e.status)
}

// problem is a console error, an uncaught exception, a CSP violation or an
// error entry of the browser log.
type problem struct {
	source string // "console", "exception", "log/<source>"
	text   string
	url    string
}

func (p problem) String() string {
	if p.url != "" {
		return fmt.Sprintf("[%s] %s (%s)", p.source, p.text, p.url)
	}
	return fmt.Sprintf("[%s] %s", p.source, p.text)
}

// recorder keeps the page's network exchanges and its problems. Chromedp
// calls handle, in order, on the loop that reads the tab's events.
type recorder struct {
	mu        sync.Mutex
	exchanges []*exchange
	byID      map[network.RequestID]*exchange
	problems  []problem
	// paused, if set, receives the requests the Fetch domain paused.
	paused chan *fetch.EventRequestPaused
}

func newRecorder() *recorder {
	return &recorder{byID: map[network.RequestID]*exchange{}}
}

// handle records one event; it returns fast and runs no command.
func (r *recorder) handle(ev any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev := ev.(type) {
	case *fetch.EventRequestPaused:
		if r.paused != nil {
			r.paused <- ev
		}
	case *network.EventRequestWillBeSent:
		if prev := r.byID[ev.RequestID]; prev != nil && ev.RedirectResponse != nil {
			prev.status = ev.RedirectResponse.Status
			prev.done = true
		}
		e := &exchange{
			seq:    len(r.exchanges),
			id:     ev.RequestID,
			method: ev.Request.Method,
			url:    ev.Request.URL + ev.Request.URLFragment,
			kind:   ev.Type,
		}
		r.exchanges = append(r.exchanges, e)
		r.byID[ev.RequestID] = e
	case *network.EventResponseReceived:
		if e := r.byID[ev.RequestID]; e != nil {
			e.status = ev.Response.Status
			e.fromCache = ev.Response.FromDiskCache || ev.Response.FromServiceWorker
		}
	case *network.EventRequestServedFromCache:
		if e := r.byID[ev.RequestID]; e != nil {
			e.fromCache = true
		}
	case *network.EventLoadingFinished:
		if e := r.byID[ev.RequestID]; e != nil {
			e.done = true
			e.encoded = ev.EncodedDataLength
		}
	case *network.EventLoadingFailed:
		if e := r.byID[ev.RequestID]; e != nil {
			e.done = true
			e.failed = ev.ErrorText
			if ev.BlockedReason != "" {
				e.failed += " (blocked: " + string(ev.BlockedReason) + ")"
			}
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			r.problems = append(r.problems, problem{source: "console." + string(ev.Type), text: consoleText(ev.Args)})
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		r.problems = append(r.problems, problem{source: "exception", text: text, url: d.URL})
	case *log.EventEntryAdded:
		// The log domain reports failed loads (source network) and CSP
		// violations (source security) as entries of level error.
		if e := ev.Entry; e.Level == log.EntryLevelError {
			r.problems = append(r.problems, problem{source: "log/" + string(e.Source), text: e.Text, url: e.URL})
		}
	}
}

// consoleText joins the arguments of a console call as DevTools shows them.
func consoleText(args []*runtime.RemoteObject) string {
	var parts []string
	for _, a := range args {
		switch {
		case a.Description != "":
			parts = append(parts, a.Description)
		case len(a.Value) > 0:
			parts = append(parts, strings.Trim(string(a.Value), `"`))
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

// mark returns a position; since(mark) returns the exchanges after it.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.exchanges)
}

// since returns a copy of the exchanges recorded from mark on.
func (r *recorder) since(mark int) []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]exchange, 0, len(r.exchanges)-mark)
	for _, e := range r.exchanges[mark:] {
		out = append(out, *e)
	}
	return out
}

// all returns a copy of every exchange.
func (r *recorder) all() []exchange { return r.since(0) }

// problemList returns a copy of the problems.
func (r *recorder) problemList() []problem {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]problem(nil), r.problems...)
}

// waitExchange waits until an exchange after mark with this method and path
// (query ignored) has its answer, and returns it.
func (r *recorder) waitExchange(ctx context.Context, mark int, method, path string) (exchange, error) {
	for {
		for _, e := range r.since(mark) {
			p, _, _ := strings.Cut(e.path(), "?")
			if e.method == method && p == path && e.status != 0 {
				return e, nil
			}
		}
		select {
		case <-ctx.Done():
			var seen []string
			for _, e := range r.since(mark) {
				if !strings.HasPrefix(e.path(), "/assets/") {
					seen = append(seen, e.String())
				}
			}
			return exchange{}, fmt.Errorf("no answered %s %s (saw, assets left out: %v): %w", method, path, seen, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitIdle waits until every exchange has finished and nothing new started
// for quiet.
func (r *recorder) waitIdle(ctx context.Context, quiet time.Duration) error {
	lastCount, stableSince := -1, time.Now()
	for {
		all := r.all()
		pending := 0
		for _, e := range all {
			if !e.done {
				pending++
			}
		}
		if len(all) != lastCount || pending > 0 {
			lastCount, stableSince = len(all), time.Now()
		} else if time.Since(stableSince) >= quiet {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("network not idle (%d pending): %w", pending, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
