package kv

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
	"soulbridge/internal/testlog"
	"soulbridge/internal/testwait"
)

// TestMirrorDownSinceStartIsLogged: a Redis that never answers (here,
// nothing listens on its port) is logged once at start, with the reason and
// no password, and the mirror serves from the local copy. The mirror starts
// down, so going down is no change of state; without this line the log
// said nothing while REDIS_URL was wrong.
func TestMirrorDownSinceStartIsLogged(t *testing.T) {
	b, err := Open(context.Background(), Options{Dir: t.TempDir(), Prefix: "t:", LockTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Recorder{}
	port := testbin.FreePort(t)
	m, err := OpenMirror(b, MirrorOptions{URL: "redis://:hunter2@127.0.0.1:" + strconv.Itoa(port) + "/0", Persistent: true, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	var line string
	testwait.Until(t, 5*time.Second, "the mirror says it is down", func() bool {
		for _, r := range logs.Records() {
			if strings.HasPrefix(r.Message, "redis mirror down since start") {
				line = r.Message
				r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
				return true
			}
		}
		return false
	})
	if strings.Contains(line, "hunter2") || !strings.Contains(line, "err=") {
		t.Errorf("the line: %q, want the reason and no password", line)
	}
	if m.up() {
		t.Fatal("up with nothing listening")
	}
	if err := m.Set(context.Background(), "k", []byte("v"), 0); err != nil {
		t.Errorf("a write while down since start (persistent: queued): %v", err)
	}
}
