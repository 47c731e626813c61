package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"soulbridge/kv"
)

// Operator changes (`soulbridge users …`, `soulbridge avatars …`): each is
// one conditional rewrite of the account (rewrite), so a change made at
// the same time by the member or another operator is never undone, and
// each leaves a note the member sees on /account (User.OperatorNote).

// Get returns username's account as stored now, read past every cache;
// ErrNoAccount when there is none.
func (s *Service) Get(ctx context.Context, username string) (User, error) {
	name, err := NormalizeUsername(username)
	if err != nil {
		return User{}, ErrNoAccount
	}
	b, err := s.store.Get(kv.Fresh(ctx), userPrefix+name)
	if errors.Is(err, kv.ErrNotFound) && !errors.Is(err, kv.ErrUnavailable) {
		return User{}, ErrNoAccount
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: get account: %w", err)
	}
	return decodeUser(b)
}

// Accounts calls fn with every account whose name starts with prefix, in
// alphabetical order, until fn returns an error (which Accounts returns).
func (s *Service) Accounts(ctx context.Context, prefix string, fn func(User) error) error {
	err := s.store.Scan(ctx, kv.Range{Prefix: userPrefix + strings.ToLower(prefix)}, func(_ string, val []byte) error {
		u, err := decodeUser(val)
		if err != nil {
			return err
		}
		return fn(u)
	})
	if err != nil {
		return fmt.Errorf("auth: list accounts: %w", err)
	}
	return nil
}

// Lock locks username's account with the operator's reason: the account
// gets a new generation, so every session and device cookie made before
// grants nothing, a log-in that checked the password just before the lock
// included (its session carries the old generation), and from then on the
// correct password gets ErrLocked. The name stays taken. Locking a locked
// account changes its reason only. ErrNoAccount when there is none.
func (s *Service) Lock(ctx context.Context, username, reason string) (User, error) {
	name, err := NormalizeUsername(username)
	if err != nil {
		return User{}, ErrNoAccount
	}
	return s.newGeneration(ctx, name, "lock", func(u *User, _ string) error {
		now := s.cfg.Now().UTC()
		if !u.Locked() {
			u.LockedAt = now
		}
		u.LockReason = reason
		u.OperatorNote, u.OperatorAt = "An operator of this site locked your account and ended its sessions.", now
		return nil
	})
}

// Unlock lets username log in again with the password, under a new
// generation: sessions ended by the lock stay ended, and so does any a
// previous-release instance made during the lock (see User.Standing).
// ErrNoAccount when there is none.
func (s *Service) Unlock(ctx context.Context, username string) (User, error) {
	name, err := NormalizeUsername(username)
	if err != nil {
		return User{}, ErrNoAccount
	}
	return s.newGeneration(ctx, name, "unlock", func(u *User, _ string) error {
		u.LockedAt, u.LockReason = time.Time{}, ""
		u.OperatorNote, u.OperatorAt = "An operator of this site unlocked your account.", s.cfg.Now().UTC()
		return nil
	})
}

// EndSessionsByOperator ends every session of username's account, as "log
// out everywhere" would (EndSessions), and tells the member so.
func (s *Service) EndSessionsByOperator(ctx context.Context, username string) (User, error) {
	return s.operatorChange(ctx, username, "end sessions", "An operator of this site ended your sessions.", func(u *User, now time.Time) {
		u.Generation = u.generation()
		u.SessionsSince = now
	})
}

// SetUploads disables (allowed false, with the operator's reason) or
// enables again username's avatar uploads. ErrNoAccount when there is none.
func (s *Service) SetUploads(ctx context.Context, username string, allowed bool, reason string) (User, error) {
	note := "An operator of this site removed your uploaded avatar and turned off your uploads."
	if allowed {
		note = "An operator of this site allowed your avatar uploads again."
	}
	return s.operatorChange(ctx, username, "set uploads", note, func(u *User, now time.Time) {
		if allowed {
			u.UploadsOffAt, u.UploadsOffReason = time.Time{}, ""
			return
		}
		if u.UploadsAllowed() {
			u.UploadsOffAt = now
		}
		u.UploadsOffReason = reason
	})
}

// operatorChange rewrites username's account with change applied and note
// left for the member.
func (s *Service) operatorChange(ctx context.Context, username, op, note string, change func(u *User, now time.Time)) (User, error) {
	name, err := NormalizeUsername(username)
	if err != nil {
		return User{}, ErrNoAccount
	}
	return s.rewrite(ctx, name, op, func(u *User, now time.Time) error {
		change(u, now)
		u.OperatorNote, u.OperatorAt = note, now
		return nil
	})
}
