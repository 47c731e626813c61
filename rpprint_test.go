package main

import (
	"log/slog"
	"strings"
	"testing"

	"soulbridge/internal/testlog"
)

// The passkey relying party: logged at start from the configured address
// (never a request), and a change of RP ID from the last start warned
// about once, since every passkey made before stops working.
func TestRelyingPartyFromConfigAndWarnedWhenChanged(t *testing.T) {
	dir := t.TempDir()
	start := func(publicURL string) []slog.Record {
		t.Helper()
		logs := &testlog.Recorder{}
		rp := newRelyingParty(Config{PublicURL: publicURL, Port: "8080", DataDir: dir}, slogOf(logs))
		if rp == nil {
			t.Fatalf("no relying party for %q", publicURL)
		}
		return logs.Records()
	}
	warns := func(rs []slog.Record) (n int, msg string) {
		for _, r := range rs {
			if r.Level == slog.LevelWarn {
				n++
				msg = r.Message
			}
		}
		return n, msg
	}
	rs := start("")
	if n, _ := warns(rs); n != 0 || !strings.Contains(rs[0].Message, "relying party") {
		t.Fatalf("first start (localhost): %d warnings, first line %q", n, rs[0].Message)
	}
	var rpID string
	rs[0].Attrs(func(a slog.Attr) bool {
		if a.Key == "rp_id" {
			rpID = a.Value.String()
		}
		return true
	})
	if rpID != "localhost" {
		t.Fatalf("RP ID logged %q, want localhost", rpID)
	}
	if n, _ := warns(start("")); n != 0 {
		t.Fatal("same RP ID again: warned")
	}
	if n, msg := warns(start("https://community.example.org")); n != 1 || !strings.Contains(msg, "PUBLIC_URL") {
		t.Fatalf("RP ID changed: %d warnings (%q), want one naming PUBLIC_URL", n, msg)
	}
	if n, _ := warns(start("https://community.example.org")); n != 0 {
		t.Fatal("warned twice about one change")
	}
	// An address that cannot carry passkeys turns them off, with a warning.
	logs := &testlog.Recorder{}
	if rp := newRelyingParty(Config{PublicURL: "http://192.0.2.1", Port: "8080", DataDir: dir}, slogOf(logs)); rp != nil {
		t.Fatal("passkeys on over plain http on an IP address")
	}
	if n, _ := warns(logs.Records()); n != 1 {
		t.Fatalf("passkeys off: %d warnings, want 1", n)
	}
}
