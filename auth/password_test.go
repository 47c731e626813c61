package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"soulbridge/auth"
)

func TestHashVerify(t *testing.T) {
	h := newHasher(t)
	ctx := context.Background()
	for _, p := range []string{"correct horse battery", "éééééééé", strings.Repeat("🔑", 128)} {
		enc, err := h.Hash(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
			t.Fatalf("hash %q: wrong format or params", enc)
		}
		if strings.Contains(enc, p) {
			t.Fatal("hash contains the password")
		}
		again, err := h.Hash(ctx, p)
		if err != nil || again == enc {
			t.Fatalf("two hashes of one password are equal (no salt?): %v", err)
		}
		for _, e := range []string{enc, again} {
			if ok, err := h.Verify(ctx, p, e); !ok || err != nil {
				t.Fatalf("Verify(right password) = %v, %v", ok, err)
			}
		}
		for _, wrong := range []string{p + "x", p[:len(p)-1], strings.ToUpper(p), ""} {
			if wrong == p {
				continue
			}
			if ok, err := h.Verify(ctx, wrong, enc); ok || err != nil {
				t.Fatalf("Verify(wrong password %q) = %v, %v; want false, nil", wrong, ok, err)
			}
		}
	}
}

func TestVerifyUsesParamsFromHash(t *testing.T) {
	ctx := context.Background()
	other, err := auth.NewHasher(auth.Params{Memory: 128, Time: 2, Threads: 2}, 1)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := other.Hash(ctx, "password123")
	if err != nil {
		t.Fatal(err)
	}
	// A hasher with other parameters still verifies it (old hashes keep working).
	if ok, err := newHasher(t).Verify(ctx, "password123", enc); !ok || err != nil {
		t.Fatalf("Verify with other params = %v, %v", ok, err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	h := newHasher(t)
	ctx := context.Background()
	good, err := h.Hash(ctx, "password123")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	with := func(params string) string {
		return "$argon2id$v=19$" + params + "$" + salt + "$" + key
	}
	tests := []struct{ name, enc string }{
		{"empty", ""},
		{"plain text", "password123"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"too few parts", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"too many parts", good + "$extra"},
		{"old version", strings.Replace(good, "v=19", "v=16", 1)},
		{"version garbage", strings.Replace(good, "v=19", "v=x", 1)},
		{"params garbage", with("m=a,t=b,p=c")},
		{"params missing", with("")},
		{"zero memory", with("m=0,t=1,p=1")},
		{"zero time", with("m=64,t=0,p=1")},
		{"zero threads", with("m=64,t=1,p=0")},
		{"negative memory", with("m=-1,t=1,p=1")},
		{"huge memory", with("m=4194304,t=1,p=1")},
		{"memory over uint32", with("m=99999999999,t=1,p=1")},
		{"huge time", with("m=64,t=100000,p=1")},
		{"threads over uint8", with("m=64,t=1,p=300")},
		{"bad salt base64", "$argon2id$v=19$m=64,t=1,p=1$!!!$" + key},
		{"bad key base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$!!!"},
		{"empty key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			ok, err := h.Verify(ctx, "password123", tt.enc)
			if err == nil || ok {
				t.Fatalf("Verify(%q) = %v, %v; want false and an error", tt.enc, ok, err)
			}
			if strings.Contains(err.Error(), "password123") {
				t.Fatal("error holds the password")
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("refusing a malformed hash took %v", d)
			}
		})
	}
}

func TestVerifyCancelled(t *testing.T) {
	h := newHasher(t)
	enc, err := h.Hash(context.Background(), "password123")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// With the semaphore free, a cancelled context may still win the
	// select; it must never report a match for a wrong password.
	if ok, _ := h.Verify(ctx, "wrong-password", enc); ok {
		t.Fatal("wrong password verified")
	}
}

func TestDefaultParams(t *testing.T) {
	if auth.DefaultParams.Memory < 19*1024 || auth.DefaultParams.Time < 2 || auth.DefaultParams.Threads < 1 {
		t.Fatalf("DefaultParams %+v below OWASP's minimum (19 MiB, t=2, p=1)", auth.DefaultParams)
	}
	h, err := auth.NewHasher(auth.DefaultParams, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	enc, err := h.Hash(ctx, "default-params-pw")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not carry DefaultParams", enc)
	}
	if ok, err := h.Verify(ctx, "default-params-pw", enc); !ok || err != nil {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
}
