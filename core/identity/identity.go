// Package identity holds the account and token use cases: registration,
// login, refresh-token rotation, logout, access-token verification for
// forward-auth, the caller's own profile, password change and the first
// administrator. Every state change commits together with the events it
// causes, in one transaction (ports.Transactor + ports.Outbox).
package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// Deps are the ports the use cases drive; all are required.
type Deps struct {
	Tx          ports.Transactor
	Users       ports.Users
	Credentials ports.Credentials
	Sessions    ports.Sessions
	Outbox      ports.Outbox
	Hasher      ports.PasswordHasher
	Blocklist   ports.PasswordBlocklist
	Signer      ports.TokenSigner
	Verifier    ports.TokenVerifier
	Revoked     ports.RevokedSessions
	Limiter     ports.RateLimiter
	Failures    ports.FailureCounter
	Tokens      ports.OneTimeTokens
	Mailer      ports.Mailer
	Clock       ports.Clock
	IDs         ports.IDs
	Factors     ports.MFAFactors
	BackupCodes ports.BackupCodes
	Challenges  ports.MFAChallenges
	OTP         ports.OTP
	Secrets     ports.SecretBox
	Keys        ports.KeyRotator
	// Background runs the mailed-link work after the answer (LG-01).
	Background ports.Background
	// SMS sends sign-in codes by text message; nil leaves SMS off (the
	// only optional dependency).
	SMS ports.SMSSender
}

// Config holds the token, session and throttling settings.
type Config struct {
	Issuer    string
	Audience  string
	AccessTTL time.Duration
	Sessions  session.Policy
	Limits    Limits
	// PublicURL is the base of every link sent to users: configured, never
	// taken from a request's Host or X-Forwarded-Host (LG-07).
	PublicURL string
	// RequireVerifiedEmail blocks sign-in until the address is verified;
	// registration then opens no session.
	RequireVerifiedEmail bool
	// TOTPIssuer names the service in authenticator apps and in texted
	// codes (default "usermgmt").
	TOTPIssuer string
}

// Service runs the identity use cases.
type Service struct {
	d        Deps
	cfg      Config
	throttle *throttle
	log      *slog.Logger
}

// Option configures a Service.
type Option func(*Service)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// New validates the dependencies and configuration and returns a Service.
func New(d Deps, cfg Config, opts ...Option) (*Service, error) {
	if d.Tx == nil || d.Users == nil || d.Credentials == nil || d.Sessions == nil || d.Outbox == nil ||
		d.Hasher == nil || d.Blocklist == nil || d.Signer == nil || d.Verifier == nil || d.Revoked == nil ||
		d.Limiter == nil || d.Failures == nil || d.Tokens == nil || d.Mailer == nil || d.Clock == nil || d.IDs == nil ||
		d.Factors == nil || d.BackupCodes == nil || d.Challenges == nil || d.OTP == nil || d.Secrets == nil || d.Keys == nil || d.Background == nil {
		return nil, errors.New("identity.New: missing dependency")
	}
	switch {
	case cfg.Issuer == "" || cfg.Audience == "":
		return nil, errors.New("identity.New: issuer and audience are required")
	case cfg.AccessTTL <= 0 || cfg.AccessTTL > 15*time.Minute:
		return nil, errors.New("identity.New: access-token lifetime must be in (0, 15m] (SE-03)")
	case cfg.Sessions.AbsoluteLifetime <= 0 || cfg.Sessions.IdleTimeout <= 0:
		return nil, errors.New("identity.New: session lifetime and idle timeout must be positive (SE-06)")
	case cfg.Sessions.ReuseGrace < 0 || cfg.Sessions.ConcurrentWindow < 0:
		return nil, errors.New("identity.New: refresh reuse grace and concurrent window must not be negative")
	case cfg.Sessions.ConcurrentWindow > time.Second:
		return nil, errors.New("identity.New: the concurrent refresh window must be at most 1s: every refresh waits for it")
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if cfg.TOTPIssuer == "" {
		cfg.TOTPIssuer = "usermgmt"
	}
	s := &Service{d: d, cfg: cfg, throttle: newThrottle(d.Limiter, d.Failures, cfg.Limits), log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Tokens are what a successful sign-in or refresh returns.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
	SessionID    session.ID
}

// Auth is a signed-in user and their tokens, or, for an account with a
// second factor, the Challenge that stands before them (and no user).
type Auth struct {
	User user.User
	Tokens
	Challenge *Challenge
}

func (s *Service) newSession(uid user.ID, c session.Client, amr []string, now time.Time) (session.Session, string) {
	return session.New(session.ID(s.d.IDs.NewID()), uid, s.d.IDs.NewSecret(32), c, amr, s.cfg.Sessions, now)
}

// tokensFor issues an access token for a session of u whose refresh token
// is refresh, after checking u may still sign in, and at the session's AAL:
// a session without a second factor cannot refresh into an account that
// has one (MF-08).
func (s *Service) tokensFor(ctx context.Context, u user.User, sess session.Session, refresh string, now time.Time) (Tokens, error) {
	if !u.CanSignIn() {
		return Tokens{}, session.ErrInvalidRefreshToken
	}
	if u.MFAEnabled() && !mfa.SecondFactor(sess.AMR) {
		return Tokens{}, ErrStepUpRequired
	}
	a, err := s.authFor(ctx, u, sess, refresh, now)
	return a.Tokens, err
}

func (s *Service) authFor(ctx context.Context, u user.User, sess session.Session, refresh string, now time.Time) (Auth, error) {
	access, err := s.d.Signer.Sign(ctx, token.Claims{
		ID: s.d.IDs.NewID(), Issuer: s.cfg.Issuer, Audience: s.cfg.Audience, Subject: string(u.ID()),
		SessionID: string(sess.ID), Roles: u.Roles(), AMR: sess.AMR,
		IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(s.cfg.AccessTTL),
	})
	if err != nil {
		return Auth{}, fmt.Errorf("sign access token: %w", err)
	}
	return Auth{User: u, Tokens: Tokens{AccessToken: access, RefreshToken: refresh, ExpiresIn: s.cfg.AccessTTL, SessionID: sess.ID}}, nil
}

func (s *Service) event(subject user.ID, at time.Time, p event.Payload) event.Event {
	return event.New(s.d.IDs.NewID(), string(subject), at, p)
}

// newUserUpdated starts a user.updated event of uid made by by, with
// empty change sets the caller fills.
func newUserUpdated(uid, by user.ID) event.UserUpdated {
	return event.UserUpdated{UserID: string(uid), UpdatedBy: string(by), Changes: map[string]any{}, PreviousValues: map[string]any{}}
}
