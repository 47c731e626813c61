package web

import (
	"errors"
	"net/http"

	"soulbridge/kv"
	"soulbridge/metrics"
)

// What the site counts besides requests (README, "Metrics"); the counting
// itself is one call at each place that decides (s.metrics, nil when
// nothing is counted).

// countedUpload counts each avatar upload h answers by its result
// (soulbridge_avatar_uploads_total), and its 429s as throttle refusals.
func (s *Server) countedUpload(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	if s.metrics == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		err := h(w, r)
		result := uploadResult(err)
		s.metrics.Upload(result)
		if result == uploadThrottled {
			s.metrics.Throttled(metrics.ThrottleUpload)
		}
		return err
	}
}

const uploadThrottled = "throttled"

// uploadResults are the upload result labels of the answers
// uploadAvatar gives (its doc comment lists them), by status.
var uploadResults = map[int]string{
	http.StatusBadRequest:            "malformed",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "uploads_off",
	http.StatusRequestTimeout:        "too_slow",
	http.StatusRequestEntityTooLarge: "too_large",
	http.StatusUnsupportedMediaType:  "unsupported_type",
	http.StatusUnprocessableEntity:   "not_accepted", // too many pixels, too costly to decode, or undecodable
	http.StatusTooManyRequests:       uploadThrottled,
	http.StatusServiceUnavailable:    "unavailable",
	http.StatusInsufficientStorage:   "disk_full",
}

// uploadResult is the result label of an upload answered with err.
func uploadResult(err error) string {
	var e *Error
	switch {
	case err == nil:
		return metrics.UploadStored
	case errors.Is(err, kv.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, kv.ErrFull):
		return "disk_full"
	case errors.As(err, &e) && uploadResults[e.Status] != "":
		return uploadResults[e.Status]
	}
	return "error"
}
