package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"soulbridge/kv"
	"soulbridge/session"
	"soulbridge/views"
)

// Error is an error with the status and the safe, human-readable message a
// client should see. Its cause, if any, is logged for 5xx and never shown.
type Error struct {
	Status     int
	Message    string
	RetryAfter time.Duration // sets Retry-After when positive
	Cause      error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Message, e.Cause)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.Cause }

// errorf returns an *Error with status and a client-facing message.
func errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

var (
	errUnauthorized = errorf(http.StatusUnauthorized, "unauthorized")
	errNotFound     = errorf(http.StatusNotFound, "not found")
)

// handlerFunc is an HTTP handler that returns its error to one translator.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts h to http.Handler, sending its error to s.writeError.
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// writeError is the one place errors become responses. Known kinds keep their
// status and message; anything else is a 500 with a generic message, logged
// once here with its cause. No internal text ever reaches the client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, session.ErrNoSession):
		e = errUnauthorized
	case errors.Is(err, kv.ErrUnavailable):
		e = &Error{Status: http.StatusServiceUnavailable, RetryAfter: 10 * time.Second, Cause: err,
			Message: "This cannot be done right now: the site's shared storage is unavailable. Please try again in a moment."}
	case errors.Is(err, kv.ErrFull):
		// The store logged the full volume once, with the fix; reads,
		// sessions and log-out go on.
		e = &Error{Status: http.StatusInsufficientStorage, Cause: err,
			Message: "the site's storage is full; changes cannot be saved right now"}
	case errors.Is(err, context.Canceled):
		// The client went away; nobody is listening for an answer.
		e = &Error{Status: 499, Message: "request cancelled", Cause: err}
	default:
		e = &Error{Status: http.StatusInternalServerError, Message: "internal server error", Cause: err}
	}
	status := e.Status
	switch {
	case status == http.StatusServiceUnavailable:
		// Expected and passing (the shared tier down, uploads queued
		// full): the client is told to retry; not an error to page on.
		s.log.Warn("request failed", "method", logValue(r.Method), "path", logValue(r.URL.Path), "status", status, "err", err)
	case status >= 500 && status != http.StatusInsufficientStorage:
		s.log.Error("request failed", "method", logValue(r.Method), "path", logValue(r.URL.Path), "status", status, "err", err)
	}
	if status == 499 {
		return
	}
	if e.RetryAfter > 0 {
		secs := int((e.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	if wantsJSON(r) {
		writeJSON(w, status, map[string]string{"error": e.Message})
		return
	}
	s.render(w, r, status, views.Error(s.layout(r, title(status)), views.ErrorPage{
		Status:  status,
		Title:   title(status),
		Message: e.Message,
	}))
}

func title(status int) string {
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "Error"
}

// writeJSON writes v as JSON with status (never cached, like every
// response: securityHeaders).
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
