package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// DisableFactor removes factor m after the password and a current factor
// (MF-05). Removing the last factor turns MFA off and drops the backup
// codes. Every other session ends (SE-08); user.updated says what changed.
func (s *MFA) DisableFactor(ctx context.Context, p token.Claims, m mfa.Method, in Reauth) error {
	uid := user.ID(p.Subject)
	u, err := stepUp(ctx, s.d.Users, uid, p.AMR)
	if err != nil {
		return fmt.Errorf("disable factor: %w", err)
	}
	before, err := s.d.Factors.list(ctx, uid)
	if err != nil {
		return fmt.Errorf("disable factor: %w", err)
	}
	if !slices.Contains(methodsOf(before), m) {
		return mfa.ErrNotEnrolled
	}
	if err := s.d.Reauth.check(ctx, u, in); err != nil {
		return err
	}
	now := s.d.Clock.Now()
	after := slices.DeleteFunc(slices.Clone(before), func(f mfa.Factor) bool { return f.Method == m })
	var ended []session.Revocation
	err = s.d.Ledger.commit(ctx, func(ctx context.Context) error {
		if err := s.d.Factors.remove(ctx, uid, m); err != nil {
			return err
		}
		ev := event.NewUserUpdated(string(uid), string(uid))
		ev.Set("mfaMethods", factorNames(before), factorNames(after))
		if len(after) == 0 {
			if u, err = s.d.Factors.turnOff(ctx, uid, &ev, now); err != nil {
				return err
			}
		}
		if err := s.d.Ledger.record(ctx, uid, now, ev); err != nil {
			return err
		}
		ended, err = s.d.Revoker.revokeUser(ctx, uid, session.ID(p.SessionID), session.ReasonForced, now)
		return err
	})
	if errors.Is(err, mfa.ErrNotEnrolled) {
		return mfa.ErrNotEnrolled
	}
	if err != nil {
		return fmt.Errorf("disable factor: %w", err)
	}
	if err := s.d.Revoker.publish(ctx, ended...); err != nil {
		return err
	}
	s.d.Mail.notify(ctx, u, ports.SecurityNotice{Kind: ports.NoticeMFADisabled, At: now, IP: in.Client.IP, UserAgent: in.Client.UserAgent, Method: m.String()})
	return nil
}

// RegenerateBackupCodes replaces the caller's backup codes with a new set
// after the password and a current factor; the old set stops working
// (MF-07).
func (s *MFA) RegenerateBackupCodes(ctx context.Context, p token.Claims, in Reauth) ([]string, error) {
	u, err := stepUp(ctx, s.d.Users, user.ID(p.Subject), p.AMR)
	if err != nil {
		return nil, fmt.Errorf("regenerate backup codes: %w", err)
	}
	if !u.MFAEnabled() {
		return nil, ErrNoMFA
	}
	if err := s.d.Reauth.check(ctx, u, in); err != nil {
		return nil, err
	}
	codes, hashes := s.d.Factors.newBackupCodes()
	now := s.d.Clock.Now()
	if err := s.d.Factors.replaceBackupCodes(ctx, u.ID(), hashes, now); err != nil {
		return nil, fmt.Errorf("regenerate backup codes: %w", err)
	}
	s.d.Mail.notify(ctx, u, ports.SecurityNotice{Kind: ports.NoticeBackupCodesRenewed, At: now, IP: in.Client.IP, UserAgent: in.Client.UserAgent})
	return codes, nil
}
