package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// ResetTTL is how long a password-reset link works (LG-07: at most 1h).
const ResetTTL = time.Hour

// ErrInvalidResetToken answers a reset with a token that is unknown, used,
// expired or replaced; one answer for all, so none can be told apart.
var ErrInvalidResetToken = errs.New(errs.Invalid, "auth.invalid_reset_token", "reset link is invalid or expired").
	WithFields(errs.FieldError{Field: "token", Message: "is invalid or expired"})

// RequestPasswordReset asks for a reset link for the account with email.
// It answers the same, at once, for every address (LG-01): it spends the
// client's budget of mailed-link requests (LG-03) and leaves the look-up,
// the address's own budget and the mail to background work, so neither
// the answer nor its timing says whether an account exists.
func (s *Passwords) RequestPasswordReset(ctx context.Context, email string, c session.Client) error {
	return s.d.Mail.request(ctx, c, "password reset mail", func(ctx context.Context) error { return s.d.Mail.resetLink(ctx, email) })
}

// ResetPassword sets a new password with a reset token: single-use,
// applies the password policy, ends every session and every other reset
// token, and emits user.password_changed (LG-07, SE-08). A password that
// fails the policy leaves the token usable.
func (s *Passwords) ResetPassword(ctx context.Context, token, newPassword string) error {
	if len(token) != 43 {
		return ErrInvalidResetToken
	}
	now := s.d.Clock.Now()
	purpose, level := ports.PurposePasswordReset, event.SecurityLevelUser
	uid, err := s.d.Mail.lookup(ctx, purpose, token, now)
	if errors.Is(err, user.ErrNotFound) {
		purpose, level = ports.PurposeAdminPasswordReset, event.SecurityLevelAdmin
		uid, err = s.d.Mail.lookup(ctx, purpose, token, now)
	}
	if errors.Is(err, user.ErrNotFound) {
		return ErrInvalidResetToken
	}
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	u, err := s.d.Users.ByID(ctx, uid)
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	hash, err := s.d.Credentials.newHash(ctx, u, newPassword)
	if err != nil {
		return err
	}
	var ended []session.Revocation
	err = s.d.Ledger.commit(ctx, func(ctx context.Context) error {
		used, err := s.d.Mail.consume(ctx, purpose, token, now)
		if errors.Is(err, user.ErrNotFound) || (err == nil && used != uid) {
			return ErrInvalidResetToken // used by a concurrent reset meanwhile
		}
		if err != nil {
			return err
		}
		if ended, err = s.replace(ctx, uid, hash, "", level, now); err != nil {
			return err
		}
		// The link proved the mailbox: an unverified address is verified
		// now, and factors enrolled before that are dropped (MF-09).
		ev := event.NewUserUpdated(string(uid), string(uid))
		if err := s.d.Factors.proveMailbox(ctx, uid, &ev, now); err != nil {
			return err
		}
		if len(ev.Changes) > 0 {
			if err := s.d.Ledger.record(ctx, uid, now, ev); err != nil {
				return err
			}
		}
		// Until a sign-in completes, the mailbox that reset the password
		// does not also pass as the second factor (MF-08).
		return s.d.Credentials.setRecovered(ctx, uid, now)
	})
	if err != nil {
		if errors.Is(err, ErrInvalidResetToken) {
			return ErrInvalidResetToken
		}
		return fmt.Errorf("reset password: %w", err)
	}
	// Proving control of the mailbox clears the password lockout, as a
	// login would; a second factor's lockout stays (LG-08).
	if err := s.d.Credentials.proven(ctx, u); err != nil {
		return err
	}
	s.d.Mail.notify(ctx, u, ports.SecurityNotice{Kind: ports.NoticePasswordReset, At: now})
	return s.d.Revoker.publish(ctx, ended...)
}

// SendAdminReset mails the account uid a password-reset link on an
// administrator's behalf; the caller (core/admin) has authorized by. The
// password the link sets is reported with securityLevel admin.
func (s *Passwords) SendAdminReset(ctx context.Context, uid, by user.ID) error {
	u, err := s.d.Users.ByID(ctx, uid)
	if err != nil {
		return fmt.Errorf("admin password reset: %w", err)
	}
	if err := s.d.Mail.sendReset(ctx, ports.PurposeAdminPasswordReset, u); err != nil {
		return fmt.Errorf("admin password reset by %s: %w", by, err)
	}
	return nil
}
