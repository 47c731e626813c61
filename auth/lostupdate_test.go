package auth_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// Two changes of one account at once — a password change and "log out
// everywhere else", from two tabs or two instances — both land: neither
// write carries the other's stale copy back. Before account writes were
// conditional, the revoke read the account before the password change was
// stored and wrote it after, putting the old password and generation back
// (the fault test's seed 15: a session from before a password change
// answering again).
func TestConcurrentAccountChangesBothLand(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	s := newService(t, store, newClock())
	for i := range 300 {
		name := fmt.Sprintf("racer%03d", i)
		if _, err := s.SignUp(ctx, name, "correct horse battery"); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var changeErr, endErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, changeErr = s.ChangePassword(ctx, name, "staple violet quarry")
		}()
		go func() {
			defer wg.Done()
			_, endErr = s.EndSessions(ctx, name, nil)
		}()
		wg.Wait()
		if changeErr != nil || endErr != nil {
			t.Fatalf("%s: change password: %v; end sessions: %v", name, changeErr, endErr)
		}
		if _, err := s.LogIn(ctx, name, "staple violet quarry", "192.0.2.1"); err != nil {
			t.Fatalf("%s: the new password no longer logs in after a concurrent revoke: %v", name, err)
		}
		if _, err := s.LogIn(ctx, name, "correct horse battery", "192.0.2.2"); err == nil {
			t.Fatalf("%s: the old password logs in again after a concurrent revoke", name)
		}
	}
}
