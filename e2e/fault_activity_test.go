package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"soulbridge/internal/testbin"
)

// invActivity: the member's activity list (GET /account/activity) after
// healing does not answer 200 newest first, or shows an event from before
// the account's acknowledged sign-up: an earlier owner's of the name (the
// run deletes accounts and signs the names up again, and events are
// written off the request path, so one can land after its account's
// deletion). Events lost to an outage are allowed (README, "Recent
// activity").
const invActivity = "activity list unreadable, out of order, or showing an earlier owner's event"

// activity checks, on every instance, the activity list of each account
// whose sign-up was acknowledged and that has a live session; read is how
// many lists it read.
func (k *faultChecker) activity() (fails []faultFailure, read int) {
	for _, u := range k.users {
		live := u.live()
		if u.account != acctYes || len(live) == 0 {
			continue
		}
		signedUp := -1
		for i, o := range u.ops {
			if o.kind == opSignup && o.status == http.StatusSeeOther {
				signedUp = i
			}
		}
		if signedUp < 0 {
			continue // an unanswered sign-up made the account: its time is unsure
		}
		// Event times are shown to the second.
		since := u.began.Add(u.ops[signedUp].start()).Truncate(time.Second)
		cookie := u.sessions[live[0]].cookie
		for _, in := range k.c.insts {
			read++
			if why := k.activityProblem(in.base, cookie, since); why != "" {
				fails = append(fails, faultFailure{invActivity, u, live[0], signedUp,
					fmt.Sprintf("%s on %s: %s", u.name, in.name, why), "activity"})
			}
		}
	}
	return fails, read
}

// activityProblem reads base's GET /account/activity for cookie and says
// what is wrong with it ("" when nothing).
func (k *faultChecker) activityProblem(base, cookie string, since time.Time) string {
	req, err := http.NewRequest(http.MethodGet, base+"/account/activity", nil)
	if err != nil {
		panic(err) // a malformed request is a bug in this test
	}
	req.Header.Set("Cookie", testbin.SessionCookie+"="+cookie)
	resp, err := k.hc.Do(req)
	if err != nil {
		return "no answer: " + err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("answered %d %.200s", resp.StatusCode, body)
	}
	var list []struct {
		At   time.Time `json:"at"`
		Kind string    `json:"kind"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return fmt.Sprintf("%v in %.200s", err, body)
	}
	for i, e := range list {
		if e.At.Before(since) {
			return fmt.Sprintf("a %s event at %s, before the sign-up at %s", e.Kind, e.At.Format(time.RFC3339), since.Format(time.RFC3339))
		}
		if i > 0 && e.At.After(list[i-1].At) {
			return fmt.Sprintf("not newest first: %s after %s", e.At.Format(time.RFC3339), list[i-1].At.Format(time.RFC3339))
		}
	}
	return ""
}
