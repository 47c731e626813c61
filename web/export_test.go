package web

import "time"

// SetUploadRate changes s's minimum rate for upload bodies (at least n
// bytes every window), so a test of the cut-off waits a fraction of a
// second rather than uploadRateWindow.
func SetUploadRate(s *Server, n int64, window time.Duration) {
	s.uploadRate = minRate{bytes: n, window: window}
}

// WaitActivity waits until every activity event s queued is written (or
// lost): the recorder works off the request path.
func WaitActivity(s *Server) { s.activityLog.pending.Wait() }
