package ops

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Usage is the commands' part of `soulbridge help`.
const Usage = `  users list [--prefix P] [--json]
               list the accounts (name, created, locked)
  users show NAME [--json]
               an account: created, last seen, sessions, avatar, locked
  users end-sessions NAME
               log NAME out everywhere
  users lock NAME --reason TEXT
               end NAME's sessions and refuse their log-ins (403) until
               users unlock NAME; the name stays taken
  users unlock NAME
  users reset-link NAME [--base URL]
               print a single-use link (30 minutes) with which NAME sets a
               new password; it starts with PUBLIC_URL unless --base
  users delete NAME
               delete the account as its member would: sessions, avatar,
               account; the name is free again
  avatars remove NAME [--reason TEXT]
               put NAME's avatar back to the default and turn off their
               uploads until avatars allow NAME
  avatars allow NAME
               the operator commands ask the server running on $DATA_DIR,
               or open the store when none runs (not with REDIS_URL: a
               change must reach Redis); exit 0, or 1 with the reason
`

// Parse reads an operator command line (args after "soulbridge": "users
// lock alice --reason spam"). Flags may come before or after NAME;
// --flag=value works too.
func Parse(args []string) (Request, error) {
	if len(args) < 2 {
		return Request{}, errors.New("which one? " + strings.TrimSpace(firstWords()))
	}
	req := Request{Command: args[0] + " " + args[1]}
	if _, ok := commandNamed(req.Command); !ok {
		return Request{}, fmt.Errorf("unknown command %q: %s", req.Command, firstWords())
	}
	var names []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		flag, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			names = append(names, a)
			continue
		}
		switch flag {
		case "json":
			req.JSON = true
			continue
		case "prefix", "reason", "base":
		default:
			return Request{}, fmt.Errorf("%s: unknown flag %s", req.Command, a)
		}
		if !hasValue {
			if i+1 == len(rest) {
				return Request{}, fmt.Errorf("%s: %s needs a value", req.Command, a)
			}
			i++
			value = rest[i]
		}
		switch flag {
		case "prefix":
			req.Prefix = value
		case "reason":
			req.Reason = value
		default:
			req.Base = value
		}
	}
	c, _ := commandNamed(req.Command)
	switch {
	case c.needsName && len(names) != 1:
		return Request{}, fmt.Errorf("%s takes one username", req.Command)
	case !c.needsName && len(names) > 0:
		return Request{}, fmt.Errorf("%s takes no username", req.Command)
	case c.needsName:
		req.Name = names[0]
	}
	return req, nil
}

// firstWords lists the commands' names.
func firstWords() string {
	cs := commands()
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

// Print writes rep for req: JSON when asked, else a table (list), a
// description (show) or the change's one line.
func Print(w io.Writer, req Request, rep Reply) error {
	switch {
	case req.Command == "users show" && req.JSON && len(rep.Users) == 1:
		return json.NewEncoder(w).Encode(rep.Users[0])
	case req.Command == "users list" && req.JSON:
		if rep.Users == nil {
			rep.Users = []UserInfo{} // none: an empty array, not null
		}
		return json.NewEncoder(w).Encode(rep.Users)
	case req.Command == "users list":
		return printList(w, rep.Users)
	case req.Command == "users show" && len(rep.Users) == 1:
		return printUser(w, rep.Users[0])
	}
	_, err := fmt.Fprintln(w, rep.Message)
	return err
}

func printList(w io.Writer, users []UserInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tCREATED\tLOCKED")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Username, u.CreatedAt.UTC().Format(time.RFC3339), yesNo(u.Locked))
	}
	return tw.Flush()
}

func printUser(w io.Writer, u UserInfo) error {
	last := "no live session"
	if u.LastSeen != nil {
		last = u.LastSeen.UTC().Format(time.RFC3339)
	}
	locked := "no"
	if u.Locked {
		locked = "yes: " + u.LockReason
	}
	sessions := 0
	if u.Sessions != nil {
		sessions = *u.Sessions
	}
	codes := 0
	if u.RecoveryCodesLeft != nil {
		codes = *u.RecoveryCodesLeft
	}
	_, err := fmt.Fprintf(w, "username:  %s\ncreated:   %s\nlast seen: %s\nsessions:  %d\navatar:    %s\nuploads:   %s\nlocked:    %s\nrecovery codes left: %d\n",
		u.Username, u.CreatedAt.UTC().Format(time.RFC3339), last, sessions, u.Avatar, allowed(u.UploadsAllowed), locked, codes)
	if err != nil || len(u.Events) == 0 {
		return err
	}
	fmt.Fprintln(w, "events:")
	for _, e := range u.Events {
		by := ""
		if e.By != "" {
			by = " by " + e.By
		}
		if _, err := fmt.Fprintf(w, "  %s  %s%s\n", e.At.UTC().Format(time.RFC3339), e.Event, by); err != nil {
			return err
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func allowed(b bool) string {
	if b {
		return "allowed"
	}
	return "turned off by an operator"
}
