package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// DisableFactor removes factor m after the password and a current factor
// (MF-05). Removing the last factor turns MFA off and drops the backup
// codes. Every other session ends (SE-08); user.updated says what changed.
func (s *Service) DisableFactor(ctx context.Context, p token.Claims, m mfa.Method, in Reauth) error {
	uid := user.ID(p.Subject)
	u, err := s.stepUp(ctx, uid, p.AMR)
	if err != nil {
		return fmt.Errorf("disable factor: %w", err)
	}
	before, err := s.d.Factors.Factors(ctx, uid)
	if err != nil {
		return fmt.Errorf("disable factor: %w", err)
	}
	if !slices.Contains(methodsOf(before), m) {
		return mfa.ErrNotEnrolled
	}
	if err := s.reauthenticate(ctx, u, in); err != nil {
		return err
	}
	now := s.d.Clock.Now()
	after := slices.DeleteFunc(slices.Clone(before), func(f mfa.Factor) bool { return f.Method == m })
	var ended []session.Revocation
	err = s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		if ok, err := s.d.Factors.Delete(ctx, uid, m); err != nil || !ok {
			return errors.Join(err, mfa.ErrNotEnrolled)
		}
		ev := newUserUpdated(uid, uid)
		ev.Changes["mfaMethods"], ev.PreviousValues["mfaMethods"] = factorNames(after), factorNames(before)
		if len(after) == 0 {
			if u, err = s.turnMFAOff(ctx, uid, &ev, now); err != nil {
				return err
			}
		}
		if err := s.d.Outbox.Append(ctx, s.event(uid, now, ev)); err != nil {
			return err
		}
		ended, err = s.revokeUser(ctx, uid, session.ID(p.SessionID), session.ReasonForced, now)
		return err
	})
	if errors.Is(err, mfa.ErrNotEnrolled) {
		return mfa.ErrNotEnrolled
	}
	if err != nil {
		return fmt.Errorf("disable factor: %w", err)
	}
	if err := s.d.Revoked.Add(ctx, ended...); err != nil {
		return err
	}
	s.notify(ctx, u, ports.SecurityNotice{Kind: ports.NoticeMFADisabled, At: now, IP: in.Client.IP, UserAgent: in.Client.UserAgent, Method: m.String()})
	return nil
}

// RegenerateBackupCodes replaces the caller's backup codes with a new set
// after the password and a current factor; the old set stops working
// (MF-07).
func (s *Service) RegenerateBackupCodes(ctx context.Context, p token.Claims, in Reauth) ([]string, error) {
	u, err := s.stepUp(ctx, user.ID(p.Subject), p.AMR)
	if err != nil {
		return nil, fmt.Errorf("regenerate backup codes: %w", err)
	}
	if !u.MFAEnabled() {
		return nil, ErrNoMFA
	}
	if err := s.reauthenticate(ctx, u, in); err != nil {
		return nil, err
	}
	codes, hashes := s.newBackupCodes()
	now := s.d.Clock.Now()
	if err := s.d.BackupCodes.Replace(ctx, u.ID(), hashes, now); err != nil {
		return nil, fmt.Errorf("regenerate backup codes: %w", err)
	}
	s.notify(ctx, u, ports.SecurityNotice{Kind: ports.NoticeBackupCodesRenewed, At: now, IP: in.Client.IP, UserAgent: in.Client.UserAgent})
	return codes, nil
}
