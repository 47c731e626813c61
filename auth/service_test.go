package auth_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"soulbridge/auth"
)

const pw = "correct horse battery"

func signUp(t *testing.T, s *auth.Service, name, password string) auth.User {
	t.Helper()
	u, err := s.SignUp(context.Background(), name, password)
	if err != nil {
		t.Fatalf("SignUp(%q): %v", name, err)
	}
	return u
}

func TestSignUp(t *testing.T) {
	clk := newClock()
	store := openStore(t)
	s := newService(t, store, clk)
	ctx := context.Background()

	u := signUp(t, s, "Alice", pw)
	if u.Username != "alice" || !u.CreatedAt.Equal(clk.Now()) || !u.UpdatedAt.Equal(clk.Now()) {
		t.Fatalf("SignUp = %+v", u)
	}
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$") || strings.Contains(u.PasswordHash, pw) {
		t.Fatalf("PasswordHash = %q", u.PasswordHash)
	}
	raw, err := store.Get(ctx, "user:alice")
	if err != nil {
		t.Fatalf("account not stored under user:alice: %v", err)
	}
	if strings.Contains(string(raw), pw) {
		t.Fatal("stored account holds the password")
	}
	// The account is listed (as the community page lists members), and only it.
	if names, err := s.Usernames(ctx, "", 10); err != nil || len(names) != 1 || names[0] != "alice" {
		t.Fatalf("Usernames = %v, %v; want [alice]", names, err)
	}

	for _, dup := range []string{"alice", "ALICE", " aLiCe "} {
		if _, err := s.SignUp(ctx, dup, "another password"); !errors.Is(err, auth.ErrUsernameTaken) {
			t.Errorf("SignUp(%q) again: err = %v, want ErrUsernameTaken", dup, err)
		}
	}
	// The first account is untouched by the refused ones.
	if _, err := s.LogIn(ctx, "alice", pw, "198.51.100.1"); err != nil {
		t.Fatalf("original password after duplicate sign-ups: %v", err)
	}
}

func TestSignUpValidation(t *testing.T) {
	s := newService(t, openStore(t), newClock())
	tests := []struct {
		name, user, pass, field string
	}{
		{"short name", "ab", pw, "username"},
		{"bad name", "a.b", pw, "username"},
		{"short password", "carol", "1234567", "password"},
		{"long password", "carol", strings.Repeat("x", 129), "password"},
		{"invalid UTF-8", "carol", "password\xff", "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.SignUp(context.Background(), tt.user, tt.pass)
			var ve *auth.ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("err = %v, want a %s ValidationError", err, tt.field)
			}
		})
	}
	if names, err := s.Usernames(context.Background(), "", 10); err != nil || len(names) != 0 {
		t.Fatalf("invalid sign-ups created accounts: %v %v", names, err)
	}
}

func TestSignUpConcurrentSameName(t *testing.T) {
	store := openStore(t)
	s := newService(t, store, newClock())
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			name := "Bob"
			if i%2 == 0 {
				name = "bob"
			}
			_, errs[i] = s.SignUp(context.Background(), name, fmt.Sprintf("staple battery %02d", i))
		})
	}
	wg.Wait()
	wins, winner := 0, -1
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
			winner = i
		case !errors.Is(err, auth.ErrUsernameTaken):
			t.Errorf("SignUp %d: %v", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d concurrent sign-ups of one name succeeded, want exactly 1", wins)
	}
	// The stored account is the winner's.
	if _, err := s.LogIn(context.Background(), "bob", fmt.Sprintf("staple battery %02d", winner), "192.0.2.1"); err != nil {
		t.Fatalf("winner cannot log in: %v", err)
	}
}

func TestLogIn(t *testing.T) {
	s := newService(t, openStore(t), newClock())
	ctx := context.Background()
	created := signUp(t, s, "alice", pw)

	u, err := s.LogIn(ctx, "ALICE", pw, "192.0.2.1")
	if err != nil || u.Username != "alice" || u.PasswordHash != created.PasswordHash {
		t.Fatalf("LogIn = %+v, %v", u, err)
	}
	tests := []struct{ name, user, pass string }{
		{"wrong password", "alice", "wrong password"},
		{"password in other case", "alice", strings.ToUpper(pw)},
		{"unknown user", "mallory", pw},
		{"malformed name", "a.b", pw},
		{"too short password", "alice", "short"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := s.LogIn(ctx, tt.user, tt.pass, "192.0.2.2")
			if !errors.Is(err, auth.ErrBadCredentials) {
				t.Fatalf("err = %v, want ErrBadCredentials", err)
			}
			if u.Username != "" || u.PasswordHash != "" {
				t.Fatalf("returned a user with the error: %+v", u)
			}
		})
	}
}

func TestLogInThrottlesIP(t *testing.T) {
	clk := newClock()
	s := newService(t, openStore(t), clk)
	ctx := context.Background()
	signUp(t, s, "alice", pw)
	const ip = "198.51.100.7"

	for i := range auth.IPLimit - 1 {
		if _, err := s.LogIn(ctx, "alice", "wrong password", ip); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("failure %d: err = %v", i+1, err)
		}
	}
	// Nine failures: a correct password still gets in.
	if _, err := s.LogIn(ctx, "alice", pw, ip); err != nil {
		t.Fatalf("after %d failures: %v", auth.IPLimit-1, err)
	}
	// The tenth failure (an unknown user counts too) closes the IP.
	clk.Advance(time.Minute)
	if _, err := s.LogIn(ctx, "nobody", "wrong password", ip); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("failure 10: %v", err)
	}
	for _, try := range []struct{ user, pass string }{{"alice", pw}, {"alice", "wrong password"}, {"bob", pw}} {
		_, err := s.LogIn(ctx, try.user, try.pass, ip)
		var te *auth.ThrottledError
		if !errors.As(err, &te) {
			t.Fatalf("LogIn(%s) after 10 failures: err = %v, want *ThrottledError", try.user, err)
		}
		if te.RetryAfter <= 0 || te.RetryAfter > auth.Window {
			t.Fatalf("RetryAfter = %v, want in (0, %v]", te.RetryAfter, auth.Window)
		}
		if want := auth.Window - time.Minute; te.RetryAfter != want {
			t.Fatalf("RetryAfter = %v, want %v (window started at the first failure)", te.RetryAfter, want)
		}
	}
	// Another IP is not affected.
	if _, err := s.LogIn(ctx, "alice", pw, "198.51.100.8"); err != nil {
		t.Fatalf("other IP: %v", err)
	}
	// Once the window has passed, the IP may try again.
	clk.Advance(auth.Window - time.Minute + time.Second)
	if _, err := s.LogIn(ctx, "alice", pw, ip); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestLogInThrottlesAccount(t *testing.T) {
	clk := newClock()
	s := newService(t, openStore(t), clk)
	ctx := context.Background()
	signUp(t, s, "alice", pw)
	signUp(t, s, "bob", pw)

	ip := func(i int) string { return fmt.Sprintf("10.0.%d.%d", i/256, i%256) }
	for i := range auth.AccountLimit - 1 {
		if _, err := s.LogIn(ctx, "alice", "wrong password", ip(i)); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	if _, err := s.LogIn(ctx, "Alice", pw, ip(1000)); err != nil {
		t.Fatalf("after %d failures on the account: %v", auth.AccountLimit-1, err)
	}
	if _, err := s.LogIn(ctx, "ALICE", "wrong password", ip(1001)); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatal(err)
	}
	_, err := s.LogIn(ctx, "alice", pw, ip(2000))
	var te *auth.ThrottledError
	if !errors.As(err, &te) || te.RetryAfter <= 0 || te.RetryAfter > auth.Window {
		t.Fatalf("after %d failures from different IPs: err = %v, want *ThrottledError", auth.AccountLimit, err)
	}
	// Other accounts are not affected, from a fresh IP or one used above.
	for _, from := range []string{ip(3000), ip(5)} {
		if _, err := s.LogIn(ctx, "bob", pw, from); err != nil {
			t.Fatalf("bob from %s: %v", from, err)
		}
	}
	clk.Advance(auth.Window)
	if _, err := s.LogIn(ctx, "alice", pw, ip(2000)); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestUsernames(t *testing.T) {
	s := newService(t, openStore(t), newClock())
	ctx := context.Background()
	for _, n := range []string{"dave", "Carol", "alice", "erin", "bob"} {
		signUp(t, s, n, pw)
	}
	tests := []struct {
		after string
		limit int
		want  []string
	}{
		{"", 10, []string{"alice", "bob", "carol", "dave", "erin"}},
		{"", 5, []string{"alice", "bob", "carol", "dave", "erin"}},
		{"", 3, []string{"alice", "bob", "carol"}},
		{"", 1, []string{"alice"}},
		{"", 0, nil},
		{"", -1, nil},
		{"bob", 2, []string{"carol", "dave"}},
		{"bobby", 10, []string{"carol", "dave", "erin"}},
		{"a", 1, []string{"alice"}},
		{"erin", 10, nil},
	}
	for _, tt := range tests {
		got, err := s.Usernames(ctx, tt.after, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Usernames(%q, %d) = %q, want %q", tt.after, tt.limit, got, tt.want)
		}
	}
}

func TestUsernamesBefore(t *testing.T) {
	s := newService(t, openStore(t), newClock())
	ctx := context.Background()
	for _, n := range []string{"dave", "Carol", "alice", "erin", "bob"} {
		signUp(t, s, n, pw)
	}
	tests := []struct {
		before string
		limit  int
		want   []string
	}{
		{"", 10, []string{"alice", "bob", "carol", "dave", "erin"}},
		{"", 2, []string{"dave", "erin"}},
		{"", 0, nil},
		{"", -1, nil},
		{"dave", 2, []string{"bob", "carol"}},
		{"dave", 10, []string{"alice", "bob", "carol"}},
		{"bobby", 1, []string{"bob"}},
		{"alice", 10, nil},
		{"a", 10, nil},
		{"zzz", 1, []string{"erin"}},
	}
	for _, tt := range tests {
		got, err := s.UsernamesBefore(ctx, tt.before, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("UsernamesBefore(%q, %d) = %q, want %q", tt.before, tt.limit, got, tt.want)
		}
	}
}

func TestLogInStoreFailure(t *testing.T) {
	store := openStore(t)
	s := newService(t, store, newClock())
	signUp(t, s, "alice", pw)
	store.Close()
	_, err := s.LogIn(context.Background(), "alice", pw, "192.0.2.1")
	if err == nil || errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("LogIn on a closed store: err = %v, want a store error", err)
	}
	if _, err := s.SignUp(context.Background(), "carol", pw); err == nil || errors.Is(err, auth.ErrUsernameTaken) {
		t.Fatalf("SignUp on a closed store: err = %v", err)
	}
}

// TestSignUpFromCountsCreatedAccounts: SignupLimit accounts from one
// address, then a throttle; refused sign-ups (a taken name) do not count.
func TestSignUpFromCountsCreatedAccounts(t *testing.T) {
	s := newService(t, openStore(t), newClock())
	ctx := context.Background()
	const ip = "198.51.100.20"
	for i := range auth.SignupLimit {
		if _, err := s.SignUpFrom(ctx, fmt.Sprintf("member%02d", i), pw, ip); err != nil {
			t.Fatalf("sign-up %d: %v", i+1, err)
		}
		if _, err := s.SignUpFrom(ctx, fmt.Sprintf("member%02d", i), pw, ip); !errors.Is(err, auth.ErrUsernameTaken) {
			t.Fatalf("taken name: %v", err)
		}
	}
	var th *auth.ThrottledError
	if _, err := s.SignUpFrom(ctx, "onemore", pw, ip); !errors.As(err, &th) {
		t.Fatalf("sign-up %d from one address: %v, want throttled", auth.SignupLimit+1, err)
	}
	if _, err := s.SignUpFrom(ctx, "onemore", pw, "198.51.100.21"); err != nil {
		t.Fatalf("another address: %v", err)
	}
}
