package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// drop removes, inside the caller's transaction, every second
// factor of uid, its pending enrollments and backup codes, and turns MFA
// off. It records what changed in ev (a user.updated the caller appends)
// and reports whether there was anything to drop.
func (sf *SecondFactors) drop(ctx context.Context, uid user.ID, ev *event.UserUpdated, now time.Time) (bool, error) {
	fs, err := sf.d.Factors.Factors(ctx, uid)
	if err != nil {
		return false, err
	}
	u, err := sf.d.Users.ByID(ctx, uid)
	if err != nil {
		return false, err
	}
	if len(fs) == 0 && !u.MFAEnabled() {
		return false, nil
	}
	for _, f := range fs {
		if _, err := sf.d.Factors.Delete(ctx, uid, f.Method); err != nil {
			return false, err
		}
	}
	for _, m := range mfa.Factors {
		if _, err := sf.d.Factors.DeleteEnrollment(ctx, uid, m); err != nil {
			return false, err
		}
	}
	if _, err := sf.turnOff(ctx, uid, ev, now); err != nil {
		return false, err
	}
	ev.Set("mfaMethods", factorNames(fs), []string{})
	return true, nil
}

// turnOff, inside the caller's transaction, marks uid as without a
// second factor and drops its backup codes, which go with the last factor;
// it records the change in ev and returns the user as saved.
func (sf *SecondFactors) turnOff(ctx context.Context, uid user.ID, ev *event.UserUpdated, now time.Time) (user.User, error) {
	u, err := sf.d.Users.Update(ctx, uid, func(u *user.User) error { u.SetMFA(false, now); return nil })
	if err != nil {
		return user.User{}, err
	}
	if err := sf.d.BackupCodes.Replace(ctx, uid, nil, now); err != nil {
		return user.User{}, err
	}
	ev.Set("mfaEnabled", true, false)
	return u, nil
}

// proveMailbox runs, inside the caller's transaction, when someone has
// just shown control of uid's mailbox (a verification or reset link). An
// unverified address becomes verified, and the factors enrolled while it
// was unverified are dropped (MF-09): they may belong to whoever
// registered the address, not to its owner. It records what changed in ev.
func (sf *SecondFactors) proveMailbox(ctx context.Context, uid user.ID, ev *event.UserUpdated, now time.Time) error {
	var wasUnverified bool
	if _, err := sf.d.Users.Update(ctx, uid, func(u *user.User) error {
		wasUnverified = !u.EmailVerified()
		u.MarkEmailVerified(now)
		return nil
	}); err != nil {
		return err
	}
	if !wasUnverified {
		return nil
	}
	ev.Set("emailVerified", false, true)
	dropped, err := sf.drop(ctx, uid, ev, now)
	if dropped {
		sf.log.WarnContext(ctx, "second factors enrolled before the address was verified were dropped", "user", uid)
	}
	return err
}

// ResetUserMFA is an administrator removing every second factor of a user
// who lost them (MF-09): factors, backup codes and pending enrollments go,
// every session of the user ends, the user is told by mail, and the act is
// recorded in user.updated (updatedBy the administrator) and in the log.
// A user without factors is a precondition failure; an unknown user is
// not found.
func (s *MFA) ResetUserMFA(ctx context.Context, p token.Claims, uid user.ID) error {
	if err := s.d.Gate.Permit(ctx, p, uid, role.UsersWrite); err != nil {
		return err
	}
	u, err := s.d.Users.ByID(ctx, uid)
	if err != nil {
		return fmt.Errorf("reset user mfa: %w", err)
	}
	now := s.d.Clock.Now()
	var ended []session.Revocation
	err = s.d.Ledger.commit(ctx, func(ctx context.Context) error {
		ev := event.NewUserUpdated(string(uid), p.Subject)
		dropped, err := s.d.Factors.drop(ctx, uid, &ev, now)
		if err != nil {
			return err
		}
		if !dropped {
			return ErrNoMFA
		}
		if err := s.d.Ledger.record(ctx, uid, now, ev); err != nil {
			return err
		}
		ended, err = s.d.Revoker.revokeUser(ctx, uid, "", session.ReasonForced, now)
		return err
	})
	if errors.Is(err, ErrNoMFA) {
		return ErrNoMFA
	}
	if err != nil {
		return fmt.Errorf("reset user mfa: %w", err)
	}
	s.log.WarnContext(ctx, "administrator reset a user's second factors", "admin", p.Subject, "user", uid, "sessions", len(ended))
	s.d.Mail.notify(ctx, u, ports.SecurityNotice{Kind: ports.NoticeMFAReset, At: now})
	return s.d.Revoker.publish(ctx, ended...)
}
