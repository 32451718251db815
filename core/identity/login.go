package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// SignInDeps are what password sign-in drives; Logger is optional.
type SignInDeps struct {
	Ledger      *Ledger
	Sessions    ports.Sessions
	Clock       ports.Clock
	Throttle    *Throttle
	Credentials *Credentials
	Mail        *Mail
	Alerts      *Alerts
	Issuer      *Issuer
	// Challenges takes over once the password of an account with a second
	// factor is proven.
	Challenges *Challenges
	Logger     *slog.Logger
}

// SignInConfig holds the sign-in settings.
type SignInConfig struct {
	// RequireVerifiedEmail blocks sign-in until the address is verified.
	RequireVerifiedEmail bool
}

// SignIn runs password sign-in, the first step of every sign-in.
type SignIn struct {
	d   SignInDeps
	cfg SignInConfig
	log *slog.Logger
}

// NewSignIn returns password sign-in over d.
func NewSignIn(d SignInDeps, cfg SignInConfig) (*SignIn, error) {
	if d.Ledger == nil || d.Sessions == nil || d.Clock == nil || d.Throttle == nil || d.Credentials == nil ||
		d.Mail == nil || d.Alerts == nil || d.Issuer == nil || d.Challenges == nil {
		return nil, missing("NewSignIn")
	}
	return &SignIn{d: d, cfg: cfg, log: orDiscard(d.Logger)}, nil
}

// LoginInput is a password sign-in; Identifier is an email or a username.
type LoginInput struct {
	Identifier, Password string
	Client               session.Client
}

// Login checks the password and opens a new session (SE-07). Unknown
// accounts, accounts without a password and wrong passwords all cost one
// argon2 verification and fail with the same error (LG-01).
func (s *SignIn) Login(ctx context.Context, in LoginInput) (Auth, error) {
	in.Client = in.Client.Normalized()
	var uid user.ID
	a, err := s.login(ctx, in, &uid)
	if err != nil {
		s.d.Alerts.failedSignIn(ctx, uid, event.MethodPassword, err, in.Client)
	}
	return a, err
}

// login is Login; it sets *uid once it has found the account.
func (s *SignIn) login(ctx context.Context, in LoginInput, uid *user.ID) (Auth, error) {
	u, hash, err := s.d.Credentials.find(ctx, in.Identifier)
	if err != nil {
		return Auth{}, fmt.Errorf("login: %w", err)
	}
	*uid = u.ID()
	// The budgets are spent before the password is looked at, so a guess
	// over budget costs neither a hash nor an answer (LG-03, LG-04). The
	// account's budget per address is kept per identifier, like the delay
	// (LG-10); the account's hard cap bounds both.
	if err := s.d.Throttle.take(ctx, "login:ip:"+ipBudgetKey(in.Client.IP), s.d.Throttle.limits.LoginPerIP, time.Minute); err != nil {
		return Auth{}, err
	}
	if err := s.d.Throttle.take(ctx, "login:account-ip:"+identifierKey(in.Identifier)+"|"+ipBudgetKey(in.Client.IP), s.d.Throttle.limits.LoginPerAccountIP, time.Minute); err != nil {
		return Auth{}, err
	}
	// An unconfirmed account's right password answers, and is throttled,
	// like a wrong one: a distinct answer would tell whoever just
	// registered an address, with a password of their own, that it was
	// new (LG-09). The owner, who knows the password, gets a fresh
	// confirmation link instead.
	unconfirmed := s.cfg.RequireVerifiedEmail && u.ID() != "" && !u.EmailVerified()
	attempt, rehash, err := s.d.Credentials.verify(ctx, u, in.Identifier, in.Password, hash, in.Client, unconfirmed)
	if errors.Is(err, errUnconfirmed) {
		if err := s.d.Mail.verificationLater(u.Email()); err != nil {
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
		if newHash, err = s.d.Credentials.hash(ctx, in.Password); err != nil {
			s.log.WarnContext(ctx, "password rehash skipped", "user", u.ID(), "err", err)
			newHash = ""
		}
	}
	if u.MFAEnabled() {
		// The password is proven; the session waits for the second factor,
		// whatever path comes next (LG-08, MF-08).
		return s.d.Challenges.start(ctx, u, in.Client, attempt-1, newHash, now)
	}
	sess, refresh := s.d.Issuer.open(u.ID(), in.Client, []string{token.MethodPassword}, now)
	err = s.d.Ledger.commit(ctx, func(ctx context.Context) error {
		if err := s.d.Sessions.Create(ctx, sess); err != nil {
			return err
		}
		if newHash != "" {
			if err := s.d.Credentials.store(ctx, u.ID(), newHash, now); err != nil {
				return err
			}
		}
		return s.d.Ledger.record(ctx, u.ID(), now, event.UserLogin{
			UserID: string(u.ID()), LoginMethod: event.MethodPassword, IPAddress: in.Client.IP,
			UserAgent: in.Client.UserAgent, SessionID: string(sess.ID),
		})
	})
	if err != nil {
		return Auth{}, fmt.Errorf("login: %w", err)
	}
	s.d.Alerts.signedIn(ctx, u, sess, attempt-1)
	return s.d.Issuer.auth(ctx, u, sess, refresh, now)
}
