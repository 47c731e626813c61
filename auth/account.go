package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"soulbridge/kv"
)

// ErrNoAccount is returned by ChangePassword for a user that does not exist
// (deleted meanwhile).
var ErrNoAccount = errors.New("auth: no such account")

// ChangePassword sets username's password to newPassword, which must pass
// CheckNewPassword (else a *ValidationError, and nothing changes). The
// caller has checked the current password, throttled (Authenticate).
func (s *Service) ChangePassword(ctx context.Context, username, newPassword string) error {
	name, err := NormalizeUsername(username)
	if err != nil {
		return err
	}
	if err := CheckNewPassword(name, newPassword); err != nil {
		return err
	}
	b, err := s.store.Get(ctx, userPrefix+name)
	if errors.Is(err, kv.ErrNotFound) && !errors.Is(err, kv.ErrUnavailable) {
		return ErrNoAccount
	}
	if err != nil {
		return fmt.Errorf("auth: change password: %w", err)
	}
	u, err := decodeUser(b)
	if err != nil {
		return err
	}
	hash, err := s.cfg.Hasher.Hash(ctx, newPassword)
	if err != nil {
		return err
	}
	u.PasswordHash, u.UpdatedAt = hash, s.cfg.Now().UTC()
	nb, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("auth: encode user: %w", err)
	}
	if err := s.store.Set(ctx, userPrefix+name, nb, 0); err != nil {
		return fmt.Errorf("auth: change password: %w", err)
	}
	return nil
}

// Delete removes username's account record; the name is free for sign-up
// again. Deleting a missing account is not an error. The caller has checked
// the password (Authenticate) and removes the account's sessions and avatar.
func (s *Service) Delete(ctx context.Context, username string) error {
	name, err := NormalizeUsername(username)
	if err != nil {
		return err
	}
	if err := s.store.Delete(ctx, userPrefix+name); err != nil {
		return fmt.Errorf("auth: delete account: %w", err)
	}
	return nil
}
