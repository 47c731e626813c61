package kv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// plants lists the planted bugs (plant_on_*.go) and, for each, the
// invariant tests that must fail when its build tag is set: the proof that
// the tests (and the fault test in e2e/, which switches the same tags)
// catch the bug. By hand:
//
//	go test -tags plant_notombstone -run 'TestDeleteLeavesTombstone' ./kv
//	go test -tags plant_noversion -run 'TestPutScriptVersions|TestOutboxOrderAndReplayRace' ./kv
//	go test -tags plant_renewrevive -run 'TestFinalTombstonesInRedis|TestRenewWhileDownQueuesRenewMode|TestMirrorContract' ./kv
//	go test -tags plant_renewrevive -run 'TestRenewalNeverRevivesAfterOutage' ./session
//	go test -tags plant_nocacheinval -run 'TestCacheInvalidationAcrossInstances|TestCacheMissInvalidateRace' ./kv
//
// each fails; without the tag each passes.
var plants = []struct {
	tag, pkg, run string
	on            bool
}{
	{"plant_notombstone", "./kv", "TestDeleteLeavesTombstone", plantNoTombstone},
	{"plant_noversion", "./kv", "TestPutScriptVersions|TestOutboxOrderAndReplayRace", plantNoVersion},
	{"plant_renewrevive", "./kv", "TestFinalTombstonesInRedis|TestRenewWhileDownQueuesRenewMode|TestMirrorContract", plantRenewRevive},
	{"plant_renewrevive", "./session", "TestRenewalNeverRevivesAfterOutage", plantRenewRevive},
	{"plant_nocacheinval", "./kv", "TestCacheInvalidationAcrossInstances|TestCacheMissInvalidateRace", plantNoCacheInval},
}

// TestNoPlantSwitchedOn: a build without a plant's tag runs none of it: the
// constants are off and the Lua script is the one in putSource. With a tag
// set this test fails first, naming the plant.
func TestNoPlantSwitchedOn(t *testing.T) {
	for _, p := range plants {
		if p.on {
			t.Errorf("planted bug %s is switched on in this build", p.tag)
		}
	}
	if putScriptSource() != putSource {
		t.Error("putScript is not putSource: a plant edited it")
	}
}

// TestPlantsAreCaught runs each plant's invariant tests with its tag and
// expects them to fail (and the same tests without a tag to pass: the
// rest of this suite). It builds the packages once per tag, so it runs
// only with SOULBRIDGE_PLANT_PROOF=1:
//
//	SOULBRIDGE_PLANT_PROOF=1 go test -run TestPlantsAreCaught ./kv
func TestPlantsAreCaught(t *testing.T) {
	if os.Getenv("SOULBRIDGE_PLANT_PROOF") == "" {
		t.Skip("set SOULBRIDGE_PLANT_PROOF=1 to build and run each planted bug (about a minute)")
	}
	if plantNoTombstone || plantNoVersion || plantRenewRevive || plantNoCacheInval {
		t.Skip("run without plant tags")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	for _, p := range plants {
		t.Run(p.tag+" "+p.pkg, func(t *testing.T) {
			cmd := exec.Command("go", "test", "-count=1", "-tags", p.tag, "-run", p.run, p.pkg)
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("with -tags %s, %s -run %q passed: the planted bug went unnoticed\n%s", p.tag, p.pkg, p.run, out)
			}
			if !strings.Contains(string(out), "--- FAIL") {
				t.Fatalf("with -tags %s, %s did not fail a test (a build error?):\n%s", p.tag, p.pkg, out)
			}
		})
	}
}
