package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
)

// unprivileged is the uid and gid the server runs as after starting as root
// (distroless's "nonroot").
const unprivileged = 65532

// takeDataDir prepares the data dir. Started as root (Railway mounts volumes
// root-owned), it creates the dir, hands it recursively to 65532 and drops
// to 65532 for good; as any other user it only creates the dir. When uid
// 65532 could not even reach the dir (an ancestor such as /root is closed to
// others), strict (production, or the image: Config.neverRootServe) refuses,
// naming the fix, so that nothing is ever served as root there; outside both
// (a person's `go run .` as root in a checkout under /root) it serves as
// root, hands nothing over and says so once (rootWarning). On Railway and
// in the image the data dir is /data, which is always reachable.
//
// Then, as the user that will serve, it sets the process umask to 077 (so
// the store's files, the key file and everything else the process creates
// are 0600 and its directories 0700) and brings what already exists in the
// dir to those modes (restrictModes); last, it checks the dir is writable,
// naming the fix if not.
func takeDataDir(dir string, strict bool, log *slog.Logger) error {
	if os.Geteuid() == 0 {
		switch blocker := unreachableAncestor(dir, unprivileged); {
		case blocker != "" && strict:
			return fmt.Errorf("refusing to run as root: data dir %s cannot be reached by uid %d, to which the server drops, "+
				"because %s is closed to it: point DATA_DIR at a directory uid %d can reach (such as /data), "+
				"or open the way (chmod o+x %s)", dir, unprivileged, blocker, unprivileged, blocker)
		case blocker != "":
			log.Warn(rootWarning(dir, blocker))
		default:
			if err := handOver(dir); err != nil {
				return err
			}
			// Said, not done quietly: a later run as another user needs
			// the dir back (chown -R).
			log.Info("dropped root privileges; the data dir now belongs to uid 65532", "uid", unprivileged, "gid", unprivileged, "dir", dir)
		}
	}
	syscall.Umask(0o077)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return notWritable(dir, err)
	}
	restrictModes(dir, log)
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return notWritable(dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// rootWarning is the one line a local root start that cannot drop logs:
// why it serves as root, and the two ways out.
func rootWarning(dir, blocker string) string {
	return fmt.Sprintf("serving as root: uid %d, to which soulbridge drops, cannot reach the data dir %s because %s is closed to it, "+
		"so the data dir stays root's and a bug in the server would have root's power; allowed only outside production "+
		"and the image. To avoid it, run as an ordinary user, or point DATA_DIR at a directory uid %d can reach "+
		"(or chmod o+x %s)", unprivileged, dir, blocker, unprivileged, blocker)
}

// restrictModes makes dir and every directory under it 0700 and every
// regular file 0600, whatever an earlier release, a restore or an operator
// left (the store's files hold password hashes). Symbolic links are neither
// followed nor changed (chmod would follow them), nor is anything else that
// is not a plain file or directory. A mode that cannot be changed (a file
// system without Unix modes, a file owned by someone else) is logged with
// the fix, once, and start-up goes on: the dir itself was checked writable.
func restrictModes(dir string, log *slog.Logger) {
	var failed error
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if failed == nil && !errors.Is(err, fs.ErrNotExist) {
				failed = err
			}
			return nil
		}
		want := fs.FileMode(0o600)
		switch {
		case d.IsDir():
			want = 0o700
		case !d.Type().IsRegular():
			return nil
		}
		fi, err := d.Info()
		if err != nil || fi.Mode().Perm() == want {
			return nil
		}
		if err := os.Chmod(path, want); err != nil && failed == nil && !errors.Is(err, fs.ErrNotExist) {
			failed = err
		}
		return nil
	})
	if failed != nil {
		log.Warn("could not restrict the data dir to its owner (want directories 0700, files 0600): "+
			"chmod -R go-rwx the data dir as its owner", "dir", dir, "err", failed)
	}
}

// handOver creates dir, gives it (recursively) to uid/gid 65532 and drops
// the process to 65532 for good.
func handOver(dir string) error {
	// Missing parents must stay traversable by uid 65532 after the drop.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("create data dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir %s: %w", dir, err)
	}
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, unprivileged, unprivileged)
	})
	if errors.Is(err, syscall.EROFS) {
		return readOnly(dir, err)
	}
	if err != nil {
		return fmt.Errorf("hand data dir %s to uid %d: %w", dir, unprivileged, err)
	}
	return dropPrivileges()
}

func dropPrivileges() error {
	if err := syscall.Setgroups([]int{unprivileged}); err != nil {
		return fmt.Errorf("drop privileges: setgroups: %w", err)
	}
	if err := syscall.Setgid(unprivileged); err != nil {
		return fmt.Errorf("drop privileges: setgid: %w", err)
	}
	if err := syscall.Setuid(unprivileged); err != nil {
		return fmt.Errorf("drop privileges: setuid: %w", err)
	}
	return nil
}

func notWritable(dir string, err error) error {
	if errors.Is(err, syscall.EROFS) {
		return readOnly(dir, err)
	}
	return fmt.Errorf("data dir %s is not writable by uid %d (%v): give that user the directory (chown -R %d %s), "+
		"point DATA_DIR at a writable directory, or on Railway start the service as root (RAILWAY_RUN_UID=0) so it can take the volume",
		dir, os.Geteuid(), err, os.Geteuid(), dir)
}

// readOnly is the start-up error for a data dir on a read-only mount.
func readOnly(dir string, err error) error {
	return fmt.Errorf("data dir %s is on a read-only file system (%v): mount it read-write (a Railway volume is; "+
		"with docker, drop :ro from the -v or --mount option) or point DATA_DIR at a writable directory", dir, err)
}

// unreachableAncestor returns the first existing ancestor of dir that uid
// (with gid uid) may not traverse, or "" when every ancestor lets it through.
func unreachableAncestor(dir string, uid int) string {
	for p := filepath.Dir(filepath.Clean(dir)); ; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil {
			st, ok := fi.Sys().(*syscall.Stat_t)
			mode := fi.Mode().Perm()
			if ok && !(mode&0o001 != 0 || int(st.Uid) == uid && mode&0o100 != 0 || int(st.Gid) == uid && mode&0o010 != 0) {
				return p
			}
		}
		if p == filepath.Dir(p) {
			return ""
		}
	}
}
