package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"soulbridge/kv"
	"soulbridge/ops"
)

// backupCmd is `soulbridge backup [FILE|-]`: a consistent backup of the
// store in DATA_DIR to FILE (written whole or not at all) or to stdout,
// signed under the site key (kv.BackupKey): by the running server, or here
// with SECRET_KEY or the data dir's key file.
// While a server runs on the data dir it holds the store's lock, so the
// command asks it through the admin socket (admin.go); otherwise it opens
// the store itself. With REDIS_URL the backup holds what Redis shares too
// (kv.Mirror.Backup). Progress and the summary go to stderr, never a key
// or a token.
func backupCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	target := "-"
	switch len(args) {
	case 0:
	case 1:
		target = args[0]
	default:
		return fmt.Errorf("backup takes one argument, FILE or - (stdout)\n%s", usage)
	}
	cfg, err := loadCommandConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if _, err := os.Stat(cfg.DataDir); err != nil {
		return fmt.Errorf("backup: data dir %s: %w", cfg.DataDir, err)
	}

	out := stdout
	var f *os.File
	partial := target + ".partial"
	if target != "-" {
		// Opened before any privilege drop: as root, the file is root's.
		if f, err = os.OpenFile(partial, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		out = f
	}
	start := time.Now()
	st, how, err := writeBackup(ctx, cfg, out, stderr)
	if f != nil {
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(partial, target)
		}
		if err != nil {
			os.Remove(partial)
		}
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	where := target
	if target == "-" {
		where = "stdout"
	}
	fmt.Fprintf(stderr, "soulbridge: backup of %s (%s, %s): %d records written to %s in %s\n",
		cfg.DataDir, how, st.Header.Source, st.Records, where, time.Since(start).Round(time.Millisecond))
	if cfg.RedisURL != "" && st.Header.Source != "redis+local" {
		fmt.Fprintln(stderr, "soulbridge: WARNING: Redis did not answer: this backup holds only this instance's local copy, "+
			"not what other instances wrote to Redis")
	}
	return nil
}

// writeBackup writes the backup through the running server, or from the
// store opened here when no server holds it; how says which.
func writeBackup(ctx context.Context, cfg Config, out, stderr io.Writer) (kv.BackupStats, string, error) {
	st, err := backupFromServer(ctx, cfg.DataDir, out)
	if !errors.Is(err, ops.ErrNoServer) {
		return st, "from the running server", err
	}
	// No privilege drop here (unlike restore): FILE.partial must still be
	// renamed where root may write. Files Badger creates on open go to the
	// data dir's owner afterwards, so a server running as that user can
	// still open the store.
	b, err := openForCommand(ctx, cfg)
	if err != nil {
		return kv.BackupStats{}, "", err
	}
	defer func() {
		b.Close()
		if err := keepOwner(cfg.DataDir); err != nil {
			fmt.Fprintln(stderr, "soulbridge: WARNING:", err)
		}
	}()
	key, _, err := cfg.commandKeys()
	if err != nil {
		return kv.BackupStats{}, "", err
	}
	if key == nil {
		return kv.BackupStats{}, "", fmt.Errorf("no signing key: a backup is signed under the site key; set SECRET_KEY, "+
			"or keep the data dir's %s", keyFileName)
	}
	if cfg.RedisURL != "" {
		st, err = kv.BackupWithRedis(ctx, b, cfg.RedisURL, out, key)
	} else {
		st, err = b.Backup(ctx, out, key)
	}
	return st, "store opened directly", err
}

// backupFromServer asks the server on dir's admin socket for a backup and
// copies it to out, checking it on the way: a stream cut short (the server
// stopped, the store failed) is an error, not a backup. It returns
// ops.ErrNoServer when nothing answers on the socket.
func backupFromServer(ctx context.Context, dir string, out io.Writer) (kv.BackupStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ops.URL(ops.PathBackup), nil)
	if err != nil {
		return kv.BackupStats{}, err
	}
	resp, err := ops.Client(dir).Do(req)
	if err != nil {
		return kv.BackupStats{}, ops.DialError(err, unprivileged)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return kv.BackupStats{}, fmt.Errorf("the running server answered %s", resp.Status)
	}
	// The server signed it; this checks that it arrived whole.
	st, err := kv.VerifyBackup(io.TeeReader(resp.Body, out), kv.ReadOptions{Unverified: true})
	if err != nil {
		return kv.BackupStats{}, fmt.Errorf("from the running server: %w (see its log)", err)
	}
	return st, nil
}

// commandLockWait bounds how long backup and restore wait for the data
// dir's lock: a holder that does not answer on the admin socket is not a
// deploy handing over, and the operator is waiting.
const commandLockWait = 3 * time.Second

// openForCommand opens the store in cfg.DataDir for backup or restore.
func openForCommand(ctx context.Context, cfg Config) (*kv.Badger, error) {
	b, err := kv.Open(ctx, kv.Options{
		Dir: cfg.DataDir, Prefix: cfg.KeyPrefix, LockTimeout: commandLockWait,
		Logger: newLogger("text", io.Discard),
	})
	if errors.Is(err, kv.ErrLocked) {
		return nil, fmt.Errorf("data dir %s is locked by another process that does not answer on its admin socket (%s); "+
			"stop it, or run the command where that server runs: %w", cfg.DataDir, adminSocket, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return b, nil
}

// keepOwner gives every file in dir to dir's own owner, when run as root
// (files a root process created in a data dir that uid 65532 owns).
func keepOwner(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	err = filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(st.Uid), int(st.Gid))
	})
	if err != nil {
		return fmt.Errorf("give the data dir's files back to uid %d: %w", st.Uid, err)
	}
	return nil
}
