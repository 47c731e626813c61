package auth

import (
	_ "embed"
	"strings"
	"sync"
	"unicode"
)

// Rules for a password being chosen (sign-up; later a password change), on
// top of CheckPassword: not one of the most common passwords and not built
// from the username (ASVS 5.0 V6.2). Log-in never applies them, so accounts
// created before keep working.

//go:embed common_passwords.txt
var commonPasswordsText string

// commonPasswords is the embedded list as a set, built on first use.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 4096)
	for line := range strings.Lines(commonPasswordsText) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			set[strings.ToLower(line)] = struct{}{}
		}
	}
	return set
})

// CheckNewPassword checks a password someone is choosing for username:
// CheckPassword's rules, then it must not be a common password (compared
// case-insensitively, also with trailing digits and symbols removed, so
// "Password2026!" counts as "password") and must not be built from the
// username (equal to it, containing it or its reverse, or contained in it,
// ignoring case and the separators '_' and '-'). The messages never repeat
// the password.
func CheckNewPassword(username, pw string) error {
	if err := CheckPassword(pw); err != nil {
		return err
	}
	lower := strings.ToLower(pw)
	set := commonPasswords()
	_, common := set[lower]
	if !common {
		_, common = set[strings.TrimRightFunc(lower, func(r rune) bool { return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) })]
	}
	if common {
		return &ValidationError{"password", "This password is one of the most common ones, which attackers try first. Please choose a less predictable one (a few unrelated words work well)."}
	}
	if fromUsername(strings.ToLower(username), lower) {
		return &ValidationError{"password", "Password must not be built from your username. Please choose one that has nothing to do with it."}
	}
	return nil
}

// fromUsername reports whether the lower-cased password pw is built from the
// lower-cased name: it contains the name or its reverse (with or without
// the name's '_' and '-'), or the name contains it.
func fromUsername(name, pw string) bool {
	if name == "" {
		return false
	}
	bare := strings.NewReplacer("_", "", "-", "").Replace(name)
	for _, n := range []string{name, bare, reverse(name), reverse(bare)} {
		if len(n) >= MinUsername && strings.Contains(pw, n) {
			return true
		}
	}
	return strings.Contains(name, pw) || strings.Contains(bare, pw)
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}
