package main

import (
	"runtime/debug"
	"strings"
)

// The build's version, as /readyz and `soulbridge version` report it.

// appVersion is RAILWAY_GIT_COMMIT_SHA (shortened) when the platform sets it,
// else the build's own version.
func appVersion(getenv func(string) string) string {
	if sha := strings.TrimSpace(getenv("RAILWAY_GIT_COMMIT_SHA")); sha != "" {
		return shorten(sha)
	}
	return buildInfoVersion()
}

// buildVersion is stamped by the linker in release builds
// (go build -ldflags "-X main.buildVersion=..."; the Dockerfile stamps it from
// its VERSION or RAILWAY_GIT_COMMIT_SHA build argument). Empty otherwise.
var buildVersion = ""

// buildInfoVersion is the linker-stamped buildVersion, else the module
// version or VCS revision recorded in the build.
func buildInfoVersion() string {
	if v := strings.TrimSpace(buildVersion); v != "" {
		if isHex(v) {
			return shorten(v) // a commit SHA
		}
		return v
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = shorten(s.Value)
		case "vcs.modified":
			if s.Value == "true" {
				modified = "-dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	return rev + modified
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return s != ""
}

func shorten(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
