package e2e

// The fault test's passkey client (README "Passkeys"): one account signed
// up with a software passkey before the chaos, then, all through it, passkey
// log-ins begun on one random instance and finished on another, each
// acknowledged assertion replayed on a third. What faults could break: a
// challenge's single use (a used nonce lost with Redis emptied, a claim
// queued on a cut-off instance), the credential in the account record (a
// rewrite of the sign count over a stale copy), a 5xx. Checked after
// healing: no replay was ever accepted, the genuine passkey was never
// refused, and it logs in on every instance.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"soulbridge/internal/testpasskey"
)

// faultOrigin is the relying party every instance is configured with
// (PUBLIC_URL): as behind one edge, whichever instance answers.
const faultOrigin = "http://localhost:8080"

const (
	invReplay  = "a replayed passkey assertion was accepted"
	invPasskey = "the genuine passkey was refused, or does not log in after healing"
)

// faultPasskeyClient is the passkey client's state.
type faultPasskeyClient struct {
	insts []string
	hc    *http.Client
	rng   *rand.Rand
	auth  *testpasskey.Authenticator
	name  string
	// ip is the address the client's requests come from (X-Real-IP).
	ip string
	// counts of outcomes, for the log; fails, for the checks.
	logins, replays, unanswered, paused int
	fails                               []faultFailure
}

// post sends a JSON body to instance i from the client's address.
func (p *faultPasskeyClient) post(i int, path string, v any) (int, string) {
	b, _ := json.Marshal(v)
	req, _ := http.NewRequest(http.MethodPost, p.insts[i]+path, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Real-IP", p.ip)
	res, err := p.hc.Do(req)
	if err != nil {
		return noAnswer, ""
	}
	defer res.Body.Close()
	b, err = io.ReadAll(res.Body)
	if err != nil {
		return noAnswer, ""
	}
	return res.StatusCode, string(b)
}

// signUp makes the client's account with a passkey (the cluster healthy).
func (p *faultPasskeyClient) signUp(t *testing.T) {
	t.Helper()
	status, body := p.post(0, "/passkeys/signup/begin", map[string]string{"username": p.name})
	if status != http.StatusOK {
		t.Fatalf("passkey sign-up begin: %d %s", status, body)
	}
	handle := testpasskey.UserID(t, []byte(body))
	cred := p.auth.Create(testpasskey.Challenge(t, []byte(body)), handle, faultOrigin, "localhost")
	status, body = p.post(1%len(p.insts), "/passkeys/signup/finish", map[string]any{
		"username": p.name, "handle": base64.RawURLEncoding.EncodeToString(handle), "credential": json.RawMessage(cred),
	})
	if status != http.StatusOK {
		t.Fatalf("passkey sign-up finish: %d %s", status, body)
	}
}

// login begins on one instance and finishes on another; it returns the
// finish's status, and the assertion when it was acknowledged.
func (p *faultPasskeyClient) login(begin, finish int) (int, string, []byte) {
	status, body := p.post(begin, "/passkeys/login/begin", struct{}{})
	if status != http.StatusOK {
		return status, body, nil
	}
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if json.Unmarshal([]byte(body), &o) != nil {
		return status, body, nil
	}
	ch, err := base64.RawURLEncoding.DecodeString(o.PublicKey.Challenge)
	if err != nil {
		return status, body, nil
	}
	a := p.auth.Assert(ch, faultOrigin, "localhost")
	status, body = p.post(finish, "/passkeys/login/finish", map[string]any{"credential": json.RawMessage(a)})
	if status == http.StatusOK {
		return status, body, a
	}
	return status, body, nil
}

// newFaultPasskeyClient signs a passkey account up on the healthy cluster.
func newFaultPasskeyClient(t *testing.T, c *faultCluster, seed uint64) *faultPasskeyClient {
	t.Helper()
	p := &faultPasskeyClient{hc: oneShotClient(5 * time.Second), rng: rand.New(rand.NewPCG(seed, 78)), auth: testpasskey.New(t), name: "passkeyuser", ip: "10.78.0.1"}
	p.auth.Counting = true
	for _, in := range c.insts {
		p.insts = append(p.insts, in.base)
	}
	p.signUp(t)
	return p
}

// run logs in with the passkey until ctx ends, replaying each
// acknowledged assertion on another instance.
func (p *faultPasskeyClient) run(ctx context.Context) {
	n := len(p.insts)
	for ctx.Err() == nil {
		b, f := p.rng.IntN(n), p.rng.IntN(n)
		status, body, a := p.login(b, f)
		switch {
		case status == noAnswer:
			p.unanswered++
		case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
			p.paused++
		case status >= 500:
			p.fails = append(p.fails, faultFailure{invariant: invServer, sess: -1, op: -1,
				detail: fmt.Sprintf("passkey log-in begun on %d, finished on %d: %d %s", b, f, status, body)})
		case status == http.StatusUnauthorized:
			p.fails = append(p.fails, faultFailure{invariant: invPasskey, sess: -1, op: -1,
				detail: fmt.Sprintf("passkey log-in begun on %d, finished on %d: 401 %s", b, f, body)})
		case status == http.StatusOK:
			p.logins++
		}
		if a != nil {
			r := (f + 1 + p.rng.IntN(n-1)) % n
			if status, body := p.post(r, "/passkeys/login/finish", map[string]any{"credential": json.RawMessage(a)}); status == http.StatusOK {
				p.fails = append(p.fails, faultFailure{invariant: invReplay, sess: -1, op: -1,
					detail: fmt.Sprintf("assertion acknowledged by %d accepted again by %d: %s", f, r, body)})
			} else if status != noAnswer {
				p.replays++
			}
		}
		sleepCtx(ctx, time.Duration(20+p.rng.IntN(60))*time.Millisecond)
	}
}

// check logs in with the passkey on every instance of the healed cluster.
//
// It does so from another address: the run's pace (a log-in every 20–80
// ms, retried at once after a 503) can use up the per-address allowance of
// challenges (60 a minute an instance), and a 429 for that says nothing of
// whether the passkey works.
func (p *faultPasskeyClient) check() []faultFailure {
	fails := p.fails
	p.ip = "10.78.1.1"
	for i := range p.insts {
		var status int
		var body string
		for try := 0; try < 3; try++ {
			if status, body, _ = p.login(i, i); status == http.StatusOK {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if status != http.StatusOK {
			fails = append(fails, faultFailure{invariant: invPasskey, sess: -1, op: -1,
				detail: fmt.Sprintf("after healing, passkey log-in on instance %d: %d %s", i, status, body)})
		}
	}
	return fails
}

func (p *faultPasskeyClient) String() string {
	return fmt.Sprintf("passkey client: %d log-ins begun and finished on random instances, %d acknowledged assertions replayed and refused, %d unanswered, %d paused (503/429)",
		p.logins, p.replays, p.unanswered, p.paused)
}
