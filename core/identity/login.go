package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// LoginInput is a password sign-in; Identifier is an email or a username.
type LoginInput struct {
	Identifier, Password string
	Client               session.Client
}

// Login checks the password and opens a new session (SE-07). Unknown
// accounts, accounts without a password and wrong passwords all cost one
// argon2 verification and fail with the same error (LG-01).
func (s *Service) Login(ctx context.Context, in LoginInput) (Auth, error) {
	in.Client = in.Client.Normalized()
	u, hash, err := s.findCredential(ctx, in.Identifier)
	if err != nil {
		return Auth{}, fmt.Errorf("login: %w", err)
	}
	// The budgets are spent before the password is looked at, so a guess
	// over budget costs neither a hash nor an answer (LG-03, LG-04). The
	// account's budget per address is kept per identifier, like the delay
	// (LG-10); the account's hard cap bounds both.
	if err := s.throttle.take(ctx, "login:ip:"+ipBudgetKey(in.Client.IP), s.throttle.limits.LoginPerIP, time.Minute); err != nil {
		return Auth{}, err
	}
	if err := s.throttle.take(ctx, "login:account-ip:"+identifierKey(in.Identifier)+"|"+ipBudgetKey(in.Client.IP), s.throttle.limits.LoginPerAccountIP, time.Minute); err != nil {
		return Auth{}, err
	}
	// An unconfirmed account's right password answers, and is throttled,
	// like a wrong one: a distinct answer would tell whoever just
	// registered an address, with a password of their own, that it was
	// new (LG-09). The owner, who knows the password, gets a fresh
	// confirmation link instead.
	unconfirmed := s.cfg.RequireVerifiedEmail && u.ID() != "" && !u.EmailVerified()
	attempt, rehash, err := s.verifyPassword(ctx, u, in.Identifier, in.Password, hash, in.Client, unconfirmed)
	if errors.Is(err, errUnconfirmed) {
		if err := s.d.Background.Run("verification mail", func(ctx context.Context) error {
			return s.mailVerificationLink(ctx, u.Email())
		}); err != nil {
			s.log.WarnContext(ctx, "verification mail not queued", "user", u.ID(), "err", err)
		}
		return Auth{}, credential.ErrInvalidCredentials
	}
	if err != nil {
		return Auth{}, err
	}
	if !u.CanSignIn() {
		return Auth{}, user.ErrDisabled
	}
	now := s.d.Clock.Now()
	var newHash credential.PasswordHash
	if rehash {
		// Stored parameters are weaker than the configured ones: upgrade now,
		// while the password is at hand. A failure here must not fail the login.
		if newHash, err = s.d.Hasher.Hash(ctx, in.Password); err != nil {
			s.log.WarnContext(ctx, "password rehash skipped", "user", u.ID(), "err", err)
			newHash = ""
		}
	}
	if u.MFAEnabled() {
		// The password is proven; the session waits for the second factor,
		// whatever path comes next (LG-08, MF-08).
		return s.startChallenge(ctx, u, in.Client, attempt-1, newHash, now)
	}
	sess, refresh := s.newSession(u.ID(), in.Client, []string{token.MethodPassword}, now)
	err = s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		if err := s.d.Sessions.Create(ctx, sess); err != nil {
			return err
		}
		if newHash != "" {
			if err := s.d.Credentials.SetPasswordHash(ctx, u.ID(), newHash, now); err != nil {
				return err
			}
		}
		return s.d.Outbox.Append(ctx, s.event(u.ID(), now, event.UserLogin{
			UserID: string(u.ID()), LoginMethod: event.MethodPassword, IPAddress: in.Client.IP,
			UserAgent: in.Client.UserAgent, SessionID: string(sess.ID),
		}))
	})
	if err != nil {
		return Auth{}, fmt.Errorf("login: %w", err)
	}
	s.signedIn(ctx, u, sess, attempt-1)
	return s.authFor(ctx, u, sess, refresh, now)
}

// noticeAfterFailures is how many failed attempts before a sign-in make it
// worth telling the owner about (LG-06); fewer are typing mistakes.
const noticeAfterFailures = 3

// signedIn sends the notices a new session calls for (LG-06): a sign-in
// that followed failed attempts, and one from a client (address and user
// agent) the account has not used before. Neither can fail the sign-in.
func (s *Service) signedIn(ctx context.Context, u user.User, sess session.Session, priorFailures int) {
	n := ports.SecurityNotice{At: sess.CreatedAt, IP: sess.Client.IP, UserAgent: sess.Client.UserAgent}
	if priorFailures >= noticeAfterFailures {
		after := n
		after.Kind, after.Failures = ports.NoticeSignInAfterFailures, priorFailures
		s.notify(ctx, u, after)
	}
	known, err := s.d.Sessions.Known(ctx, u.ID(), sess.Client, sess.ID)
	if err != nil {
		s.log.WarnContext(ctx, "new-device check skipped", "user", u.ID(), "err", err)
		return
	}
	if !known {
		n.Kind = ports.NoticeNewDevice
		s.notify(ctx, u, n)
	}
}

// findCredential returns the user named by identifier and their password
// hash. Where there is none it returns an empty hash and no error, so the
// caller verifies against the dummy hash and fails the same way.
func (s *Service) findCredential(ctx context.Context, identifier string) (user.User, credential.PasswordHash, error) {
	find := s.d.Users.ByUsername
	if strings.Contains(identifier, "@") {
		find = s.d.Users.ByEmail
	}
	u, err := find(ctx, identifier)
	if errors.Is(err, user.ErrNotFound) {
		return user.User{}, "", nil
	}
	if err != nil {
		return user.User{}, "", err
	}
	h, err := s.d.Credentials.PasswordHash(ctx, u.ID())
	if errors.Is(err, credential.ErrNoPassword) {
		return user.User{}, "", nil
	}
	if err != nil {
		return user.User{}, "", err
	}
	return u, h, nil
}
