package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"soulbridge/kv"
)

// restoreCmd is `soulbridge restore [--force] FILE|-`: load a backup (from
// `soulbridge backup`, gzip-compressed or not) into the store in DATA_DIR,
// which must hold no records unless --force (then its records under the
// key prefix are replaced by the backup's). The file is checked before the
// data dir is touched: a foreign file, a backup of another key prefix or a
// non-empty store is refused with nothing changed, and a file found cut off
// half-way is rolled back. A running server holds the store: then the
// backup is sent to it through the admin socket (restoreLive).
func restoreCmd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stderr io.Writer) error {
	force := false
	var files []string
	for _, a := range args {
		switch a {
		case "--force", "-force", "-f":
			force = true
		default:
			files = append(files, a)
		}
	}
	if len(files) != 1 {
		return fmt.Errorf("restore takes one backup file (or - for stdin), and --force to replace a non-empty store\n%s", usage)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	in := stdin
	if files[0] != "-" {
		// Opened before any privilege drop: as root, a root-only file reads.
		f, err := os.Open(files[0])
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		defer f.Close()
		in = f
	}
	if serverRunning(ctx, cfg.DataDir) {
		if force {
			return fmt.Errorf("restore: a server is running on data dir %s: stop it first to use --force "+
				"(a running server only takes a restore into an empty store)", cfg.DataDir)
		}
		return restoreLive(ctx, cfg.DataDir, in, stderr)
	}
	br, err := kv.OpenBackup(in)
	if err != nil {
		return fmt.Errorf("restore: %s: %w", files[0], err)
	}
	h := br.Header()
	if err := takeDataDir(cfg.DataDir, newLogger("text", stderr)); err != nil {
		return err
	}
	b, err := openForCommand(ctx, cfg)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	start := time.Now()
	st, err := b.Restore(ctx, br, kv.RestoreOptions{Replace: force})
	if cerr := b.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close store: %w", cerr)
	}
	if errors.Is(err, kv.ErrNotEmpty) {
		return fmt.Errorf("restore: data dir %s is not empty (%w); nothing was changed. Restore into an empty data dir, "+
			"or pass --force to replace its records with the backup's", cfg.DataDir, err)
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stderr, "soulbridge: restored %d records (backup of %s, %s) into %s in %s\n",
		st.Records, h.CreatedAt.Format(time.RFC3339), h.Source, cfg.DataDir, time.Since(start).Round(time.Millisecond))
	return nil
}

// restoreLive sends a backup to the server running on dir, which loads it
// if its store is empty (with the mirror: and Redis holds nothing under the
// prefix). This is how a fresh volume is filled on a platform that starts
// the service on it as soon as it is attached (Railway): the store is
// empty, so nothing can be lost, and the server serves the records at once.
func restoreLive(ctx context.Context, dir string, in io.Reader, stderr io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://soulbridge/restore", in)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := adminClient(dir).Do(req)
	if err != nil {
		return fmt.Errorf("restore: sending the backup to the running server: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	text := strings.TrimSpace(string(msg))
	if resp.StatusCode == http.StatusConflict {
		return fmt.Errorf("restore: the running server's store is not empty (%s); nothing was changed. "+
			"Stop it and restore with --force to replace its records", text)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("restore: the running server answered %s: %s", resp.Status, text)
	}
	fmt.Fprintf(stderr, "soulbridge: %s\n", text)
	return nil
}
