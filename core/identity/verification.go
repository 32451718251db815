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

// VerifyTTL is how long an email-verification link works (LG-07: ≤ 1h).
const VerifyTTL = time.Hour

// ErrInvalidVerifyToken answers a verification link that is unknown,
// used or expired.
var ErrInvalidVerifyToken = errs.New(errs.Invalid, "auth.invalid_verification_token", "verification link is invalid or expired").
	WithFields(errs.FieldError{Field: "token", Message: "is invalid or expired"})

// ResendVerification asks for a new verification link for the account
// with email; like RequestPasswordReset it answers the same, at once, for
// every address, and the work happens in the background (LG-01).
func (s *Accounts) ResendVerification(ctx context.Context, email string, c session.Client) error {
	return s.d.Mail.request(ctx, c, "verification mail", func(ctx context.Context) error { return s.d.Mail.verificationLink(ctx, email) })
}

// VerifyEmail marks the address of the token's account verified, once,
// and emits user.updated.
func (s *Accounts) VerifyEmail(ctx context.Context, token string) error {
	if len(token) != 43 {
		return ErrInvalidVerifyToken
	}
	now := s.d.Clock.Now()
	err := s.d.Ledger.commit(ctx, func(ctx context.Context) error {
		uid, err := s.d.Mail.consume(ctx, ports.PurposeEmailVerification, token, now)
		if errors.Is(err, user.ErrNotFound) {
			return ErrInvalidVerifyToken
		}
		if err != nil {
			return err
		}
		ev := event.NewUserUpdated(string(uid), string(uid))
		if err := s.d.Factors.proveMailbox(ctx, uid, &ev, now); err != nil || len(ev.Changes) == 0 {
			return err
		}
		return s.d.Ledger.record(ctx, uid, now, ev)
	})
	if errors.Is(err, ErrInvalidVerifyToken) {
		return ErrInvalidVerifyToken
	}
	if err != nil {
		return fmt.Errorf("verify email: %w", err)
	}
	return nil
}
