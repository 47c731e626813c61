package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestHelpListsTheEnvironment (issue 18 row 11): `soulbridge help` names
// every variable of README's configuration table, so the binary alone says
// how to configure it.
func TestHelpListsTheEnvironment(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "## Configuration (environment)")
	if !ok {
		t.Fatal(`README.md has no "## Configuration (environment)" section`)
	}
	table, _, _ = strings.Cut(table, "\n#")
	vars := regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\|").FindAllStringSubmatch(table, -1)
	if len(vars) < 10 {
		t.Fatalf("found %d variables in README's table, want at least 10", len(vars))
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, func(string) string { return "" }, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, v := range vars {
		if !regexp.MustCompile(`(?m)^\s+` + v[1] + `\b`).MatchString(out.String()) {
			t.Errorf("soulbridge help does not list %s:\n%s", v[1], out.String())
		}
	}
}

// TestHelpListsTheOperatorCommands: `soulbridge help` names every command
// of README's "Run the site" table.
func TestHelpListsTheOperatorCommands(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "## Run the site")
	if !ok {
		t.Fatal(`README.md has no "## Run the site" section`)
	}
	table, _, _ = strings.Cut(table, "\n#")
	cmds := regexp.MustCompile("(?m)^\\| `soulbridge ((?:users|avatars) [a-z-]+)").FindAllStringSubmatch(table, -1)
	if len(cmds) < 8 {
		t.Fatalf("found %d commands in README's table, want at least 8", len(cmds))
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, func(string) string { return "" }, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if !strings.Contains(out.String(), "  "+c[1]) {
			t.Errorf("soulbridge help does not list %q", c[1])
		}
	}
}
