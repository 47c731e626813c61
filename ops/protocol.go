// Package ops holds the operator commands (`soulbridge users …`,
// `soulbridge avatars …`) and the admin socket they share with `backup` and
// `restore`: the one place that defines what a command may ask a running
// server (this file), the server's side (Service, Handler) and the
// command's side (Parse, Ask, Print). A command talks to the server running
// on the data dir through the socket, or, when none runs, the root package
// opens the store and runs the same Service on it.
package ops

import "time"

// SocketName is the name, in the data dir, of the Unix socket on which a
// running server answers the commands (docs/architecture.md, "Backup and
// restore", says why a socket and who can reach it).
const SocketName = "soulbridge-admin.sock"

// The admin socket's requests, by path.
const (
	// PathBackup (GET) streams a signed backup of the server's store.
	PathBackup = "/backup"
	// PathRestore (POST, the backup as body; ?unverified=1) restores into
	// an empty store.
	PathRestore = "/restore"
	// PathOp (POST, a JSON Request) runs one operator command; the answer
	// is a JSON Reply, with the status saying how it went (200; 400 a bad
	// request; 404 an unknown user; 503 the shared store is down).
	PathOp = "/op"
)

// Request is one operator command, as Parse reads it from the command line.
type Request struct {
	// Command is one of the Commands' names ("users list", "users lock", …).
	Command string `json:"command"`
	// Name is the member's username, for every command but "users list".
	Name string `json:"name,omitempty"`
	// Prefix narrows "users list" to the names that start with it.
	Prefix string `json:"prefix,omitempty"`
	// Reason is the operator's reason ("users lock", "avatars remove").
	Reason string `json:"reason,omitempty"`
	// Base is the site's public address, which "users reset-link" links
	// start with (PUBLIC_URL, or --base).
	Base string `json:"base,omitempty"`
	// JSON asks "users list" and "users show" for JSON output (the
	// command's own concern: the Reply is the same).
	JSON bool `json:"-"`
}

// Reply is a command's answer.
type Reply struct {
	// Error is the one-line reason a command failed.
	Error string `json:"error,omitempty"`
	// Message says what a change did, in one line.
	Message string `json:"message,omitempty"`
	// Users are the listed accounts ("users list", and "users show"'s one).
	Users []UserInfo `json:"users,omitempty"`
}

// UserInfo is an account as the commands show it. Sessions, LastSeen and
// Avatar are filled by "users show" only.
type UserInfo struct {
	Username       string     `json:"username"`
	CreatedAt      time.Time  `json:"created_at"`
	Locked         bool       `json:"locked"`
	LockReason     string     `json:"lock_reason,omitempty"`
	UploadsAllowed bool       `json:"uploads_allowed"`
	Sessions       *int       `json:"sessions,omitempty"`
	LastSeen       *time.Time `json:"last_seen,omitempty"`
	Avatar         string     `json:"avatar,omitempty"`
	// RecoveryCodesLeft is how many unused recovery codes the member holds.
	RecoveryCodesLeft *int `json:"recovery_codes_left,omitempty"`
	// Events are the account's recent security events, newest first.
	Events []Event `json:"events,omitempty"`
}

// Event is one of an account's security events (auth.Event).
type Event struct {
	At    time.Time `json:"at"`
	Event string    `json:"event"`
	By    string    `json:"by,omitempty"`
}
