package auth_test

// Tests that pin exact boundaries: username characters, the limits Verify
// puts on a stored hash, the hasher's concurrency floor and the throttle's
// window edges (found alive by mutation testing).

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"soulbridge/auth"
)

func TestUsernameCharacterRangeEnds(t *testing.T) {
	// Each range's first and last character is allowed; its neighbours are not.
	for _, name := range []string{"aaa", "zzz", "AAA", "ZZZ", "000", "999", "___", "---"} {
		if _, err := auth.NormalizeUsername(name); err != nil {
			t.Errorf("NormalizeUsername(%q): %v, want it allowed", name, err)
		}
	}
	for _, c := range "`{@[/:^.+" {
		name := "ab" + string(c)
		if _, err := auth.NormalizeUsername(name); err == nil {
			t.Errorf("NormalizeUsername(%q) allowed %q", name, c)
		}
	}
}

// phc encodes an argon2id hash of password with the given parameters, salt
// and key length, the way a stored record carries it.
func phc(password string, m, tm uint32, p uint8, salt []byte, keyLen uint32) string {
	return encode(m, tm, p, salt, argon2.IDKey([]byte(password), salt, tm, m, p, keyLen))
}

// forged is a record with the given shape whose key matches no password
// (Verify must refuse it before hashing anything).
func forged(m, tm uint32, p uint8, saltLen, keyLen int) string {
	return encode(m, tm, p, make([]byte, saltLen), make([]byte, keyLen))
}

func encode(m, tm uint32, p uint8, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, m, tm, p,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

func TestVerifyLimitsAreInclusive(t *testing.T) {
	const pw = "password123"
	salt16 := bytes.Repeat([]byte{7}, 16)
	tests := []struct {
		name string
		enc  string
		ok   bool
	}{
		{"memory 64 MiB", phc(pw, 64*1024, 1, 1, salt16, 32), true},
		{"memory 64 MiB + 1 KiB", forged(64*1024+1, 1, 1, 16, 32), false},
		{"time 16", phc(pw, 64, 16, 1, salt16, 32), true},
		{"time 17", forged(64, 17, 1, 16, 32), false},
		{"threads 16", phc(pw, 128, 1, 16, salt16, 32), true},
		{"threads 17", forged(136, 1, 17, 16, 32), false},
		{"salt of 8 bytes", phc(pw, 64, 1, 1, salt16[:8], 32), true},
		{"salt of 7 bytes", forged(64, 1, 1, 7, 32), false},
		{"key of 16 bytes", phc(pw, 64, 1, 1, salt16, 16), true},
		{"key of 15 bytes", forged(64, 1, 1, 16, 15), false},
		{"key of 64 bytes", phc(pw, 64, 1, 1, salt16, 64), true},
		{"key of 65 bytes", forged(64, 1, 1, 16, 65), false},
	}
	h := newHasher(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := h.Verify(context.Background(), pw, tc.enc)
			if tc.ok && (!ok || err != nil) {
				t.Fatalf("Verify = %v, %v; want a match", ok, err)
			}
			if !tc.ok && (ok || err == nil) {
				t.Fatalf("Verify = %v, %v; want the hash refused", ok, err)
			}
		})
	}
}

func TestHasherWithoutALimitStillHashes(t *testing.T) {
	for _, limit := range []int{0, -3} {
		h, err := auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1}, limit)
		if err != nil {
			t.Fatal(err)
		}
		// A limit below 1 means one at a time, not none: the hash must
		// not wait forever for a free slot.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		enc, err := h.Hash(ctx, "password123")
		cancel()
		if err != nil {
			t.Fatalf("limit %d: Hash: %v", limit, err)
		}
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		ok, err := h.Verify(ctx, "password123", enc)
		cancel()
		if !ok || err != nil {
			t.Fatalf("limit %d: Verify = %v, %v", limit, ok, err)
		}
	}
}

func TestThrottleForgetsAKeyWhenItsWindowEnds(t *testing.T) {
	clk := newClock()
	th := auth.NewThrottle(1, time.Minute, 100, clk.Now)
	th.Fail("k")
	clk.Advance(time.Minute - time.Nanosecond)
	if d := th.Blocked("k"); d != time.Nanosecond {
		t.Fatalf("1 ns before the window ends: Blocked = %v, want 1ns", d)
	}
	clk.Advance(time.Nanosecond)
	if d := th.Blocked("k"); d != 0 {
		t.Fatalf("at the window's end: Blocked = %v, want 0", d)
	}
	if n := th.Len(); n != 0 {
		t.Fatalf("at the window's end the key is still tracked (Len = %d)", n)
	}
}

func TestThrottleFailureAtTheWindowsEndStartsANewOne(t *testing.T) {
	clk := newClock()
	th := auth.NewThrottle(2, time.Minute, 100, clk.Now)
	th.Fail("k")
	clk.Advance(time.Minute)
	th.Fail("k") // exactly one window later: the first of a new window
	clk.Advance(time.Second)
	if d := th.Blocked("k"); d != 0 {
		t.Fatalf("one failure in the new window: Blocked = %v", d)
	}
	th.Fail("k") // the second in the window that began a second ago
	if d := th.Blocked("k"); d != time.Minute-time.Second {
		t.Fatalf("two failures in the new window: Blocked = %v, want %v", d, time.Minute-time.Second)
	}
}
