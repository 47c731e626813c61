package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrNoServer means no server answers on the data dir's admin socket: the
// command may open the store itself.
var ErrNoServer = errors.New("no server answers on the data dir's admin socket")

// Client returns an HTTP client that talks to the admin socket in dir
// (any host name in the URL: the socket is the server).
func Client(dir string) *http.Client {
	path := filepath.Join(dir, SocketName)
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true,
	}}
}

// URL is the admin socket URL of path (PathBackup, PathRestore, PathOp).
func URL(path string) string { return "http://soulbridge" + path }

// Running reports whether a server answers on dir's admin socket.
func Running(ctx context.Context, dir string) bool {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "unix", filepath.Join(dir, SocketName))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// DialError turns the error of a request on the socket into ErrNoServer
// when nothing listens there, into a message naming the fix when the
// socket refuses this user (it belongs to the user the server runs as,
// serviceUID after the privilege drop), and wraps any other.
func DialError(err error, serviceUID int) error {
	if errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("the running server's admin socket %s refuses this user (uid %d): run as root or uid %d (docker exec and railway ssh run as root)",
			SocketName, os.Geteuid(), serviceUID)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return ErrNoServer
	}
	return fmt.Errorf("asking the running server: %w", err)
}

// Ask sends req to the server running on dir and returns its reply:
// ErrNoServer when none answers, an error with the reply's reason when the
// command failed.
func Ask(ctx context.Context, dir string, req Request, serviceUID int) (Reply, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Reply{}, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, URL(PathOp), bytes.NewReader(body))
	if err != nil {
		return Reply{}, err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := Client(dir).Do(hr)
	if err != nil {
		return Reply{}, DialError(err, serviceUID)
	}
	defer resp.Body.Close()
	var rep Reply
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&rep); err != nil {
		return Reply{}, fmt.Errorf("the running server answered %s", resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		if rep.Error == "" {
			rep.Error = "the running server answered " + resp.Status
		}
		return rep, errors.New(rep.Error)
	}
	return rep, nil
}
