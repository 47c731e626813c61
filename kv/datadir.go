package kv

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// The data dir marker: a small JSON file in the data dir naming the app, the
// key prefix the data was written under and the store format, so that a
// start-up knows at one read whether the dir is soulbridge's, whether
// anything needs migrating, and whether a newer release wrote it.
// docs/architecture.md ("Data dir marker") explains the rules.
const (
	// MarkerName is the marker file's name in the data dir.
	MarkerName = "soulbridge.json"
	// markerApp is the app the marker names.
	markerApp = "soulbridge"
	// StoreFormat is the store format this build writes: 2 is the
	// versioned record of record.go. Format 1 (the releases before the
	// marker: plain JSON values, no marker file) is read as it is.
	StoreFormat = 2
)

// ErrDataDir is matched (errors.Is) by every DataDirError: the data dir
// cannot be used as it is, and the message says what to do.
var ErrDataDir = errors.New("kv: the data dir cannot be used")

// DataDirError is a data dir that start-up refuses: its path, what was found
// there and what the operator should do. Its message is meant for people.
type DataDirError struct {
	Dir   string
	Found string
	Fix   string
}

func (e *DataDirError) Error() string {
	return fmt.Sprintf("data dir %s: %s; %s", e.Dir, e.Found, e.Fix)
}

func (e *DataDirError) Unwrap() error { return ErrDataDir }

// marker is the content of MarkerName.
type marker struct {
	App    string `json:"app"`
	Prefix string `json:"prefix"`
	Format int    `json:"format"`
}

// dirState is what a look at the data dir found.
type dirState struct {
	marker  *marker  // nil: no marker file
	badger  []string // names of Badger's files
	foreign []string // names that are neither soulbridge's nor Badger's
}

// CheckDataDir refuses, before anything is written to it, a data dir that
// holds another app's files or whose marker names another app or a newer
// store format. A dir that does not exist yet, is empty, holds only
// lost+found, or cannot be read by this process (the later steps report
// that) passes. It reads the directory and the marker only; Open runs the
// same check and then checks the store's files under the directory lock.
func CheckDataDir(dir string) error {
	_, err := inspectDataDir(dir)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return nil
	}
	return err
}

// inspectDataDir lists dir, reads its marker and refuses the cases
// CheckDataDir names. Errors other than a DataDirError are I/O errors.
func inspectDataDir(dir string) (dirState, error) {
	var st dirState
	entries, err := os.ReadDir(dir)
	if err != nil {
		return st, err
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == MarkerName:
		case isBadgerFile(name):
			st.badger = append(st.badger, name)
		case !isOwnFile(name):
			st.foreign = append(st.foreign, name)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, MarkerName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return st, err
	default:
		var m marker
		if err := json.Unmarshal(b, &m); err != nil || m.App == "" || m.Format < 1 {
			return st, &DataDirError{Dir: dir,
				Found: fmt.Sprintf("the marker file %s is damaged (%d bytes that are not a soulbridge marker)", MarkerName, len(b)),
				Fix: "restore the data dir from a backup; if the store's files are intact, delete " + MarkerName +
					" and start again (it is rewritten at start-up)"}
		}
		st.marker = &m
	}
	switch {
	case st.marker != nil && st.marker.App != markerApp:
		return st, &DataDirError{Dir: dir,
			Found: fmt.Sprintf("the marker file %s says the dir belongs to %q, not soulbridge", MarkerName, st.marker.App),
			Fix:   "point DATA_DIR at soulbridge's own volume or an empty directory; soulbridge does not write into another app's data"}
	case st.marker != nil && st.marker.Format > StoreFormat:
		return st, &DataDirError{Dir: dir,
			Found: fmt.Sprintf("the store is in format %d (marker %s), written by a newer soulbridge; this build reads formats 1 to %d",
				st.marker.Format, MarkerName, StoreFormat),
			Fix: "deploy that newer release (or a later one) again, or restore a backup made by this release; " +
				"do not start an older release on this data dir"}
	case st.marker == nil && len(st.badger) == 0 && len(st.foreign) > 0:
		return st, &DataDirError{Dir: dir,
			Found: fmt.Sprintf("it holds files of another app (%s) and no soulbridge store or %s marker", listNames(st.foreign), MarkerName),
			Fix: "point DATA_DIR at an empty directory or at soulbridge's own volume (move those files away if the " +
				"directory is meant for soulbridge); soulbridge does not write into a directory that is not its own"}
	}
	return st, nil
}

// isBadgerFile reports whether name is one of the files Badger keeps in its
// directory.
func isBadgerFile(name string) bool {
	switch name {
	case "MANIFEST", "KEYREGISTRY", "DISCARD", "LOCK", "MANIFEST-REWRITE", "KEYREGISTRY-REWRITE":
		return true
	}
	for _, ext := range []string{".sst", ".vlog", ".mem"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// isOwnFile reports whether name is soulbridge's own (besides Badger's
// files and the marker), or a platform's: the key file, files named
// soulbridge* or .soulbridge*, the write check's leftovers, and lost+found
// (every fresh ext4 volume, a Railway volume included, has one).
func isOwnFile(name string) bool {
	return name == "lost+found" || name == "secret.key" ||
		strings.HasPrefix(name, "soulbridge") || strings.HasPrefix(name, ".soulbridge") ||
		strings.HasPrefix(name, ".write-check-")
}

// listNames is names for a message: sorted, at most five, then a count.
func listNames(names []string) string {
	names = slices.Sorted(slices.Values(names))
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + fmt.Sprintf(" and %d more", len(names)-5)
	}
	return strings.Join(names, ", ")
}

// damaged is the refusal for store files Badger cannot (or must not) open.
func damaged(dir, found string) *DataDirError {
	return &DataDirError{Dir: dir, Found: found,
		Fix: "the store's files are damaged or incomplete: stop every instance and restore the data dir from a backup; " +
			"keep these files until then (starting on an empty data dir instead loses every account, session and avatar)"}
}

// checkStoreFiles checks, before Badger opens them, that the store's files
// are whole: Badger silently starts empty on a missing or truncated
// MANIFEST (dropping the tables it no longer lists) and panics on a
// truncated table. The caller holds the directory lock.
func checkStoreFiles(dir string, st dirState, bopts badger.Options) error {
	hasManifest := slices.Contains(st.badger, "MANIFEST")
	hasData := slices.ContainsFunc(st.badger, func(n string) bool {
		return strings.HasSuffix(n, ".sst") || strings.HasSuffix(n, ".vlog") || n == "KEYREGISTRY"
	})
	switch {
	case !hasManifest && hasData:
		return damaged(dir, "the store's MANIFEST is missing but its data files are there ("+listNames(st.badger)+")")
	case !hasManifest && st.marker != nil:
		return &DataDirError{Dir: dir,
			Found: fmt.Sprintf("the marker %s says a store was here, but its files (MANIFEST, *.sst) are gone", MarkerName),
			Fix: "restore the data dir from a backup; to start with an empty store on purpose (every account, " +
				"session and avatar lost), delete " + MarkerName}
	case !hasManifest:
		return nil
	}
	f, err := os.Open(filepath.Join(dir, "MANIFEST"))
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	m, valid, err := badger.ReplayManifestFile(f, bopts.ExternalMagicVersion, bopts)
	if err != nil {
		return damaged(dir, fmt.Sprintf("the store's MANIFEST (%d bytes) cannot be read: %v", fi.Size(), err))
	}
	if valid < fi.Size() {
		return damaged(dir, fmt.Sprintf("the store's MANIFEST is truncated or garbled: %d of its %d bytes are valid", valid, fi.Size()))
	}
	for _, name := range st.badger {
		if strings.HasSuffix(name, ".vlog") {
			if err := checkVlogHeader(filepath.Join(dir, name)); err != nil {
				return damaged(dir, err.Error())
			}
		}
	}
	for id, tm := range m.Tables {
		if err := checkTable(table.NewFilename(id, dir), tm, bopts); err != nil {
			return damaged(dir, err.Error())
		}
	}
	return nil
}

// vlogHeaderSize is the header of a value-log file: the id of its
// encryption key (8 bytes, 0 = not encrypted) and a 12-byte IV.
const vlogHeaderSize = 20

// checkVlogHeader checks a value-log file's header: soulbridge never
// encrypts, so a key id other than 0 is garbage. (Values under Badger's
// value threshold, 1 MB, so every value soulbridge writes, live in the
// tables, and the value log holds little more than this header.)
func checkVlogHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var h [vlogHeaderSize]byte
	n, err := io.ReadFull(f, h[:])
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		return nil // created, never written
	case err != nil:
		return fmt.Errorf("the value log %s is truncated (%d bytes)", filepath.Base(path), n)
	case binary.BigEndian.Uint64(h[:8]) != 0:
		return fmt.Errorf("the value log %s has a garbled header", filepath.Base(path))
	}
	return nil
}

// checkTable opens one table read-only, verifying its footer and its index
// (checksummed), and turns Badger's panic on a truncated file into an
// error. The data blocks' checksums are not verified here: that would read
// and decompress every table on every start (about 2 ms per MB: 200 ms
// with 100,000 sessions); the store verifies each block when it first
// reads it instead (memoryBounded: OnBlockRead), so a damaged block is a
// read error, never wrong data.
func checkTable(path string, tm badger.TableManifest, bopts badger.Options) (err error) {
	if tm.KeyID != 0 {
		return nil // encrypted: soulbridge never encrypts, nothing to check
	}
	mf, err := z.OpenMmapFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the table %s listed in the MANIFEST is missing", filepath.Base(path))
	}
	if err != nil {
		return fmt.Errorf("the table %s cannot be read: %v", filepath.Base(path), err)
	}
	if len(mf.Data) == 0 {
		mf.Close(-1)
		return fmt.Errorf("the table %s is empty", filepath.Base(path))
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the table %s (%d bytes) is truncated or garbled", filepath.Base(path), len(mf.Data))
		}
		mf.Close(-1) // never Table.DecrRef: at zero references it deletes the file
	}()
	_, err = table.OpenTable(mf, table.Options{
		ReadOnly:           true,
		BlockSize:          bopts.BlockSize,
		BloomFalsePositive: bopts.BloomFalsePositive,
		ChkMode:            options.NoVerification,
		Compression:        tm.Compression,
	})
	if err != nil {
		return fmt.Errorf("the table %s (%d bytes) is damaged: %v", filepath.Base(path), len(mf.Data), err)
	}
	return nil
}

// tryLock takes the exclusive flock Badger takes on its directory, without
// waiting; ok is false while another process holds it. Unlock releases it.
func tryLock(dir string) (unlock func(), ok bool, err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, false, err
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		f.Close()
		return nil, false, nil
	}
	if err != nil {
		f.Close()
		return nil, false, err
	}
	return func() { f.Close() }, true, nil
}

// writeMarker writes the marker atomically: a temp file (0600), synced,
// renamed over the old one, and the directory synced.
func writeMarker(dir string, m marker) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".soulbridge-marker-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename: a no-op
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, MarkerName)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
