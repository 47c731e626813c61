package ops_test

import (
	"testing"

	"soulbridge/ops"
)

func TestParse(t *testing.T) {
	ok := []struct {
		args []string
		want ops.Request
	}{
		{[]string{"users", "list"}, ops.Request{Command: "users list"}},
		{[]string{"users", "list", "--prefix", "al", "--json"}, ops.Request{Command: "users list", Prefix: "al", JSON: true}},
		{[]string{"users", "lock", "alice", "--reason", "spam"}, ops.Request{Command: "users lock", Name: "alice", Reason: "spam"}},
		{[]string{"users", "lock", "--reason=spam here", "alice"}, ops.Request{Command: "users lock", Name: "alice", Reason: "spam here"}},
		{[]string{"avatars", "remove", "bob"}, ops.Request{Command: "avatars remove", Name: "bob"}},
	}
	for _, tc := range ok {
		got, err := ops.Parse(tc.args)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
	}
	for _, args := range [][]string{
		{"users"},
		{"users", "frob"},
		{"users", "show"},
		{"users", "show", "a", "b"},
		{"users", "list", "alice"},
		{"users", "lock", "alice", "--reason"},
		{"users", "lock", "alice", "--force"},
	} {
		if _, err := ops.Parse(args); err == nil {
			t.Errorf("Parse(%q) accepted", args)
		}
	}
}
