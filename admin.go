package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"soulbridge/kv"
	"soulbridge/ops"
)

// adminSocket (ops.SocketName) is the name, in the data dir, of the Unix
// socket on which a running server answers `soulbridge backup`, `restore`
// and the operator commands (`users …`, `avatars …`; package ops defines
// every request it takes).
//
// Why a socket in the data dir: while the server runs it holds Badger's
// directory lock, so a command cannot open the store itself; it asks the
// server, which acts on its own open store (and, with the Redis mirror,
// on Redis). Only local operators reach the
// socket: it is never on the network, the data dir is 0700, the socket is
// 0600 and owned by the uid the server runs as (65532 after the privilege
// drop), so exactly that user and root can connect, which is what
// `docker exec` and `railway ssh` give. No HTTP route is added, no token is
// needed, and a server that cannot create the socket (a read-only or too
// long path) still serves, with a warning. docs/architecture.md ("Backup
// and restore") has the rest.
const adminSocket = ops.SocketName

// adminStore is what the admin socket needs of the store (kv.Badger and
// kv.Mirror).
type adminStore interface {
	Backup(ctx context.Context, w io.Writer, key []byte) (kv.BackupStats, error)
	Restore(ctx context.Context, br *kv.BackupReader, opts kv.RestoreOptions) (kv.BackupStats, error)
}

// serveAdmin listens on the admin socket in dir and serves GET /backup
// (signed under keys[0], the current site key) and POST /restore (into an
// empty store only: see restoreLive; checked whole against keys, current
// and fallbacks, before anything is loaded; ?unverified=1 as restore's
// --unverified) until the returned stop is called; stop cancels a backup
// still running and waits (a few seconds at most) for it before the store
// is closed.
//
// opsHandler, if not nil, serves the operator commands (ops.PathOp).
func serveAdmin(dir string, src adminStore, keys [][]byte, opsHandler http.Handler, log *slog.Logger) (stop func()) {
	path := filepath.Join(dir, adminSocket)
	// A socket left by a killed process: this process holds the data dir's
	// lock, so no other server is using it.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("admin socket: cannot remove the old one", "path", path, "err", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		log.Warn("admin socket unavailable: `soulbridge backup` and the operator commands work only with the server stopped", "path", path, "err", err)
		return func() {}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		log.Warn("admin socket unavailable: cannot restrict it to this user", "path", path, "err", err)
		return func() {}
	}
	base, cancel := context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+ops.PathBackup, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w.Header().Set("Content-Type", "application/x-ndjson")
		st, err := src.Backup(r.Context(), w, keys[0])
		if err != nil {
			// The stream ends without its trailer: the command reports it.
			log.Error("backup failed", "err", err)
			return
		}
		log.Info("backup written", "records", st.Records, "source", st.Header.Source, "took", time.Since(start).Round(time.Millisecond).String())
	})
	mux.HandleFunc("POST "+ops.PathRestore, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		status, msg := http.StatusOK, ""
		st, err := restoreChecked(r.Context(), dir, r.Body, src, keys, r.URL.Query().Get("unverified") == "1")
		switch {
		case err == nil:
			msg = fmt.Sprintf("restored %d records (backup of %s, %s) into the running server in %s",
				st.Records, st.Header.CreatedAt.Format(time.RFC3339), st.Header.Source, time.Since(start).Round(time.Millisecond))
			if !st.Verified {
				msg += "; WARNING: " + unverifiedNote(st)
			}
			log.Info("backup restored into the running server", "records", st.Records, "verified", st.Verified, "skipped", st.Skipped)
		case errors.Is(err, kv.ErrNotEmpty):
			status, msg = http.StatusConflict, err.Error()
		case errors.Is(err, kv.ErrNotBackup), errors.Is(err, kv.ErrUnverified), errors.Is(err, kv.ErrUnknownKey):
			status, msg = http.StatusBadRequest, err.Error()+"; nothing was changed"+unverifiedHint(err)
		case errors.Is(err, kv.ErrUnavailable):
			status, msg = http.StatusServiceUnavailable, "Redis is down: restore once /readyz says redis ok"
		default:
			// Messages from kv name no key or token; the rest is in the log.
			log.Error("restore failed", "err", err)
			status, msg = http.StatusInternalServerError, err.Error()
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintln(w, msg)
	})
	if opsHandler != nil {
		mux.Handle("POST "+ops.PathOp, opsHandler)
	}
	srv := &http.Server{
		Handler:           mux,
		BaseContext:       func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go srv.Serve(ln)
	return func() {
		cancel()
		ctx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		_ = srv.Shutdown(ctx)
		_ = os.Remove(path)
	}
}

// restoreChecked spools body to an unlinked file in dir, checks it whole
// (signature against keys, every key against the store's kinds) and only
// then restores it into src: the live restore writes to Redis batch by
// batch, so nothing may be loaded before the end of the file is seen.
func restoreChecked(ctx context.Context, dir string, body io.Reader, src adminStore, keys [][]byte, unverified bool) (kv.BackupStats, error) {
	f, err := spool(body, dir)
	if err != nil {
		return kv.BackupStats{}, err
	}
	defer f.Close()
	opts := restoreReadOptions(keys, unverified)
	checked, err := kv.VerifyBackup(f, opts)
	if err != nil {
		return kv.BackupStats{}, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return kv.BackupStats{}, err
	}
	br, err := kv.OpenBackup(f, opts)
	if err != nil {
		return kv.BackupStats{}, err
	}
	return src.Restore(ctx, br, restoreOptions(false, checked.Verified))
}
