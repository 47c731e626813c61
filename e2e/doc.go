// Package e2e holds the tests that build and drive the real soulbridge
// binary as a subprocess (through internal/testbin): start-up and key rules,
// deploys and the handover between an old and a new process, graceful
// shutdown, crash durability, the privilege drop, the sub-commands, backup
// and restore, and the deploy files (Dockerfile, railway.json,
// .railway/railway.ts) checked against the binary. It has no code of its own; the tests are in its
// _test.go files, by topic.
//
// `go test ./...` runs them; `go test -short ./...` skips them (every test
// that starts the binary is skipped by testbin.SkipShort).
package e2e
