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
	"soulbridge/ops"
	"soulbridge/web"
)

// restoreCmd is `soulbridge restore [--force] [--unverified] FILE|-`: load a
// backup (from `soulbridge backup`, gzip-compressed or not) into the store
// in DATA_DIR, which must hold no records unless --force (then its records
// under the key prefix are replaced by the backup's).
//
// The whole file is checked before the data dir is touched (a pipe is
// spooled to an unlinked temp file first): its signature against the
// current key and SECRET_KEY_FALLBACKS, and every key against the store's
// key kinds (web.StoreKinds). A foreign file, an altered or foreign-key
// one, a key of no known kind, a backup of another key prefix or a
// non-empty store is refused with nothing changed. --unverified loads a
// backup that cannot be verified (the previous release's, unsigned; or one
// signed under a lost key) without its sessions and other proofs of log-in
// (kv.KeyKind.Login): accounts and avatars come back, everyone logs in
// once. A running server holds the store: then the backup is sent to it
// through the admin socket (restoreLive), and it checks the same.
func restoreCmd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stderr io.Writer) error {
	force, unverified := false, false
	var files []string
	for _, a := range args {
		switch a {
		case "--force", "-force", "-f":
			force = true
		case "--unverified", "-unverified":
			unverified = true
		default:
			files = append(files, a)
		}
	}
	if len(files) != 1 {
		return fmt.Errorf("restore takes one backup file (or - for stdin), --force to replace a non-empty store "+
			"and --unverified to load a backup that cannot be verified\n%s", usage)
	}
	cfg, err := loadCommandConfig(getenv)
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
	if ops.Running(ctx, cfg.DataDir) {
		if force {
			return fmt.Errorf("restore: a server is running on data dir %s: stop it first to use --force "+
				"(a running server only takes a restore into an empty store)", cfg.DataDir)
		}
		return restoreLive(ctx, cfg.DataDir, in, unverified, stderr)
	}
	_, keys, err := cfg.commandKeys()
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	src, err := spool(in, os.TempDir())
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer src.Close()
	opts := restoreReadOptions(keys, unverified)
	checked, err := kv.VerifyBackup(src, opts)
	if err != nil {
		return fmt.Errorf("restore: %s: %w; nothing was changed%s", files[0], err, unverifiedHint(err))
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	br, err := kv.OpenBackup(src, opts)
	if err != nil {
		return fmt.Errorf("restore: %s: %w", files[0], err)
	}
	h := br.Header()
	if err := takeDataDir(cfg.DataDir, cfg.neverRootServe(), newLogger("text", stderr)); err != nil {
		return err
	}
	b, err := openForCommand(ctx, cfg)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	start := time.Now()
	st, err := b.Restore(ctx, br, restoreOptions(force, checked.Verified))
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
	if st.Verified && st.KeyIndex >= 0 && st.KeyIndex < len(keys) {
		// The restored sessions were made under the key that signed the
		// backup: a later serve under another key says so (keyprint.go).
		if err := writeKeyPrint(cfg.DataDir, keys[st.KeyIndex], time.Time{}); err != nil {
			fmt.Fprintf(stderr, "soulbridge: recording the backup's key fingerprint failed: %v\n", err)
		}
	}
	fmt.Fprintf(stderr, "soulbridge: restored %d records (backup of %s, %s) into %s in %s\n",
		st.Records, h.CreatedAt.Format(time.RFC3339), h.Source, cfg.DataDir, time.Since(start).Round(time.Millisecond))
	if !st.Verified {
		fmt.Fprintln(stderr, "soulbridge: WARNING:", unverifiedNote(st))
	}
	return nil
}

// restoreReadOptions checks a backup against keys (current first, then
// fallbacks) and every record against the store's key kinds; unverified
// accepts a backup whose signature cannot be checked.
func restoreReadOptions(keys [][]byte, unverified bool) kv.ReadOptions {
	return kv.ReadOptions{
		Keys:       keys,
		Unverified: unverified,
		Check: func(key string, value []byte) error {
			_, _, err := web.CheckStoreKey(key, value)
			return err
		},
	}
}

// restoreOptions leaves out every proof of log-in (sessions, their index,
// device records: kv.KeyKind.Login) of a backup that was not verified: a
// record made by hand must not log anyone in.
func restoreOptions(replace, verified bool) kv.RestoreOptions {
	o := kv.RestoreOptions{Replace: replace}
	if !verified {
		kinds := web.StoreKinds()
		o.Skip = func(key string) bool {
			k, ok := kv.KindOf(kinds, key)
			return !ok || k.Login
		}
	}
	return o
}

// unverifiedNote says what an unverified restore left out.
func unverifiedNote(st kv.BackupStats) string {
	return fmt.Sprintf("the backup could not be verified (unsigned, or signed under a key this site does not have), "+
		"so its %d sessions and device records were left out: accounts and avatars are back, everyone logs in once", st.Skipped)
}

// unverifiedHint is added to a refusal that --unverified would get past.
func unverifiedHint(err error) string {
	if !errors.Is(err, kv.ErrUnverified) {
		return ""
	}
	return " (set SECRET_KEY to the key the backup was made under, or add it to SECRET_KEY_FALLBACKS; " +
		"or restore --unverified to load it without its sessions: everyone logs in once)"
}

// spool returns in as a file it can read twice: in itself when it is a
// regular file, else a copy in an unlinked temp file in dir (a pipe, which
// must be checked whole before anything is loaded). The copy is 0600 and
// has no name, so nothing is left behind, even by a kill.
func spool(in io.Reader, dir string) (*os.File, error) {
	if f, ok := in.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			// A second handle: closing it leaves the caller's open.
			return os.Open(f.Name())
		}
	}
	f, err := os.CreateTemp(dir, ".soulbridge-restore-*")
	if err != nil {
		return nil, fmt.Errorf("spool the backup: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("spool the backup: %w", err)
	}
	if _, err := io.Copy(f, in); err != nil {
		f.Close()
		return nil, fmt.Errorf("spool the backup: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("spool the backup: %w", err)
	}
	return f, nil
}

// restoreLive sends a backup to the server running on dir, which checks it
// whole and loads it if its store is empty (with the mirror: and Redis
// holds nothing under the prefix). This is how a fresh volume is filled on
// a platform that starts the service on it as soon as it is attached
// (Railway): the store is empty, so nothing can be lost, and the server
// serves the records at once.
func restoreLive(ctx context.Context, dir string, in io.Reader, unverified bool, stderr io.Writer) error {
	u := ops.URL(ops.PathRestore)
	if unverified {
		u += "?unverified=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, in)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := ops.Client(dir).Do(req)
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
