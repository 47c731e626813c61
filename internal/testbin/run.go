package testbin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"testing"
	"time"
)

// RunWith is Run with o's binary (o.Binary, "" for this build) and stdin
// (nil for none).
func RunWith(t testing.TB, within time.Duration, env Env, o Options, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	bin := o.Binary
	if bin == "" {
		bin = Binary(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env.list()
	cmd.Stdin = stdin
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within %s\nstdout:\n%s\nstderr:\n%s", bin, args, within, out.String(), errOut.String())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}
