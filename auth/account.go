package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"soulbridge/kv"
)

// ErrNoAccount is returned by ChangePassword for a user that does not exist
// (deleted meanwhile).
var ErrNoAccount = errors.New("auth: no such account")

// ChangePassword sets username's password to newPassword, which must pass
// CheckNewPassword (else a *ValidationError, and nothing changes), and gives
// the account a new generation: from then on every session and device
// cookie made before grants nothing. It returns the account as stored (its
// Standing is what the caller's own new session must carry). The caller
// has checked the current password, throttled (Authenticate).
func (s *Service) ChangePassword(ctx context.Context, username, newPassword string) (User, error) {
	name, err := NormalizeUsername(username)
	if err != nil {
		return User{}, err
	}
	if err := CheckNewPassword(name, newPassword); err != nil {
		return User{}, err
	}
	return s.setPassword(ctx, name, newPassword, "change password", nil)
}

// setPassword stores newPassword's hash in name's account under a new
// generation (ChangePassword, Recover), after check, if not nil, accepts
// the account as read for the write (it may change it too).
func (s *Service) setPassword(ctx context.Context, name, newPassword, op string, check func(u *User) error) (User, error) {
	// Hashed once, before the account is read: a rewrite that must start
	// again (another change landed in between) does not pay for it twice.
	hash, err := s.cfg.Hasher.Hash(ctx, newPassword)
	if err != nil {
		return User{}, err
	}
	return s.newGeneration(ctx, name, op, func(u *User, _ string) error {
		if check != nil {
			if err := check(u); err != nil {
				return err
			}
		}
		u.PasswordHash, u.LockedHash = hash, ""
		return nil
	})
}

// EndSessions ends, as of now, every session of username's account made
// before, as "log out everywhere else" asks: the account's SessionsSince
// moves to now, and from then on a session made earlier grants nothing, on
// every instance, including one made on an instance cut off from the shared
// tier that only reaches it later. The generation, and so the password's
// device cookies, stay. keep, if not nil, is called with that time before
// the account is written: the caller's own session is marked as kept from
// it (session.Manager.Keep), so it is never refused in between.
// ErrNoAccount when the account is gone.
func (s *Service) EndSessions(ctx context.Context, username string, keep func(at time.Time) error) (User, error) {
	return s.rewrite(ctx, username, "end sessions", func(u *User, now time.Time) error {
		// An account from before generations keeps the one it stands by.
		u.Generation = u.generation()
		if keep != nil {
			if err := keep(now); err != nil {
				return err
			}
		}
		u.SessionsSince = now
		return nil
	})
}

// newGeneration rewrites username's account with change applied under a
// new generation, every session made before ended as of now.
func (s *Service) newGeneration(ctx context.Context, name, op string, change func(u *User, gen string) error) (User, error) {
	return s.rewrite(ctx, name, op, func(u *User, now time.Time) error {
		gen, err := newGeneration()
		if err != nil {
			return err
		}
		if err := change(u, gen); err != nil {
			return err
		}
		u.Generation, u.SessionsSince = gen, now
		return nil
	})
}

// rewriteAttempts bounds how often rewrite starts again when another
// change of the account lands between its read and its write: each
// attempt is one fresh read and one conditional write, and a person does
// not change one account from many places in the same millisecond.
const rewriteAttempts = 8

// rewrite reads username's account past every cache, applies change (with
// the time of the change) and stores it only over the copy it read
// (kv.Store.Replace), starting again when another change landed in
// between: a password change and a "log out everywhere else" made at once,
// on one instance or two, both land, and neither puts back what the other
// replaced (the old password, the old generation). change must be safe to
// call again.
func (s *Service) rewrite(ctx context.Context, name, op string, change func(u *User, now time.Time) error) (User, error) {
	key := userPrefix + name
	var err error
	for range rewriteAttempts {
		var u User
		u, err = s.rewriteOnce(ctx, key, change)
		if err == nil {
			return u, nil
		}
		if !errors.Is(err, kv.ErrChanged) {
			break
		}
	}
	if errors.Is(err, kv.ErrNotFound) && !errors.Is(err, kv.ErrUnavailable) {
		return User{}, ErrNoAccount
	}
	return User{}, fmt.Errorf("auth: %s: %w", op, err)
}

// rewriteOnce is one read, change and conditional write of rewrite.
func (s *Service) rewriteOnce(ctx context.Context, key string, change func(u *User, now time.Time) error) (User, error) {
	b, err := s.store.Get(kv.Fresh(ctx), key)
	if err != nil {
		return User{}, err
	}
	u, err := decodeUser(b)
	if err != nil {
		return User{}, err
	}
	now := s.cfg.Now().UTC()
	if err := change(&u, now); err != nil {
		return User{}, err
	}
	u.UpdatedAt = now
	nb, err := encodeUser(u)
	if err != nil {
		return User{}, err
	}
	if err := s.store.Replace(ctx, key, b, nb, 0); err != nil {
		return User{}, err
	}
	return u, nil
}

// Standing returns username's generation and since when its sessions count
// (User.Standing), read from the store on every call (only the JSON
// decode is remembered, for bytes read before). An account that does not
// exist returns an error matching kv.ErrNotFound; while the shared tier is
// down, a name this instance has no copy of matches kv.ErrUnavailable too,
// and must then not be taken for a deleted account.
func (s *Service) Standing(ctx context.Context, username string) (generation string, since time.Time, err error) {
	e, ok := s.standings.lookup(username)
	key := e.key
	if !ok {
		key = userPrefix + username
	}
	b, err := s.store.Get(ctx, key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: account standing: %w", err)
	}
	st, err := s.standings.of(username, key, b, e, ok)
	if err != nil {
		return "", time.Time{}, err
	}
	return st.generation, st.since, nil
}

// Delete removes username's account record (its passkeys with it, and
// their user-handle index entry), its events (RecordEvent) and
// its reset links; the name is free for sign-up again. Deleting a missing
// account is not an error. The caller has checked the password (Authenticate) and removes the
// account's sessions and avatar.
func (s *Service) Delete(ctx context.Context, username string) error {
	name, err := NormalizeUsername(username)
	if err != nil {
		return err
	}
	var handle []byte
	if u, err := s.Get(ctx, name); err == nil {
		handle = u.PasskeyHandle
	}
	if err := s.store.Delete(ctx, userPrefix+name); err != nil {
		return fmt.Errorf("auth: delete account: %w", err)
	}
	if err := s.deletePasskeyIndex(ctx, handle); err != nil {
		return err
	}
	if err := s.deleteEvents(ctx, name); err != nil {
		return err
	}
	return s.deleteResets(ctx, name)
}
