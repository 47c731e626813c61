package testbin

import (
	"strings"
	"testing"
)

func TestFailureLogOmitsLines(t *testing.T) {
	out := "start\nmsg=request a\nwarn x\nmsg=request b\n"
	if got := failureLog(out, nil); got != out {
		t.Fatalf("without a filter: %q, want the output as is", got)
	}
	omit := func(line string) bool { return strings.HasPrefix(line, "msg=") }
	want := "start\nwarn x\n(2 lines left out)\n"
	if got := failureLog(out, omit); got != want {
		t.Fatalf("failureLog = %q, want %q", got, want)
	}
}
