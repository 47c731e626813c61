package kv

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Site keys of the kv tests: testSiteKey signs; testRead checks with it.
var (
	testSiteKey = bytes.Repeat([]byte("0123456789abcdef"), 2)
	testRead    = ReadOptions{Keys: [][]byte{testSiteKey}}
)

// signedBackup is a backup of a store holding an account and a session,
// signed under key.
func signedBackup(t *testing.T, key []byte) string {
	t.Helper()
	src, _ := openTemp(t)
	mustSetB(t, src, "user:alice", `{"username":"alice"}`, 0)
	mustSetB(t, src, "session:"+strings.Repeat("a", 64), `{"username":"alice"}`, time.Hour)
	var buf bytes.Buffer
	if _, err := src.Backup(context.Background(), &buf, key); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestBackupSignature (issue 16, row 5): a backup is signed under the site
// key; a restore checks the whole file against the current key and the
// fallbacks, and refuses an altered or foreign one; an unsigned backup of
// the previous release reads only when the caller accepts it unverified.
func TestBackupSignature(t *testing.T) {
	full := signedBackup(t, testSiteKey)
	if !strings.Contains(full, `"mac":"`) || !strings.Contains(full, `"format":2`) {
		t.Fatalf("backup carries no signature:\n%s", full)
	}
	other := bytes.Repeat([]byte("fedcba9876543210"), 2)
	lines := strings.SplitAfter(full, "\n")
	// A record added by hand: a session naming bob, under alice's key's form.
	forged := fmt.Sprintf(`{"k":"session:%s","r":%q}`+"\n", strings.Repeat("b", 64),
		base64.StdEncoding.EncodeToString(encodeRecord(strings.Repeat("9", versionLen), false, 0, []byte(`{"username":"bob"}`))))
	added := strings.Join(lines[:2], "") + forged + strings.Join(lines[2:], "")
	added = strings.Replace(added, `"records":2`, `"records":3`, 1)
	altered := strings.Replace(full, lines[1], strings.Replace(lines[1], `"r":"`, `"r":"A`, 1), 1)
	unsigned := strings.Replace(full, `"format":2`, `"format":1`, 1)

	cases := []struct {
		name  string
		in    string
		opts  ReadOptions
		err   error
		valid bool // verified
	}{
		{"current key", full, testRead, nil, true},
		{"fallback key", full, ReadOptions{Keys: [][]byte{other, testSiteKey}}, nil, true},
		{"CRLF from a terminal", strings.ReplaceAll(full, "\n", "\r\n"), testRead, nil, true},
		{"foreign key", full, ReadOptions{Keys: [][]byte{other}}, ErrUnverified, false},
		{"no key", full, ReadOptions{}, ErrUnverified, false},
		{"record added", added, testRead, ErrUnverified, false},
		{"record altered", altered, testRead, nil, false}, // fails on decode or mac
		{"signature removed", strings.Replace(full, `"mac":"`, `"cam":"`, 1), testRead, ErrUnverified, false},
		{"unsigned, previous release", unsigned, testRead, ErrUnverified, false},
		{"unsigned, accepted unverified", unsigned, ReadOptions{Keys: testRead.Keys, Unverified: true}, nil, false},
		{"foreign, accepted unverified", full, ReadOptions{Keys: [][]byte{other}, Unverified: true}, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := VerifyBackup(strings.NewReader(c.in), c.opts)
			wantErr := c.err != nil || c.name == "record altered"
			if wantErr {
				if err == nil || (c.err != nil && !errors.Is(err, c.err)) {
					t.Fatalf("VerifyBackup: %v, want %v", err, c.err)
				}
				// Restore refuses it too, and leaves nothing.
				dst, _ := openTemp(t)
				br, err := OpenBackup(strings.NewReader(c.in), c.opts)
				if err == nil {
					_, err = dst.Restore(context.Background(), br, RestoreOptions{})
				}
				if err == nil {
					t.Fatal("Restore accepted it")
				}
				if n, _ := dst.Records(context.Background()); n != 0 {
					t.Fatalf("a refused restore left %d records", n)
				}
				return
			}
			if err != nil || st.Verified != c.valid || st.Records != 2 {
				t.Fatalf("VerifyBackup = %+v, %v; want 2 records, verified %v", st, err, c.valid)
			}
		})
	}
}

// TestRestoreChecksAndSkips: ReadOptions.Check sees every key and value
// (nil for a tombstone) and refuses the backup on an error;
// RestoreOptions.Skip leaves records out and counts them.
func TestRestoreChecksAndSkips(t *testing.T) {
	ctx := context.Background()
	src, _ := openTemp(t)
	mustSetB(t, src, "user:alice", "A", 0)
	mustSetB(t, src, "session:s", "S", time.Hour)
	tomb := encodeRecord(strings.Repeat("1", versionLen), true, 0, nil) // as the mirror leaves them
	if _, err := src.apply(ctx, []localOp{{key: "user:gone", stored: tomb}}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := src.Backup(ctx, &buf, testSiteKey); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	opts := testRead
	opts.Check = func(key string, value []byte) error {
		if value == nil {
			seen[key] = "<tombstone>"
		} else {
			seen[key] = string(value)
		}
		return nil
	}
	if _, err := VerifyBackup(bytes.NewReader(buf.Bytes()), opts); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != "map[session:s:S user:alice:A user:gone:<tombstone>]" {
		t.Fatalf("Check saw %v", seen)
	}
	refuse := testRead
	refuse.Check = func(key string, _ []byte) error {
		if key == "session:s" {
			return errors.New("bad key")
		}
		return nil
	}
	if _, err := VerifyBackup(bytes.NewReader(buf.Bytes()), refuse); err == nil || !strings.Contains(err.Error(), "bad key") {
		t.Fatalf("a Check error: %v", err)
	}
	dst, _ := openTemp(t)
	br, err := OpenBackup(bytes.NewReader(buf.Bytes()), testRead)
	if err != nil {
		t.Fatal(err)
	}
	st, err := dst.Restore(ctx, br, RestoreOptions{Skip: func(key string) bool { return strings.HasPrefix(key, "session:") }})
	if err != nil || st.Skipped != 1 || st.Records != 2 || !st.Verified {
		t.Fatalf("restore with Skip: %+v, %v", st, err)
	}
	if _, err := dst.Get(ctx, "session:s"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("skipped session restored: %v", err)
	}
	if v, err := dst.Get(ctx, "user:alice"); err != nil || string(v) != "A" {
		t.Fatalf("user:alice after restore: %q %v", v, err)
	}
}
