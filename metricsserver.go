package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"soulbridge/kv"
	"soulbridge/metrics"
	"soulbridge/session"
)

// newMetrics returns the site's metrics when METRICS_ADDR is set, else
// nil: nothing is counted (every counting call is a nil check).
func newMetrics(cfg Config) *metrics.Metrics {
	if cfg.MetricsAddr == "" {
		return nil
	}
	return metrics.New()
}

// sessionCountEvery is how often soulbridge_sessions_active is counted at
// most (a scan of the local copy's session records).
const sessionCountEvery = time.Minute

// serveMetrics adds the store's gauges to met and serves GET /metrics on
// cfg.MetricsAddr, its own listener, never the public port (the config
// refuses PORT's port). It is bound after the store is open and before the
// public port, and stopped (the returned func) after the public drain and
// before the store closes (the gauges read it). A bind that fails is not
// fatal: it is logged as an error and the site serves without metrics
// (README, "Metrics"), because a missing scrape target is noticed by the
// scraper, while a site that refused to start over its metrics would be
// down for everyone.
func serveMetrics(cfg Config, met *metrics.Metrics, local *kv.Badger, mirror metrics.MirrorState, log *slog.Logger) (stop func()) {
	if met == nil {
		return func() {}
	}
	if mirror != nil {
		met.WatchMirror(mirror)
	}
	met.WatchStore(local)
	met.WatchSessions(func(ctx context.Context) (int, error) {
		return local.LiveRecords(ctx, session.KeyPrefix)
	}, sessionCountEvery)

	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		log.Error("metrics listener failed: serving without metrics (METRICS_ADDR)", "addr", cfg.MetricsAddr, "err", err)
		return func() {}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", met.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	log.Info("metrics listening", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		srv.Close()
		<-done
	}
}
