package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"soulbridge/auth"
	"soulbridge/avatar"
	"soulbridge/kv"
	"soulbridge/mailer"
	"soulbridge/metrics"
	"soulbridge/ops"
	"soulbridge/session"
	"soulbridge/web"
)

// serve runs the server until ctx ends (SIGTERM/SIGINT), in the start-up
// order docs/architecture.md gives ("Start-up and shutdown"): config →
// privilege drop → key → store (waiting for its lock) → bind → serve; then
// drain ("Why the shutdown drains its own way"), close the store, return nil.
func serve(ctx context.Context, getenv func(string) string, logOut io.Writer) error {
	// No collection until just after the port is bound (startgc.go); on
	// any early return, at once.
	releaseGC := holdGC()
	defer releaseGC()
	cfg, cfgErr := loadConfig(getenv)
	// Access lines are gathered and written together (logbuf.go); this
	// deferred Close, the first, runs last: after the drain and the store's
	// close, every line is out before the process exits.
	logBuf := newLogBuffer(logOut, logFlushEvery)
	defer logBuf.Close()
	log := newServerLogger(cfg.LogFormat, logBuf)
	if cfgErr != nil {
		return fmt.Errorf("configuration: %w", cfgErr)
	}
	log.Info("starting soulbridge", "version", cfg.Version, "port", cfg.Port)
	started := time.Now()

	// Before anything is written there (the privilege drop's chown, the key
	// file): refuse another app's data dir or a newer release's store.
	if err := kv.CheckDataDir(cfg.DataDir); err != nil {
		return err
	}
	if err := takeDataDir(cfg.DataDir, cfg.neverRootServe(), log); err != nil {
		return err
	}
	logDataDir(cfg, log)

	keys, err := cfg.resolveKeys()
	if err != nil {
		return fmt.Errorf("secret key: %w", err)
	}
	logKeySource(cfg, keys, log)
	local, err := kv.Open(ctx, kv.Options{
		Dir: cfg.DataDir, Prefix: cfg.KeyPrefix, LockTimeout: cfg.LockTimeout, Logger: log,
	})
	if errors.Is(err, context.Canceled) {
		log.Info("stopped while waiting for the data dir lock")
		return nil
	}
	if errors.Is(err, kv.ErrLocked) {
		return fmt.Errorf("data dir %s is locked by another process (still running after %s; DATA_LOCK_TIMEOUT): %w", cfg.DataDir, cfg.LockTimeout, err)
	}
	if errors.Is(err, kv.ErrDataDir) {
		return err // names the dir, what was found and what to do
	}
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	// Before the mirror: the local copy's sessions are the ones this data
	// dir's key fingerprint speaks for (keyprint.go).
	checkKeyPrint(ctx, cfg.DataDir, keys.keys, local, log)
	var store kv.Store = local
	var admin adminStore = local
	var mirror web.MirrorState
	met := newMetrics(cfg) // nil without METRICS_ADDR
	var counter auth.SharedCounter
	if cfg.RedisURL != "" {
		m, err := kv.OpenMirror(local, kv.MirrorOptions{
			URL: cfg.RedisURL, Persistent: cfg.Persistent, Logger: log,
			// Sessions, their accounts (for the account generation) and
			// avatar choices are read on every request: served from memory
			// while the link to Redis is not in doubt, dropped at once
			// when any instance changes one (kv/mirror_cache.go). Uploaded
			// images are not: browsers keep them (immutable URLs).
			CachePrefixes: []string{session.KeyPrefix, auth.KeyPrefix, avatar.KeyPrefix},
			Metrics:       met,
		})
		if err != nil {
			local.Close()
			return err
		}
		log.Info("redis mirror enabled: starts down, a background probe brings it up", "persistent", cfg.Persistent,
			"redis", kv.RedisTarget(cfg.RedisURL))
		store, mirror, counter, admin = m, m, m, m
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("closing the store failed", "err", err)
		} else {
			log.Info("store closed")
		}
	}()

	handler, err := newHandler(cfg, keys.keys, store, mirror, local, counter, met, log)
	if err != nil {
		return err
	}
	// Members' activity events are written in the background: what is
	// queued is written (a few seconds at most) before the store closes.
	defer handler.Close()
	// `soulbridge backup`, `restore` and the operator commands talk to
	// this process through a socket in the data dir (admin.go); stopped
	// before the store closes.
	operator := ops.New(opsDeps(handler, mirrorUp(mirror), log))
	stopAdmin := serveAdmin(cfg.DataDir, admin, keys.keys, operator.Handler(), log)
	defer stopAdmin()
	// Uploaded avatar images no one uses any more are swept periodically;
	// stopped (and waited for) before the store closes.
	sweepCtx, stopSweep := context.WithCancel(ctx)
	swept := make(chan struct{})
	go func() { defer close(swept); handler.SweepImages(sweepCtx, imageSweepInterval) }()
	defer func() { stopSweep(); <-swept }()

	// Metrics on their own listener (METRICS_ADDR), bound before the
	// public port, stopped after its drain and before the store closes.
	stopMetrics := serveMetrics(cfg, met, local, mirror, log)
	defer stopMetrics()

	ln, err := net.Listen("tcp", ":"+cfg.Port)
	if err != nil {
		return fmt.Errorf("listen on :%s: %w", cfg.Port, err)
	}
	conns := &connTracker{}
	srv := &http.Server{
		ConnState:         conns.track,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "startup", time.Since(started).Round(10*time.Microsecond).String())
	time.AfterFunc(releaseGCAfter, releaseGC)

	// A store opened read-only on a full volume (kv.Badger.Writable)
	// cannot start writing in place: once the volume has room, drain and
	// exit non-zero so the platform (restart policy ON_FAILURE) starts a
	// process that opens it read-write (docs/architecture.md, "Full volume").
	reopen := false
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	case <-local.Writable():
		log.Warn("the data volume has room again: exiting so the platform restarts the store read-write")
		reopen = true
	}
	log.Info("shutting down: finishing in-flight requests", "timeout", cfg.ShutdownTimeout.String())
	// Not srv.Shutdown: once it has begun, net/http closes without an answer
	// every request it reads from then on, even on a connection it accepted
	// before. So: no more keep-alive (idle connections close now, busy ones
	// after their answer), stop accepting, let every accepted connection
	// send its request and get its answer, then close what is left.
	deadline := time.Now().Add(cfg.ShutdownTimeout)
	srv.SetKeepAlivesEnabled(false)
	ln.Close()
	<-serveErr // Serve returns once its listener is closed
	if !conns.waitQuiet(deadline) {
		log.Warn("shutdown timed out; closing remaining connections")
	}
	srv.Close()
	if reopen {
		return errors.New("restart needed: the store was opened read-only on a full volume, and the volume has room again")
	}
	return nil
}

// imageSweepInterval is how often unused uploaded avatar images are swept.
const imageSweepInterval = 15 * time.Minute

// newHandler wires kv → session/auth/avatar → web (web.NewSite).
func newHandler(cfg Config, keys [][]byte, store kv.Store, mirror web.MirrorState, disk web.DiskState, counter auth.SharedCounter, met *metrics.Metrics, log *slog.Logger) (*web.Server, error) {
	// The optional mail (SMTP_URL): a send in progress or waiting for a
	// retry when the process exits is lost; the member can ask again.
	var mail web.Mailer
	if cfg.Mail != nil {
		m, err := mailer.New(*cfg.Mail, log)
		if err != nil {
			return nil, err
		}
		mail = m
		log.Info("mail enabled", "server", cfg.Mail.Redacted(), "from", cfg.Mail.From)
	}
	site, err := web.NewSite(store, web.SiteConfig{
		Mailer:            mail,
		PublicURL:         cfg.PublicURL,
		Keys:              keys,
		IdleLifetime:      cfg.SessionLifetime,
		MaxLifetime:       cfg.SessionMaxLifetime,
		TrustProxyHeaders: cfg.TrustProxyHeaders,
		Persistent:        cfg.Persistent,
		Version:           cfg.Version,
		Logger:            log,
		Mirror:            mirror,
		Disk:              disk,
		Counter:           counter,
		Passkeys:          newRelyingParty(cfg, log),
		Metrics:           met,
	})
	if err != nil {
		return nil, err
	}
	return site, nil
}

func newLogger(format string, out io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(out, nil))
	}
	return slog.New(slog.NewTextHandler(out, nil))
}

// newServerLogger is newLogger over buf: access lines are gathered in buf,
// every other line is written out at once (logbuf.go).
func newServerLogger(format string, buf *logBuffer) *slog.Logger {
	return slog.New(flushingHandler{newLogger(format, buf).Handler(), buf})
}

func logDataDir(cfg Config, log *slog.Logger) {
	log.Info("data dir", "dir", cfg.DataDir, "source", cfg.DataDirSource, "persistent", cfg.Persistent)
	switch {
	case cfg.OnRailway && !cfg.Persistent && cfg.RedisURL != "":
		log.Warn("no volume mounted: Redis holds the shared copy of sessions and avatars; this instance's local copy " +
			"is lost on the next deploy, and its writes are refused (503) while Redis is down")
	case cfg.OnRailway && !cfg.Persistent:
		log.Warn("NO VOLUME MOUNTED: sessions and avatars written here will be LOST on the next deploy; " +
			"attach a Railway volume at /data (or configure REDIS_URL)")
	}
}

func logKeySource(cfg Config, k resolvedKeys, log *slog.Logger) {
	attrs := []any{"source", k.source, "fallbacks", len(k.keys) - 1}
	if k.path != "" {
		attrs = append(attrs, "path", k.path)
	}
	log.Info("secret key loaded", attrs...)
	if !k.generated {
		return
	}
	if cfg.Production {
		log.Warn("NO SECRET_KEY SET: generated one and saved it in the data dir; sessions survive only as long as this volume does. "+
			"Set SECRET_KEY (from `soulbridge keygen`) to make it explicit.", "path", k.path)
	} else {
		log.Warn("no SECRET_KEY set: generated one and saved it for later runs; set SECRET_KEY in production", "path", k.path)
	}
}
