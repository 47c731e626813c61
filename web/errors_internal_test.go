package web

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"soulbridge/internal/testlog"
	"soulbridge/kv"
)

// TestUnavailableLogsAWarning (issue 18 row 11): a 503 (the shared tier
// down: an expected, passing condition the client is told to retry) is
// logged once at WARN, never at ERROR; a 500 stays an ERROR.
func TestUnavailableLogsAWarning(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		level  slog.Level
	}{
		{"shared tier down", fmt.Errorf("sign-up: %w", kv.ErrUnavailable), http.StatusServiceUnavailable, slog.LevelWarn},
		{"sign-ups paused", &Error{Status: http.StatusServiceUnavailable, Message: "paused", Cause: kv.ErrUnavailable}, http.StatusServiceUnavailable, slog.LevelWarn},
		{"internal", fmt.Errorf("boom"), http.StatusInternalServerError, slog.LevelError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &testlog.Recorder{}
			s := &Server{log: slog.New(logs)}
			r := httptest.NewRequest("POST", "/signup", nil)
			r.Header.Set("Accept", "application/json")
			w := httptest.NewRecorder()
			s.writeError(w, r, tc.err)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			recs := logs.Records()
			if len(recs) != 1 || recs[0].Level != tc.level {
				var got []string
				for _, r := range recs {
					got = append(got, r.Level.String()+" "+r.Message)
				}
				t.Fatalf("logged %q, want one %s", got, tc.level)
			}
		})
	}
}
