package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

type activityEntry struct {
	At        string `json:"at"`
	Kind      string `json:"kind"`
	Text      string `json:"text"`
	NewDevice bool   `json:"new_device"`
	Count     int    `json:"count"`
}

// activityOn returns GET /account/activity on base for cookie.
func activityOn(t *testing.T, c *http.Client, base, cookie string) []activityEntry {
	t.Helper()
	r := testbin.Must(t, c, http.MethodGet, base+"/account/activity", cookie, "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s/account/activity: %d %s", base, r.Status, r.Body)
	}
	var list []activityEntry
	if err := json.Unmarshal([]byte(r.Body), &list); err != nil {
		t.Fatalf("GET /account/activity: %v: %s", err, r.Body)
	}
	return list
}

// TestActivitySameOnBothInstances: two instances on one Redis; a scripted
// history made on both (sign-up on A, a failed log-in on B, a log-in on B,
// a password change on A, recovery codes on B, an operator's end-sessions
// through A) shows in the same order, newest first, on both instances.
func TestActivitySameOnBothInstances(t *testing.T) {
	p := startPair(t)
	a, b := p.a.Base(), p.b.Base()
	form := func(v url.Values) *strings.Reader { return strings.NewReader(v.Encode()) }
	const ct = "application/x-www-form-urlencoded"
	// Each step waits a little, so its event's time is after the last one's
	// on both instances' clocks.
	step := func() { time.Sleep(20 * time.Millisecond) }

	onA := testbin.Signup(t, p.c, a, "alice", operatorPassword)
	step()
	if r := testbin.Must(t, p.c, http.MethodPost, b+"/login", "", ct, form(url.Values{"username": {"alice"}, "password": {"not the password"}})); r.Status != http.StatusUnauthorized {
		t.Fatalf("wrong password on B: %d", r.Status)
	}
	step()
	onB := testbin.Form(t, p.c, b, "/login", "alice", operatorPassword)
	step()
	r := testbin.Must(t, p.c, http.MethodPost, a+"/account/password", onA, ct,
		form(url.Values{"current_password": {operatorPassword}, "new_password": {"staple violet quarry"}}))
	if r.Status != http.StatusSeeOther {
		t.Fatalf("password change on A: %d %s", r.Status, r.Body)
	}
	onA = r.SessionCookie()
	step()
	onB = testbin.Form(t, p.c, b, "/login", "alice", "staple violet quarry")
	step()
	if r := testbin.Must(t, p.c, http.MethodPost, b+"/account/recovery-codes", onB, ct, form(url.Values{"password": {"staple violet quarry"}})); r.Status != http.StatusOK {
		t.Fatalf("recovery codes on B: %d", r.Status)
	}
	step()
	want := []string{"recovery-codes-made", "log-in", "password-changed", "log-in", "log-in-failed", "sign-up"}
	kinds := func(l []activityEntry) []string {
		var k []string
		for _, e := range l {
			k = append(k, e.Kind)
		}
		return k
	}
	// The events are written off the request path: wait until both show
	// all of them, then they must agree.
	var onAList, onBList []activityEntry
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		onAList, onBList = activityOn(t, p.c, a, onA), activityOn(t, p.c, b, onB)
		if slices.Equal(kinds(onAList), want) && slices.Equal(kinds(onBList), want) || time.Now().After(deadline) {
			break
		}
	}
	if got := kinds(onAList); !slices.Equal(got, want) {
		t.Errorf("on A: %v, want %v", got, want)
	}
	if got := kinds(onBList); !slices.Equal(got, want) {
		t.Errorf("on B: %v, want %v", got, want)
	}
	for i := range min(len(onAList), len(onBList)) {
		if onAList[i].At != onBList[i].At || onAList[i].Text != onBList[i].Text {
			t.Errorf("entry %d differs: A %+v, B %+v", i, onAList[i], onBList[i])
		}
	}
	if len(onAList) > 3 && !onAList[3].NewDevice {
		t.Errorf("the first log-in on B (no device cookie) is not marked new: %+v", onAList[3])
	}

	// An operator's change through A shows on both, first.
	runOperator(t, p.envA, 0, "users", "end-sessions", "alice")
	onA = testbin.Form(t, p.c, a, "/login", "alice", "staple violet quarry")
	onB = testbin.Form(t, p.c, b, "/login", "alice", "staple violet quarry")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		onAList, onBList = activityOn(t, p.c, a, onA), activityOn(t, p.c, b, onB)
		if len(onAList) == len(want)+3 && len(onBList) == len(want)+3 || time.Now().After(deadline) {
			break
		}
	}
	for _, l := range [][]activityEntry{onAList, onBList} {
		if len(l) != len(want)+3 || l[2].Kind != "operator" || !strings.Contains(l[2].Text, "operator") {
			t.Errorf("after the operator's end-sessions: %v, want two log-ins then the operator's change", kinds(l))
		}
	}
}
