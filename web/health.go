package web

import (
	"context"
	"net/http"
	"time"
)

// healthz is liveness: 200 while the process serves; it touches nothing remote.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

type readiness struct {
	Status     string `json:"status"`
	Store      string `json:"store"`
	Redis      string `json:"redis"`
	Outbox     int64  `json:"outbox"`
	Persistent bool   `json:"persistent"`
	DiskFree   uint64 `json:"disk_free_bytes"`
	Version    string `json:"version"`
	// Reason says why the store is read-only (a full volume).
	Reason string `json:"reason,omitempty"`
}

// readyz reports whether the store serves (503 when it does not), the Redis
// mirror's state and outbox (degraded while Redis is down), whether data
// survives a deploy, the data volume's free space (degraded and "read-only",
// still 200, while a full volume refuses writes: reads and sessions go on),
// and the build's version.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	rd := readiness{Status: "ok", Store: "ok", Redis: "disabled", Persistent: s.persistent, Version: s.version}
	if s.mirror != nil {
		rd.Redis, rd.Outbox = s.mirror.Status(), s.mirror.OutboxLen()
		if rd.Redis != "ok" {
			rd.Status = "degraded"
		}
	}
	if s.disk != nil {
		st := s.disk.DiskStatus()
		rd.DiskFree = st.Free
		if st.ReadOnly {
			rd.Status, rd.Store, rd.Reason = "degraded", "read-only", st.Reason
		}
	}
	status := http.StatusOK
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("readiness: store unusable", "err", err)
		rd.Status, rd.Store, status = "unavailable", "down", http.StatusServiceUnavailable
	}
	writeJSON(w, status, rd)
	return nil
}
