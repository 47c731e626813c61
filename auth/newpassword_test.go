package auth_test

import (
	"errors"
	"strings"
	"testing"

	"soulbridge/auth"
)

// TestCheckNewPassword (issue 10 row 8, ASVS 5.0 V6.2): common passwords and
// passwords built from the username are refused with a password
// ValidationError that does not repeat the password.
func TestCheckNewPassword(t *testing.T) {
	tests := []struct {
		name, user, pw string
		ok             bool
		wantIn         string // in the message when refused
	}{
		{"password", "alice", "password", false, "common"},
		{"12345678", "alice", "12345678", false, "common"},
		{"any case", "alice", "PassWord", false, "common"},
		{"common with a year and a bang", "alice", "Password2026!", false, "common"},
		{"qwertyuiop", "alice", "qwertyuiop", false, "common"},
		{"iloveyou", "alice", "iloveyou", false, "common"},
		// Further down the top 3000 (ASVS 5.0 V6.2.4): ranks about 1000, 2000, 3000.
		{"bookworm", "alice", "Bookworm", false, "common"},
		{"hattrick", "alice", "hattrick", false, "common"},
		{"a date near rank 3000", "alice", "13101988", false, "common"},
		{"equal to the username", "alice-smith", "alice-smith", false, "username"},
		{"equal, other case", "rosalind", "ROSALIND", false, "username"},
		{"username plus digits", "alice", "alice2026", false, "username"},
		{"username inside", "bobby", "my-bobby-pass", false, "username"},
		{"reversed", "rosalind", "dnilasor", false, "username"},
		{"reversed with digits", "rosalind", "dnilasor123", false, "username"},
		{"without the separator", "alice_smith", "alicesmith!", false, "username"},
		{"part of a long username", "correcthorsebattery", "horsebattery", false, "username"},
		{"too short still says length", "alice", "short", false, "8 to 128"},
		{"a passphrase", "alice", "correct horse battery", true, ""},
		{"common word inside a longer one", "alice", "password manager horse", true, ""},
		{"another user's name is fine", "bob", "alice in chains 77", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := auth.CheckNewPassword(tt.user, tt.pw)
			if tt.ok {
				if err != nil {
					t.Fatalf("CheckNewPassword(%q, %q) = %v, want ok", tt.user, tt.pw, err)
				}
				return
			}
			var ve *auth.ValidationError
			if !errors.As(err, &ve) || ve.Field != "password" || !errors.Is(err, auth.ErrInvalid) {
				t.Fatalf("CheckNewPassword(%q, %q) = %v, want a password ValidationError", tt.user, tt.pw, err)
			}
			if !strings.Contains(ve.Message, tt.wantIn) {
				t.Errorf("message %q does not mention %q", ve.Message, tt.wantIn)
			}
			if lw := strings.ToLower(tt.pw); lw != "password" && strings.Contains(strings.ToLower(ve.Message), lw) {
				t.Errorf("message repeats the password: %q", ve.Message)
			}
		})
	}
}
