package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// ErrWrongCurrentPassword rejects a password change whose current password is wrong.
var ErrWrongCurrentPassword = errs.ErrValidation.WithFields(errs.FieldError{Field: "currentPassword", Message: "is incorrect"})

// ChangePassword replaces the caller's password after checking the current
// one (PW-06) and ends every other session of the caller (SE-08).
func (s *Service) ChangePassword(ctx context.Context, p token.Claims, current, next string) error {
	uid := user.ID(p.Subject)
	u, err := s.stepUp(ctx, uid, p.AMR)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if err := s.provePassword(ctx, u, current, ErrWrongCurrentPassword); err != nil {
		return err
	}
	hash, err := s.newPasswordHash(ctx, u, next)
	if err != nil {
		return err
	}
	now := s.d.Clock.Now()
	var ended []session.Revocation
	err = s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		var err error
		if ended, err = s.replacePassword(ctx, uid, hash, session.ID(p.SessionID), now); err != nil {
			return err
		}
		return s.d.Credentials.SetRecovered(ctx, uid, time.Time{}) // proven at AAL2: no longer a recovered password
	})
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	s.notify(ctx, u, ports.SecurityNotice{Kind: ports.NoticePasswordChanged, At: now})
	return s.d.Revoked.Add(ctx, ended...)
}

// provePassword checks the password of a signed-in u, counting toward the
// account's lockout like a sign-in (LG-05), and answers wrong when it does
// not match.
func (s *Service) provePassword(ctx context.Context, u user.User, password string, wrong error) error {
	h, err := s.d.Credentials.PasswordHash(ctx, u.ID())
	if err != nil && !errors.Is(err, credential.ErrNoPassword) {
		return fmt.Errorf("check password: %w", err)
	}
	_, _, err = s.verifyPassword(ctx, u, "", password, h, session.Client{}, false)
	if errors.Is(err, credential.ErrInvalidCredentials) {
		return wrong
	}
	return err
}

// errUnconfirmed is a right password of an account that may not sign in
// before its address is confirmed: to the throttle it is a failure, like
// the wrong password it must look like (LG-09).
var errUnconfirmed = fmt.Errorf("%w (address not confirmed)", credential.ErrInvalidCredentials)

// verifyPassword counts an attempt at u through identifier (empty: u
// itself, signed in) before the hash (LG-02, LG-04, LG-10), then checks
// password against hash; an empty hash verifies against the dummy, so
// unknown accounts cost the same (LG-01). A mismatch reports the limit
// when it reaches it and is credential.ErrInvalidCredentials; a match
// resets the counts, unless the account must confirm its address first
// (unconfirmed): then the match counts as a failure and is errUnconfirmed,
// so neither the answer nor the throttle tells it from a wrong password.
// It returns the attempt's place in the account's run of failures and
// whether to rehash.
func (s *Service) verifyPassword(ctx context.Context, u user.User, identifier, password string, hash credential.PasswordHash, c session.Client, unconfirmed bool) (attempt int, rehash bool, err error) {
	account := "login:" + accountKey(u, identifier)
	paced := account
	if identifier != "" {
		paced = "login:" + identifierKey(identifier)
	}
	if attempt, err = s.throttle.reserveAttempt(ctx, account, paced); err != nil {
		return 0, false, err
	}
	ok := false
	if len(password) <= credential.MaxPasswordBytes {
		if ok, rehash, err = s.d.Hasher.Verify(ctx, password, hash); err != nil {
			return 0, false, fmt.Errorf("check password: %w", err)
		}
	}
	if !ok || hash == "" || unconfirmed {
		if err := s.reportLimit(ctx, u, attempt, c, "password"); err != nil {
			return 0, false, err
		}
		if ok && hash != "" {
			return attempt, false, errUnconfirmed
		}
		return attempt, false, credential.ErrInvalidCredentials
	}
	return attempt, rehash, s.passwordProven(ctx, u)
}

// newPasswordHash applies the password policy to a new password of u
// (field newPassword) and hashes it.
func (s *Service) newPasswordHash(ctx context.Context, u user.User, password string) (credential.PasswordHash, error) {
	var v errs.Validation
	if err := v.CheckInvalid("newPassword", s.checkPassword(ctx, password, u.Email(), u.Username())); err != nil {
		return "", err
	}
	if err := v.Err(); err != nil {
		return "", err
	}
	hash, err := s.d.Hasher.Hash(ctx, password)
	if err != nil {
		return "", fmt.Errorf("hash new password: %w", err)
	}
	return hash, nil
}

// replacePassword, inside the caller's transaction, stores uid's new hash,
// drops its reset tokens (LG-07), ends every session but keep (SE-08) and
// emits user.password_changed with a user.logout per ended session. It
// returns the ended sessions for the revocation lookups, to add after commit.
func (s *Service) replacePassword(ctx context.Context, uid user.ID, hash credential.PasswordHash, keep session.ID, now time.Time) ([]session.Revocation, error) {
	if err := s.d.Credentials.SetPasswordHash(ctx, uid, hash, now); err != nil {
		return nil, err
	}
	if err := s.d.Tokens.InvalidateUser(ctx, ports.PurposePasswordReset, uid); err != nil {
		return nil, err
	}
	if err := s.d.Outbox.Append(ctx, s.event(uid, now, event.UserPasswordChanged{
		UserID: string(uid), ChangedBy: string(uid), SecurityLevel: event.SecurityLevelUser,
	})); err != nil {
		return nil, err
	}
	return s.revokeUser(ctx, uid, keep, session.ReasonForced, now)
}

// passwordProven clears u's password lockout and the delays of its email
// and username, whichever was typed.
func (s *Service) passwordProven(ctx context.Context, u user.User) error {
	return s.throttle.succeeded(ctx, "login:"+accountKey(u, ""), "login:"+identifierKey(u.Email()), "login:"+identifierKey(u.Username()))
}

// checkPassword applies the password policy: shape, context words, blocklist.
func (s *Service) checkPassword(ctx context.Context, password, email, username string) error {
	if err := credential.CheckShape(password); err != nil {
		return err
	}
	if err := credential.CheckContext(password, credential.ContextWords(email, username)...); err != nil {
		return err
	}
	blocked, err := s.d.Blocklist.Blocked(ctx, password)
	if err != nil {
		return fmt.Errorf("password blocklist: %w", err)
	}
	if blocked {
		return credential.ErrCommon
	}
	return nil
}
