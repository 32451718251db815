package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// VerifyTTL is how long an email-verification link works (LG-07: ≤ 1h).
const VerifyTTL = time.Hour

// ErrInvalidVerifyToken answers a verification link that is unknown,
// used or expired.
var ErrInvalidVerifyToken = errs.New(errs.Invalid, "auth.invalid_verification_token", "verification link is invalid or expired").
	WithFields(errs.FieldError{Field: "token", Message: "is invalid or expired"})

// sendVerification mails u a link that proves control of the address.
func (s *Service) sendVerification(ctx context.Context, u user.User) error {
	link, expires, err := s.issueLink(ctx, ports.PurposeEmailVerification, u, "/verify-email", VerifyTTL)
	if err != nil {
		return err
	}
	return s.d.Mailer.SendEmailVerification(ctx, u.Email(), link, expires)
}

// ResendVerification asks for a new verification link for the account
// with email; like RequestPasswordReset it answers the same, at once, for
// every address, and the work happens in the background (LG-01).
func (s *Service) ResendVerification(ctx context.Context, email string, c session.Client) error {
	return s.detached(ctx, c, "verification mail", func(ctx context.Context) error { return s.mailVerificationLink(ctx, email) })
}

// mailVerificationLink mails a new verification link to the account with
// email, if it exists and is unverified.
func (s *Service) mailVerificationLink(ctx context.Context, email string) error {
	u, ok, err := s.mailRecipient(ctx, email)
	if err != nil {
		return fmt.Errorf("resend verification: %w", err)
	}
	if !ok || u.EmailVerified() {
		return nil
	}
	if err := s.sendVerification(ctx, u); err != nil {
		return fmt.Errorf("resend verification: %w", err)
	}
	return nil
}

// VerifyEmail marks the address of the token's account verified, once,
// and emits user.updated.
func (s *Service) VerifyEmail(ctx context.Context, token string) error {
	if len(token) != 43 {
		return ErrInvalidVerifyToken
	}
	now := s.d.Clock.Now()
	err := s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		uid, err := s.d.Tokens.Consume(ctx, ports.PurposeEmailVerification, tokenHash(token), now)
		if errors.Is(err, user.ErrNotFound) {
			return ErrInvalidVerifyToken
		}
		if err != nil {
			return err
		}
		ev := newUserUpdated(uid, uid)
		if err := s.proveMailbox(ctx, uid, &ev, now); err != nil || len(ev.Changes) == 0 {
			return err
		}
		return s.d.Outbox.Append(ctx, s.event(uid, now, ev))
	})
	if errors.Is(err, ErrInvalidVerifyToken) {
		return ErrInvalidVerifyToken
	}
	if err != nil {
		return fmt.Errorf("verify email: %w", err)
	}
	return nil
}
