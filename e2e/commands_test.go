package e2e

// The sub-commands: keygen, version, healthcheck, and unknown ones.

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// TestCommands: keygen, version, healthcheck, unknown commands.
func TestCommands(t *testing.T) {
	env := func(extra testbin.Env) testbin.Env {
		e := testbin.Env{}
		for k, v := range extra {
			e[k] = v
		}
		return e
	}
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}\n$`)

	code, k1, stderr := testbin.Run(t, 10*time.Second, env(nil), "keygen")
	if code != 0 || !hex64.MatchString(k1) {
		t.Errorf("keygen: status %d, stdout %q, stderr %q; want 0 and 64 hex characters + newline", code, k1, stderr)
	}
	_, k2, _ := testbin.Run(t, 10*time.Second, env(nil), "keygen")
	if k1 == k2 {
		t.Errorf("two keygen runs printed the same key")
	}

	code, v, stderr := testbin.Run(t, 10*time.Second, env(nil), "version")
	if code != 0 || strings.TrimSpace(v) == "" || strings.Count(v, "\n") != 1 {
		t.Errorf("version: status %d, stdout %q, stderr %q; want 0 and one non-empty line", code, v, stderr)
	}

	root := testbin.Root(t)
	p := testbin.Start(t, "healthcheck-target", testbin.ServerEnv(t, filepath.Join(root, "data"), nil))
	code, _, stderr = testbin.Run(t, 10*time.Second, env(testbin.Env{"PORT": strconv.Itoa(p.Port())}), "healthcheck")
	if code != 0 {
		t.Errorf("healthcheck against a running server: status %d, stderr %q; want 0", code, stderr)
	}
	code, _, _ = testbin.Run(t, 10*time.Second, env(testbin.Env{"PORT": strconv.Itoa(testbin.FreePort(t))}), "healthcheck")
	if code != 1 {
		t.Errorf("healthcheck against nothing: status %d, want 1", code)
	}
	p.Stop()

	code, stdout, stderr := testbin.Run(t, 10*time.Second, env(nil), "frobnicate")
	if code == 0 || !strings.Contains(stdout+stderr, "usage") {
		t.Errorf("unknown command: status %d, output %q; want non-zero with usage", code, stdout+stderr)
	}
	code, stdout, stderr = testbin.Run(t, 10*time.Second, env(nil), "keygen", "extra")
	if code == 0 || !strings.Contains(stdout+stderr, "usage") {
		t.Errorf("keygen with an argument: status %d, output %q; want non-zero with usage", code, stdout+stderr)
	}
}
