package auth

import (
	"errors"

	"soulbridge/metrics"
)

// errUnknownUser is a failed credential check for a name no account has.
// It matches ErrBadCredentials, and counted turns it into that very error:
// callers never see the difference (it is the same answer at the same
// cost), only the metrics do.
var errUnknownUser error = unknownUser{}

type unknownUser struct{}

func (unknownUser) Error() string        { return ErrBadCredentials.Error() }
func (unknownUser) Is(target error) bool { return target == ErrBadCredentials }

// counted counts a credential attempt of method by its outcome err, and
// returns err with errUnknownUser made ErrBadCredentials.
func (s *Service) counted(method string, err error) error {
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.LoginAttempt(method, attemptResult(err))
	}
	if errors.Is(err, errUnknownUser) {
		return ErrBadCredentials
	}
	return err
}

// attemptResult is the result label of a credential attempt's outcome.
func attemptResult(err error) string {
	var throttled *ThrottledError
	switch {
	case err == nil:
		return metrics.LoginSuccess
	case errors.As(err, &throttled):
		return metrics.LoginThrottled
	case errors.Is(err, errUnknownUser):
		return metrics.LoginUnknownUser
	case errors.Is(err, ErrBadCredentials):
		return metrics.LoginWrongPassword
	case errors.Is(err, ErrLocked):
		return metrics.LoginLocked
	}
	return metrics.LoginUnavailable // the store could not answer
}

// signupResult is the result label of a sign-up's outcome.
func signupResult(err error) string {
	var throttled *ThrottledError
	switch {
	case err == nil:
		return metrics.SignupSuccess
	case errors.As(err, &throttled):
		return metrics.SignupThrottled
	case errors.Is(err, ErrInvalid):
		return metrics.SignupInvalid
	case errors.Is(err, ErrUsernameTaken):
		return metrics.SignupTaken
	}
	return metrics.SignupUnavailable // the store could not answer
}
