package auth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"soulbridge/auth"
)

func TestNormalizeUsername(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"abc", "abc", false},
		{"Alice", "alice", false},
		{"a_b-c", "a_b-c", false},
		{"ALICE_99", "alice_99", false},
		{"  bob  ", "bob", false},
		{strings.Repeat("x", 32), strings.Repeat("x", 32), false},
		{"0-_", "0-_", false},
		{"ab", "", true},
		{strings.Repeat("x", 33), "", true},
		{"al ice", "", true},
		{"é", "", true},
		{"éèà", "", true},
		{"josé", "", true},
		{"a.b", "", true},
		{"<script>", "", true},
		{"", "", true},
		{"   ", "", true},
		{"../x", "", true},
		{"a/b/c", "", true},
		{"alice\x00", "", true},
		{"tab\tname", "", true},
		{"İstanbul", "", true},    // lower-cases to ASCII "istanbul"
		{"\u212Aelvin", "", true}, // Kelvin sign lower-cases to ASCII "k"
		{"ｆｕｌｌ", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := auth.NormalizeUsername(tt.in)
			if tt.wantErr {
				var ve *auth.ValidationError
				if !errors.As(err, &ve) || ve.Field != "username" || ve.Message == "" || !errors.Is(err, auth.ErrInvalid) {
					t.Fatalf("NormalizeUsername(%q) = %q, %v; want a username ValidationError", tt.in, got, err)
				}
				if got != "" {
					t.Fatalf("NormalizeUsername(%q) returned %q with its error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeUsername(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		ok   bool
	}{
		{"7 chars", strings.Repeat("p", 7), false},
		{"8 chars", strings.Repeat("p", 8), true},
		{"128 chars", strings.Repeat("p", 128), true},
		{"129 chars", strings.Repeat("p", 129), false},
		{"empty", "", false},
		{"8 multibyte runes", "éééééééé", true},
		{"7 multibyte runes (14 bytes)", "ééééééé", false},
		{"128 emoji", strings.Repeat("🔑", 128), true},
		{"129 emoji", strings.Repeat("🔑", 129), false},
		{"invalid UTF-8", "password\xff\xfe", false},
		{"spaces count", "        ", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := auth.CheckPassword(tt.pw)
			if tt.ok {
				if err != nil {
					t.Fatalf("CheckPassword = %v, want ok", err)
				}
				return
			}
			var ve *auth.ValidationError
			if !errors.As(err, &ve) || ve.Field != "password" || !errors.Is(err, auth.ErrInvalid) {
				t.Fatalf("CheckPassword = %v, want a password ValidationError", err)
			}
			if tt.pw != "" && strings.Contains(err.Error(), tt.pw) {
				t.Fatal("error message repeats the password")
			}
		})
	}
}

func TestErrorKinds(t *testing.T) {
	te := &auth.ThrottledError{RetryAfter: 90 * time.Second}
	if !strings.Contains(te.Error(), "1m30s") {
		t.Errorf("ThrottledError.Error() = %q, want the wait", te.Error())
	}
	ve := &auth.ValidationError{Field: "username", Message: "Too short."}
	if ve.Error() != "username: Too short." || !errors.Is(ve, auth.ErrInvalid) || errors.Is(ve, auth.ErrBadCredentials) {
		t.Errorf("ValidationError = %q", ve.Error())
	}
}
