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
	Persistent bool   `json:"persistent"`
	Version    string `json:"version"`
}

// readyz reports whether the store serves (503 when it does not), the Redis
// mirror's state, whether data survives a deploy, and the build's version.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	rd := readiness{Status: "ok", Store: "ok", Redis: s.redisStatus(ctx), Persistent: s.persistent, Version: s.version}
	status := http.StatusOK
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("readiness: store unusable", "err", err)
		rd.Status, rd.Store, status = "unavailable", "down", http.StatusServiceUnavailable
	}
	writeJSON(w, status, rd)
	return nil
}
