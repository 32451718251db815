package identity

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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

// ThrottleResetRequests spends one of the client IP's reset requests (20
// an hour), before any look-up (LG-03).
func (s *Service) ThrottleResetRequests(ctx context.Context, ip string) error {
	return s.take(ctx, "forgot:ip:"+session.Client{IP: ip}.Normalized().IP, 20, time.Hour)
}

// RequestPasswordReset mails a reset link to the account with email, when
// there is an active one. The caller answers the same whatever happens
// here (LG-01), and should run it detached from the request so the answer
// also takes the same time.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) error {
	e, err := user.NormalizeEmail(email)
	if err != nil {
		return nil // nothing can be sent to it; the caller says the same
	}
	// Per address too, so nobody can flood one mailbox from many IPs.
	if err := s.take(ctx, "forgot:email:"+e, 5, time.Hour); err != nil {
		return err
	}
	u, err := s.d.Users.ByEmail(ctx, e)
	if errors.Is(err, user.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("request password reset: %w", err)
	}
	if !u.CanSignIn() {
		return nil
	}
	now := s.d.Clock.Now()
	raw := base64.RawURLEncoding.EncodeToString(s.d.IDs.NewSecret(32)) // 256 bits
	expires := now.Add(ResetTTL)
	if err := s.d.Tokens.Issue(ctx, ports.PurposePasswordReset, u.ID(), resetHash(raw), now, expires); err != nil {
		return fmt.Errorf("request password reset: %w", err)
	}
	// In the fragment, the token never reaches a server log or a Referer.
	link := s.cfg.PublicURL + "/reset-password#token=" + raw
	if err := s.d.Mailer.SendPasswordReset(ctx, u.Email(), link, expires); err != nil {
		return fmt.Errorf("request password reset: %w", err)
	}
	return nil
}

// ResetPassword sets a new password with a reset token: single-use,
// applies the password policy, ends every session and every other reset
// token, and emits user.password_changed (LG-07, SE-08). A password that
// fails the policy leaves the token usable.
func (s *Service) ResetPassword(ctx context.Context, token, newPassword string) error {
	if len(token) != 43 {
		return ErrInvalidResetToken
	}
	h := resetHash(token)
	now := s.d.Clock.Now()
	uid, err := s.d.Tokens.Lookup(ctx, ports.PurposePasswordReset, h, now)
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
	var v errs.Validation
	if err := v.CheckInvalid("newPassword", s.checkPassword(ctx, newPassword, u.Email(), u.Username())); err != nil {
		return err
	}
	if err := v.Err(); err != nil {
		return err
	}
	hash, err := s.d.Hasher.Hash(ctx, newPassword)
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	var ended []session.Revocation
	err = s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		ended = ended[:0]
		used, err := s.d.Tokens.Consume(ctx, ports.PurposePasswordReset, h, now)
		if errors.Is(err, user.ErrNotFound) || (err == nil && used != uid) {
			return ErrInvalidResetToken // used by a concurrent reset meanwhile
		}
		if err != nil {
			return err
		}
		if err := s.d.Credentials.SetPasswordHash(ctx, uid, hash, now); err != nil {
			return err
		}
		if err := s.d.Tokens.InvalidateUser(ctx, ports.PurposePasswordReset, uid); err != nil {
			return err
		}
		ids, err := s.d.Sessions.RevokeUser(ctx, uid, "", session.ReasonForced, now)
		if err != nil {
			return err
		}
		for _, id := range ids {
			ended = append(ended, session.Revocation{ID: id, UserID: uid, At: now})
		}
		evs := append([]event.Event{s.event(uid, now, event.UserPasswordChanged{
			UserID: string(uid), ChangedBy: string(uid), SecurityLevel: event.SecurityLevelUser,
		})}, s.logoutEvents(uid, ended, session.ReasonForced, now)...)
		return s.d.Outbox.Append(ctx, evs...)
	})
	if err != nil {
		if errors.Is(err, ErrInvalidResetToken) {
			return ErrInvalidResetToken
		}
		return fmt.Errorf("reset password: %w", err)
	}
	// Proving control of the mailbox clears the lockout, as a login would.
	if err := s.succeeded(ctx, accountKey(u, "")); err != nil {
		return err
	}
	return s.d.Revoked.Add(ctx, ended...)
}

func resetHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}
