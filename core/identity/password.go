package identity

import (
	"context"
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

// PasswordsDeps are what the password use cases drive.
type PasswordsDeps struct {
	Ledger      *Ledger
	Users       ports.Users
	Clock       ports.Clock
	Credentials *Credentials
	Mail        *Mail
	Revoker     *Revoker
	Factors     *SecondFactors
}

// Passwords runs the replacement of a password: by its owner, who knows
// it, or through a link mailed to the account's address. Both end the
// other sessions and void outstanding reset links alike (SE-08, LG-07).
type Passwords struct {
	d PasswordsDeps
}

// NewPasswords returns the password use cases over d.
func NewPasswords(d PasswordsDeps) (*Passwords, error) {
	if d.Ledger == nil || d.Users == nil || d.Clock == nil || d.Credentials == nil || d.Mail == nil || d.Revoker == nil || d.Factors == nil {
		return nil, missing("NewPasswords")
	}
	return &Passwords{d: d}, nil
}

// ErrWrongCurrentPassword rejects a password change whose current password is wrong.
var ErrWrongCurrentPassword = errs.ErrValidation.WithFields(errs.FieldError{Field: "currentPassword", Message: "is incorrect"})

// ChangePassword replaces the caller's password after checking the current
// one (PW-06) and ends every other session of the caller (SE-08).
func (s *Passwords) ChangePassword(ctx context.Context, p token.Claims, current, next string) error {
	uid := user.ID(p.Subject)
	u, err := stepUp(ctx, s.d.Users, uid, p.AMR)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if err := s.d.Credentials.prove(ctx, u, current, ErrWrongCurrentPassword); err != nil {
		return err
	}
	hash, err := s.d.Credentials.newHash(ctx, u, next)
	if err != nil {
		return err
	}
	now := s.d.Clock.Now()
	var ended []session.Revocation
	err = s.d.Ledger.commit(ctx, func(ctx context.Context) error {
		var err error
		if ended, err = s.replace(ctx, uid, hash, session.ID(p.SessionID), event.SecurityLevelUser, now); err != nil {
			return err
		}
		return s.d.Credentials.setRecovered(ctx, uid, time.Time{}) // proven at AAL2: no longer a recovered password
	})
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	s.d.Mail.notify(ctx, u, ports.SecurityNotice{Kind: ports.NoticePasswordChanged, At: now})
	return s.d.Revoker.publish(ctx, ended...)
}

// replace, inside the caller's transaction, stores uid's new hash, drops
// its reset links (LG-07), ends every session but keep (SE-08) and emits
// user.password_changed with a user.logout per ended session. It returns
// the ended sessions for the revocation lookups, to publish after commit.
func (s *Passwords) replace(ctx context.Context, uid user.ID, hash credential.PasswordHash, keep session.ID, level string, now time.Time) ([]session.Revocation, error) {
	if err := s.d.Credentials.store(ctx, uid, hash, now); err != nil {
		return nil, err
	}
	for _, p := range []ports.TokenPurpose{ports.PurposePasswordReset, ports.PurposeAdminPasswordReset} {
		if err := s.d.Mail.dropLinks(ctx, p, uid); err != nil {
			return nil, err
		}
	}
	if err := s.d.Ledger.record(ctx, uid, now, event.UserPasswordChanged{
		UserID: string(uid), ChangedBy: string(uid), SecurityLevel: level,
	}); err != nil {
		return nil, err
	}
	return s.d.Revoker.revokeUser(ctx, uid, keep, session.ReasonForced, now)
}
