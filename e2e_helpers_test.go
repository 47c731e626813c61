package main

// The end-to-end tests in e2e_test.go and the deploy tests in deploy_test.go
// run the real soulbridge binary through internal/testbin, which builds it
// once per test process; TestMain removes that build at exit.

import (
	"testing"

	"soulbridge/internal/testbin"
)

func TestMain(m *testing.M) { testbin.Main(m) }
