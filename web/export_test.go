package web

import "time"

// SetUploadRate changes s's minimum rate for upload bodies (at least n
// bytes every window), so a test of the cut-off waits a fraction of a
// second rather than uploadRateWindow.
func SetUploadRate(s *Server, n int64, window time.Duration) {
	s.uploadRate = minRate{bytes: n, window: window}
}
