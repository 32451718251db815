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
	"net/netip"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/errs"
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

// Limits bound credential guessing (LG-02, LG-03, LG-10). A zero field
// takes its default; Disabled turns throttling off (benchmarks only).
// Budgets per IP count an IPv6 client by its /64 (IV-08).
type Limits struct {
	Disabled bool
	// LoginPerIP and LoginPerAccountIP are attempts per minute; the
	// latter is kept per identifier (email or username) and IP.
	LoginPerIP, LoginPerAccountIP int
	// RegisterPerIP is registrations per hour.
	RegisterPerIP int
	// RefreshPerIP is refreshes per minute from one address: a guessing
	// or replaying client is slowed; a NAT of many users is not.
	RefreshPerIP int
	// MaxFailures is how many consecutive failures an account takes before
	// every attempt is refused, the right password included, until
	// FailureWindow passes without one or a success resets it (NIST: 100).
	MaxFailures   int
	FailureWindow time.Duration
	// SlowAfter is how many consecutive failures one identifier of an
	// account takes at full speed; after them each attempt holds off the
	// next for a delay that doubles from one second up to SlowMax
	// (progressive delay), until the account reaches MaxFailures.
	SlowAfter int
	SlowMax   time.Duration
	// CodeSends is how many codes one account may be sent by one channel
	// in 15 minutes (and one phone number in an hour).
	CodeSends int
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.LoginPerIP, 100)
	def(&l.LoginPerAccountIP, 20)
	def(&l.RegisterPerIP, 100)
	def(&l.RefreshPerIP, 600)
	def(&l.MaxFailures, 100)
	def(&l.SlowAfter, 10)
	def(&l.CodeSends, 5)
	if l.FailureWindow <= 0 {
		l.FailureWindow = time.Hour
	}
	if l.SlowMax <= 0 {
		l.SlowMax = 30 * time.Second
	}
	return l
}

// ErrTooManyAttempts refuses an attempt over a budget; RetryAfter says when.
var ErrTooManyAttempts = errs.New(errs.RateLimited, "auth.too_many_attempts", "too many attempts; retry later")

// Service runs the identity use cases.
type Service struct {
	d       Deps
	cfg     Config
	spacing []time.Duration // cfg.Limits.spacing(), built once
	log     *slog.Logger
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
		d.Factors == nil || d.BackupCodes == nil || d.Challenges == nil || d.OTP == nil || d.Secrets == nil || d.Keys == nil {
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
	s := &Service{d: d, cfg: cfg, spacing: cfg.Limits.spacing(), log: slog.New(slog.DiscardHandler)}
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

// RegisterInput is a self-service registration.
type RegisterInput struct {
	Email, Username, Password, DisplayName string
	Client                                 session.Client
}

// Register creates an account with a password and signs it in.
func (s *Service) Register(ctx context.Context, in RegisterInput) (Auth, error) {
	in.Client = in.Client.Normalized()
	if err := s.take(ctx, "register:ip:"+ipBudgetKey(in.Client.IP), s.cfg.Limits.RegisterPerIP, time.Hour); err != nil {
		return Auth{}, err
	}
	now := s.d.Clock.Now()
	var v errs.Validation
	u, err := user.New(user.ID(s.d.IDs.NewID()), in.Email, in.Username, in.DisplayName, now)
	if err := v.Merge(err); err != nil {
		return Auth{}, err
	}
	if err := v.CheckInvalid("password", s.checkPassword(ctx, in.Password, in.Email, in.Username)); err != nil {
		return Auth{}, err
	}
	if err := v.Err(); err != nil {
		return Auth{}, err
	}
	// Registration mails the address, so it spends the address's mail
	// budget like a resend does: nobody floods a mailbox through it (LG-09).
	if err := s.take(ctx, "verify:email:"+u.Email(), mailsPerAddress, time.Hour); err != nil {
		return Auth{}, err
	}
	// A cheap look-up first spares an argon2 hash for an obvious duplicate;
	// the unique indexes behind Create still decide concurrent races.
	// Usernames are public, so a taken one may be said; an address is not.
	if _, err := s.d.Users.ByUsername(ctx, u.Username()); err == nil {
		return Auth{}, user.ErrUsernameTaken
	}
	if owner, err := s.d.Users.ByEmail(ctx, u.Email()); err == nil {
		return s.registeredAgain(ctx, owner, u, in)
	}
	hash, err := s.d.Hasher.Hash(ctx, in.Password)
	if err != nil {
		return Auth{}, fmt.Errorf("register: %w", err)
	}
	sess, refresh := s.newSession(u.ID(), in.Client, []string{token.MethodPassword}, now)
	err = s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		if err := s.d.Users.Create(ctx, u); err != nil {
			return err
		}
		if err := s.d.Credentials.SetPasswordHash(ctx, u.ID(), hash, now); err != nil {
			return err
		}
		if !s.cfg.RequireVerifiedEmail {
			if err := s.d.Sessions.Create(ctx, sess); err != nil {
				return err
			}
		}
		return s.d.Outbox.Append(ctx, s.event(u.ID(), now, event.UserCreated{
			UserID: string(u.ID()), Email: u.Email(), Username: u.Username(), Role: u.Role(),
			RegistrationMethod: event.MethodEmail, Metadata: map[string]string{"userAgent": in.Client.UserAgent},
		}))
	})
	if errors.Is(err, user.ErrEmailTaken) && s.cfg.RequireVerifiedEmail {
		return Auth{User: u}, nil // a concurrent registration took it: answer as below
	}
	if err != nil {
		return Auth{}, fmt.Errorf("register: %w", err)
	}
	// The account exists whatever the mail does; a failed send is retried
	// by the user through resend.
	if err := s.sendVerification(ctx, u); err != nil {
		s.log.WarnContext(ctx, "verification mail not sent", "user", u.ID(), "err", err)
	}
	if s.cfg.RequireVerifiedEmail {
		return Auth{User: u}, nil
	}
	return s.authFor(ctx, u, sess, refresh, now)
}

// mailsPerAddress is how many mails about one address (verification links,
// reset links, notices of a repeated registration) its requests may cause
// in an hour, from any number of clients.
const mailsPerAddress = 5

// registeredAgain answers a registration of an address that has an account.
// Without email verification the answer says so (user.email_taken): the
// registrant could sign in right away otherwise. With it, the answer is the
// one a new address gets, a user that must confirm its address, after the
// same argon2 work, and the address's owner is told instead (LG-09): the
// registrant learns nothing of who has an account.
func (s *Service) registeredAgain(ctx context.Context, owner, unsaved user.User, in RegisterInput) (Auth, error) {
	if !s.cfg.RequireVerifiedEmail {
		return Auth{}, user.ErrEmailTaken
	}
	if _, err := s.d.Hasher.Hash(ctx, in.Password); err != nil {
		return Auth{}, fmt.Errorf("register: %w", err)
	}
	s.notify(ctx, owner, ports.SecurityNotice{Kind: ports.NoticeRegistrationAttempt, At: s.d.Clock.Now(),
		IP: in.Client.IP, UserAgent: in.Client.UserAgent})
	return Auth{User: unsaved}, nil
}

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
	if err := s.take(ctx, "login:ip:"+ipBudgetKey(in.Client.IP), s.cfg.Limits.LoginPerIP, time.Minute); err != nil {
		return Auth{}, err
	}
	if err := s.take(ctx, "login:account-ip:"+identifierKey(in.Identifier)+"|"+ipBudgetKey(in.Client.IP), s.cfg.Limits.LoginPerAccountIP, time.Minute); err != nil {
		return Auth{}, err
	}
	attempt, rehash, err := s.verifyPassword(ctx, u, in.Identifier, in.Password, hash, in.Client)
	if err != nil {
		return Auth{}, err
	}
	if !u.CanSignIn() {
		return Auth{}, user.ErrDisabled
	}
	if s.cfg.RequireVerifiedEmail && !u.EmailVerified() {
		return Auth{}, ErrEmailNotVerified
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

// RefreshInput presents a refresh token.
type RefreshInput struct {
	Token  string
	Client session.Client
	// ReceivedAt is when the transport received the request (zero: now). A
	// token rotated after that instant was rotated by a concurrent request,
	// not replayed, so the earlier the transport stamps it the fewer
	// parallel refreshes are mistaken for reuse.
	ReceivedAt time.Time
}

// maxRequestAge bounds how far back ReceivedAt is believed.
const maxRequestAge = 30 * time.Second

// Refresh rotates a refresh token (SE-04, SE-05, SE-11). Exactly one of any
// number of concurrent refreshes with one token from one client succeeds;
// the others fail without harming the family. Any token of the chain that
// had been rotated before the request began, or that another client is
// refreshing at the same time, is reuse: its whole session ends, the end
// commits even though the caller gets an error, and
// user.security_violation is emitted.
func (s *Service) Refresh(ctx context.Context, in RefreshInput) (Tokens, error) {
	in.Client = in.Client.Normalized()
	now := s.d.Clock.Now()
	started := now
	if r := in.ReceivedAt.UTC().Truncate(time.Microsecond); r.Before(now) && now.Sub(r) < maxRequestAge {
		started = r
	}
	if err := s.take(ctx, "refresh:ip:"+ipBudgetKey(in.Client.IP), s.cfg.Limits.RefreshPerIP, time.Minute); err != nil {
		return Tokens{}, err
	}
	if !session.WellFormed(in.Token) {
		return Tokens{}, session.ErrInvalidRefreshToken
	}
	rot, next := session.PlanRotation(in.Token, s.d.IDs.NewSecret(32), in.Client, s.cfg.Sessions, started)
	sess, u, err := s.d.Sessions.Rotate(ctx, rot)
	if err == nil {
		a, err := s.tokensFor(ctx, u, sess, next, now)
		if err != nil {
			return Tokens{}, fmt.Errorf("refresh: %w", err)
		}
		// Answer no sooner than the concurrent window after arrival, so no
		// client can hold the successor and replay the parent inside it.
		if err := s.waitUntil(ctx, started.Add(s.cfg.Sessions.ConcurrentWindow)); err != nil {
			return Tokens{}, err
		}
		return a, nil
	}
	if !errors.Is(err, session.ErrNotRotated) {
		return Tokens{}, fmt.Errorf("refresh: %w", err)
	}
	sess, err = s.d.Sessions.ByRefreshHash(ctx, rot.Presented)
	if errors.Is(err, session.ErrNotFound) {
		return Tokens{}, session.ErrInvalidRefreshToken
	}
	if err != nil {
		return Tokens{}, fmt.Errorf("refresh: %w", err)
	}
	now = s.d.Clock.Now()
	switch session.Judge(sess, rot.Presented, in.Client, s.cfg.Sessions, started, now) {
	case session.Grace:
		successor := session.NextToken(in.Token, sess.RotationNonce)
		if session.Hash(successor) != sess.RefreshHash {
			return Tokens{}, session.ErrInvalidRefreshToken
		}
		u, err := s.d.Users.ByID(ctx, sess.UserID)
		if err != nil {
			return Tokens{}, fmt.Errorf("refresh: %w", err)
		}
		return s.tokensFor(ctx, u, sess, successor, now)
	case session.Timeout:
		if err := s.endSessions(ctx, sess.UserID, []session.ID{sess.ID}, session.ReasonTimeout, now); err != nil {
			return Tokens{}, fmt.Errorf("refresh: %w", err)
		}
		return Tokens{}, session.ErrInvalidRefreshToken
	case session.Reuse:
		if err := s.endReusedFamily(ctx, sess, in.Client, now); err != nil {
			return Tokens{}, fmt.Errorf("refresh: %w", err)
		}
		// Answered like any invalid token, so a thief does not learn that
		// the session it holds has just ended (SE-11).
		return Tokens{}, session.ErrInvalidRefreshToken
	case session.LostRace, session.Unknown:
		return Tokens{}, session.ErrInvalidRefreshToken
	}
	return Tokens{}, session.ErrInvalidRefreshToken
}

// waitUntil sleeps until the clock reaches t or ctx ends.
func (s *Service) waitUntil(ctx context.Context, t time.Time) error {
	d := t.Sub(s.d.Clock.Now())
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// endReusedFamily ends a session whose rotated token came back, and reports it.
func (s *Service) endReusedFamily(ctx context.Context, sess session.Session, c session.Client, now time.Time) error {
	var ended bool
	err := s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		var err error
		if ended, err = s.d.Sessions.Revoke(ctx, sess.ID, session.ReasonReuse, now); err != nil || !ended {
			return err
		}
		return s.d.Outbox.Append(ctx,
			s.event(sess.UserID, now, event.UserSecurityViolation{
				UserID: string(sess.UserID), ViolationType: "refresh_token_reuse", Severity: event.SeverityHigh,
				Details: map[string]string{"sessionId": string(sess.ID), "ipAddress": c.IP, "userAgent": c.UserAgent},
			}),
			s.event(sess.UserID, now, event.UserLogout{UserID: string(sess.UserID), SessionID: string(sess.ID),
				LogoutType: session.ReasonReuse.LogoutType()}))
	})
	if err != nil {
		return err
	}
	if ended {
		s.log.WarnContext(ctx, "refresh token reuse: session ended", "user", sess.UserID, "session", sess.ID)
		return s.d.Revoked.Add(ctx, session.Revocation{ID: sess.ID, UserID: sess.UserID, At: now})
	}
	return nil
}

// endSessions ends the given sessions of uid for reason and emits one
// user.logout per session it actually ended.
func (s *Service) endSessions(ctx context.Context, uid user.ID, ids []session.ID, reason session.RevokeReason, now time.Time) error {
	var ended []session.Revocation
	err := s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		ended = ended[:0]
		for _, id := range ids {
			ok, err := s.d.Sessions.Revoke(ctx, id, reason, now)
			if err != nil {
				return err
			}
			if ok {
				ended = append(ended, session.Revocation{ID: id, UserID: uid, At: now})
			}
		}
		return s.d.Outbox.Append(ctx, s.logoutEventsOf(ended, reason, now)...)
	})
	if err != nil {
		return err
	}
	return s.d.Revoked.Add(ctx, ended...)
}

// Logout ends the caller's session and, if a refresh token is given, the
// session it belongs to when that is the caller's too.
func (s *Service) Logout(ctx context.Context, p token.Claims, refreshToken string) error {
	uid := user.ID(p.Subject)
	ids := []session.ID{session.ID(p.SessionID)}
	if refreshToken != "" && session.WellFormed(refreshToken) {
		other, err := s.d.Sessions.ByRefreshHash(ctx, session.Hash(refreshToken))
		switch {
		case err == nil && other.UserID == uid && other.ID != ids[0]:
			ids = append(ids, other.ID)
		case err != nil && !errors.Is(err, session.ErrNotFound):
			return fmt.Errorf("logout: %w", err)
		}
	}
	if err := s.endSessions(ctx, uid, ids, session.ReasonManual, s.d.Clock.Now()); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// Verify checks an access token for forward-auth and every authenticated
// request: signature and claims, then that its session has not ended. Any
// failure to decide, such as the revocation lookup failing, denies (LO-06).
func (s *Service) Verify(ctx context.Context, raw string) (token.Claims, error) {
	c, err := s.d.Verifier.Verify(ctx, raw)
	if err != nil {
		return token.Claims{}, err
	}
	revoked, err := s.d.Revoked.IsRevoked(ctx, session.ID(c.SessionID))
	if err != nil {
		return token.Claims{}, fmt.Errorf("verify: revocation lookup: %w", err)
	}
	if revoked {
		return token.Claims{}, session.ErrRevoked
	}
	return c, nil
}

// Me returns the caller's account.
func (s *Service) Me(ctx context.Context, p token.Claims) (user.User, error) {
	u, err := s.stepUp(ctx, user.ID(p.Subject), p.AMR)
	if err != nil {
		return user.User{}, fmt.Errorf("me: %w", err)
	}
	return u, nil
}

// UpdateMe applies a self-service profile change and emits user.updated
// with what changed, when anything did.
func (s *Service) UpdateMe(ctx context.Context, p token.Claims, upd user.ProfileUpdate) (user.User, error) {
	uid := user.ID(p.Subject)
	if _, err := s.stepUp(ctx, uid, p.AMR); err != nil {
		return user.User{}, fmt.Errorf("update profile: %w", err)
	}
	var out user.User
	err := s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		var changes []user.Change
		now := s.d.Clock.Now()
		u, err := s.d.Users.Update(ctx, uid, func(u *user.User) error {
			var err error
			changes, err = u.UpdateProfile(upd, now)
			return err
		})
		if err != nil {
			return err
		}
		out = u
		if len(changes) == 0 {
			return nil
		}
		ev := event.UserUpdated{UserID: string(uid), Changes: map[string]any{}, PreviousValues: map[string]any{}, UpdatedBy: string(uid)}
		for _, c := range changes {
			ev.Changes[c.Field], ev.PreviousValues[c.Field] = c.Current, c.Previous
		}
		return s.d.Outbox.Append(ctx, s.event(uid, now, ev))
	})
	if err != nil {
		return user.User{}, fmt.Errorf("update profile: %w", err)
	}
	return out, nil
}

// ErrWrongCurrentPassword rejects a password change whose current password is wrong.
var ErrWrongCurrentPassword = errs.ErrValidation.WithFields(errs.FieldError{Field: "currentPassword", Message: "is incorrect"})

// ChangePassword replaces the caller's password after checking the current
// one (PW-06) and ends every other session of the caller (SE-08).
func (s *Service) ChangePassword(ctx context.Context, p token.Claims, current, next string) error {
	uid := user.ID(p.Subject)
	u, err := s.stepUp(ctx, uid, p.AMR)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if err := s.provePassword(ctx, u, current, ErrWrongCurrentPassword); err != nil {
		return err
	}
	hash, err := s.newPasswordHash(ctx, u, next)
	if err != nil {
		return err
	}
	now := s.d.Clock.Now()
	var ended []session.Revocation
	err = s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		var err error
		if ended, err = s.replacePassword(ctx, uid, hash, session.ID(p.SessionID), now); err != nil {
			return err
		}
		return s.d.Credentials.SetRecovered(ctx, uid, time.Time{}) // proven at AAL2: no longer a recovered password
	})
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	s.notify(ctx, u, ports.SecurityNotice{Kind: ports.NoticePasswordChanged, At: now})
	return s.d.Revoked.Add(ctx, ended...)
}

// provePassword checks the password of a signed-in u, counting toward the
// account's lockout like a sign-in (LG-05), and answers wrong when it does
// not match.
func (s *Service) provePassword(ctx context.Context, u user.User, password string, wrong error) error {
	h, err := s.d.Credentials.PasswordHash(ctx, u.ID())
	if err != nil && !errors.Is(err, credential.ErrNoPassword) {
		return fmt.Errorf("check password: %w", err)
	}
	_, _, err = s.verifyPassword(ctx, u, "", password, h, session.Client{})
	if errors.Is(err, credential.ErrInvalidCredentials) {
		return wrong
	}
	return err
}

// verifyPassword counts an attempt at u through identifier (empty: u
// itself, signed in) before the hash (LG-02, LG-04, LG-10), then checks
// password against hash; an empty hash verifies against the dummy, so
// unknown accounts cost the same (LG-01). A mismatch reports the limit
// when it reaches it and is credential.ErrInvalidCredentials; a match
// resets the counts. It returns the attempt's place in the account's run
// of failures and whether to rehash.
func (s *Service) verifyPassword(ctx context.Context, u user.User, identifier, password string, hash credential.PasswordHash, c session.Client) (attempt int, rehash bool, err error) {
	account := "login:" + accountKey(u, identifier)
	paced := account
	if identifier != "" {
		paced = "login:" + identifierKey(identifier)
	}
	if attempt, err = s.reserveAttempt(ctx, account, paced); err != nil {
		return 0, false, err
	}
	ok := false
	if len(password) <= credential.MaxPasswordBytes {
		if ok, rehash, err = s.d.Hasher.Verify(ctx, password, hash); err != nil {
			return 0, false, fmt.Errorf("check password: %w", err)
		}
	}
	if !ok || hash == "" {
		if err := s.reportLimit(ctx, u, attempt, c, "password"); err != nil {
			return 0, false, err
		}
		return attempt, false, credential.ErrInvalidCredentials
	}
	return attempt, rehash, s.passwordProven(ctx, u)
}

// newPasswordHash applies the password policy to a new password of u
// (field newPassword) and hashes it.
func (s *Service) newPasswordHash(ctx context.Context, u user.User, password string) (credential.PasswordHash, error) {
	var v errs.Validation
	if err := v.CheckInvalid("newPassword", s.checkPassword(ctx, password, u.Email(), u.Username())); err != nil {
		return "", err
	}
	if err := v.Err(); err != nil {
		return "", err
	}
	hash, err := s.d.Hasher.Hash(ctx, password)
	if err != nil {
		return "", fmt.Errorf("hash new password: %w", err)
	}
	return hash, nil
}

// replacePassword, inside the caller's transaction, stores uid's new hash,
// drops its reset tokens (LG-07), ends every session but keep (SE-08) and
// emits user.password_changed with a user.logout per ended session. It
// returns the ended sessions for the revocation lookups, to add after commit.
func (s *Service) replacePassword(ctx context.Context, uid user.ID, hash credential.PasswordHash, keep session.ID, now time.Time) ([]session.Revocation, error) {
	if err := s.d.Credentials.SetPasswordHash(ctx, uid, hash, now); err != nil {
		return nil, err
	}
	if err := s.d.Tokens.InvalidateUser(ctx, ports.PurposePasswordReset, uid); err != nil {
		return nil, err
	}
	if err := s.d.Outbox.Append(ctx, s.event(uid, now, event.UserPasswordChanged{
		UserID: string(uid), ChangedBy: string(uid), SecurityLevel: event.SecurityLevelUser,
	})); err != nil {
		return nil, err
	}
	return s.revokeUser(ctx, uid, keep, session.ReasonForced, now)
}

// revokeUser, inside the caller's transaction, ends every session of uid
// but keep (which may be empty) for reason, with a user.logout each, and
// returns them for the revocation lookups, to add after commit.
func (s *Service) revokeUser(ctx context.Context, uid user.ID, keep session.ID, reason session.RevokeReason, now time.Time) ([]session.Revocation, error) {
	ids, err := s.d.Sessions.RevokeUser(ctx, uid, keep, reason, now)
	if err != nil {
		return nil, err
	}
	ended := make([]session.Revocation, len(ids))
	for i, id := range ids {
		ended[i] = session.Revocation{ID: id, UserID: uid, At: now}
	}
	return ended, s.d.Outbox.Append(ctx, s.logoutEventsOf(ended, reason, now)...)
}

// ErrBootstrapNotAdmin reports that the address named for the first
// administrator belongs to an account that is not one. It is left as it
// is: promoting an account because a variable names it would hand anyone
// who registered that address first the keys (the operator must see this).
var ErrBootstrapNotAdmin = errs.New(errs.Conflict, "admin.bootstrap_not_admin",
	"the first administrator's address belongs to an account that is not an administrator")

// EnsureAdmin creates the first administrator with email and password when no
// account has that email, and reports whether it did. The password must pass
// the same policy as any other (PW-06: no default accounts).
func (s *Service) EnsureAdmin(ctx context.Context, email, password string) (bool, error) {
	if u, err := s.d.Users.ByEmail(ctx, email); err == nil {
		if !u.HasRole(user.RoleAdmin) {
			return false, ErrBootstrapNotAdmin
		}
		return false, nil
	} else if !errors.Is(err, user.ErrNotFound) {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	now := s.d.Clock.Now()
	username, err := s.freeUsername(ctx, email)
	if err != nil {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	u, err := user.New(user.ID(s.d.IDs.NewID()), email, username, "Administrator", now)
	if err != nil {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	if err := u.GrantRole(user.RoleAdmin, now); err != nil {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	u.MarkEmailVerified(now)
	if err := s.checkPassword(ctx, password, u.Email(), u.Username()); err != nil {
		return false, fmt.Errorf("bootstrap admin: password %w", err)
	}
	hash, err := s.d.Hasher.Hash(ctx, password)
	if err != nil {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	err = s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		if err := s.d.Users.Create(ctx, u); err != nil {
			return err
		}
		if err := s.d.Credentials.SetPasswordHash(ctx, u.ID(), hash, now); err != nil {
			return err
		}
		return s.d.Outbox.Append(ctx, s.event(u.ID(), now, event.UserCreated{
			UserID: string(u.ID()), Email: u.Email(), Username: u.Username(), Role: u.Role(),
			RegistrationMethod: event.MethodEmail, Metadata: map[string]string{"createdBy": "bootstrap"},
		}))
	})
	if errors.Is(err, user.ErrEmailTaken) {
		return false, nil // another instance bootstrapped it first
	}
	if err != nil {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	return true, nil
}

// freeUsername derives a username from the email's local part ("admin" when
// nothing usable is left) and appends a number while it is taken.
func (s *Service) freeUsername(ctx context.Context, email string) (string, error) {
	base := user.UsernameFrom(email)
	for i := 0; i < 100; i++ {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s%d", base, i)
		}
		_, err := s.d.Users.ByUsername(ctx, name)
		if errors.Is(err, user.ErrNotFound) {
			return name, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", errors.New("no free username")
}

// SyncRevocations loads into the revocation lookups every session that ended
// recently enough for one of its access tokens to be still valid: at start
// (so a restart forgets no revocation) and periodically when other instances
// share the database without a shared revocation store.
func (s *Service) SyncRevocations(ctx context.Context, window time.Duration) error {
	rs, err := s.d.Sessions.RevokedSince(ctx, s.d.Clock.Now().Add(-window))
	if err != nil {
		return fmt.Errorf("sync revocations: %w", err)
	}
	return s.d.Revoked.Add(ctx, rs...)
}

// accountKey names the account an attempt is against: the user's id when
// the account exists (so its email and username share one count), else
// the identifier, so unknown accounts throttle the same way and lockout
// reveals nothing (LG-01).
func accountKey(u user.User, identifier string) string {
	if u.ID() != "" {
		return "user:" + string(u.ID())
	}
	return identifierKey(identifier)
}

// ipBudgetKey names the client a per-address budget is spent by: an IPv4
// address (IPv4-mapped ones included) as is, an IPv6 address by its /64.
// One subscriber is commonly given a whole /64, so keying by the full
// address would hand each of them 2^64 budgets (IV-08). Anything else is
// one empty key, as Client.Normalized leaves it.
func ipBudgetKey(ip string) string {
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return ""
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

// identifierKey names an email or username as the look-up compares it. The
// progressive delay and the account's budget per address are kept per
// identifier, not per account, so failures through an email neither slow
// nor spend its account's username: were they to, a dozen requests would
// tell that the two belong together (LG-10).
func identifierKey(identifier string) string {
	return "id:" + strings.ToLower(strings.TrimSpace(identifier))
}

// take spends one attempt of key's budget, or refuses with when to retry.
// A limiter that cannot answer refuses too: throttling fails closed (LO-06).
func (s *Service) take(ctx context.Context, key string, limit int, window time.Duration) error {
	if s.cfg.Limits.Disabled {
		return nil
	}
	ok, retry, err := s.d.Limiter.Take(ctx, key, limit, window)
	if err != nil {
		return errLimiterDown.Wrap(err)
	}
	if !ok {
		return ErrTooManyAttempts.WithRetryAfter(retry)
	}
	return nil
}

// errLimiterDown answers when the rate-limit store is unreachable.
var errLimiterDown = errs.New(errs.Unavailable, "auth.limiter_unavailable", "sign-in is briefly unavailable; retry shortly")

// reserveAttempt counts an attempt against account and identifier before
// its credential is checked, and refuses it once MaxFailures consecutive
// attempts on account have failed, the right credential included (LG-02).
// Past SlowAfter attempts of identifier, each one opens a delay that
// doubles, during which the next is refused (progressive delay). Deciding
// and counting are one atomic step of the shared store, so each of any
// number of parallel attempts learns its own number and exactly the
// allowed ones reach the check, on any instance (LG-04, LG-10). Refused
// attempts are not counted, so the lock lifts a window after the last
// counted failure instead of lasting while an attacker keeps knocking. A
// success resets it all.
func (s *Service) reserveAttempt(ctx context.Context, account, identifier string) (int, error) {
	if s.cfg.Limits.Disabled {
		return 0, nil
	}
	l := s.cfg.Limits
	n, retry, err := s.d.Failures.Attempt(ctx, ports.Attempt{Account: account, Max: l.MaxFailures,
		Identifier: identifier, Spacing: s.spacing, TTL: l.FailureWindow})
	if err != nil {
		return 0, errLimiterDown.Wrap(err)
	}
	if n == 0 {
		return 0, ErrTooManyAttempts.WithRetryAfter(retry)
	}
	return n, nil
}

// spacing is the progressive delay as a table of waits after each attempt:
// none after the first SlowAfter, then one second, doubling up to SlowMax.
func (l Limits) spacing() []time.Duration {
	waits := make([]time.Duration, l.SlowAfter)
	for d := min(time.Second, l.SlowMax); ; d = min(2*d, l.SlowMax) {
		waits = append(waits, d)
		if d == l.SlowMax {
			return waits
		}
	}
}

// refuseLocked refuses while key has reached MaxFailures, without counting
// an attempt: a locked password also locks the steps that follow it (LG-05).
func (s *Service) refuseLocked(ctx context.Context, key string) error {
	if s.cfg.Limits.Disabled {
		return nil
	}
	n, ttl, err := s.d.Failures.Failures(ctx, key)
	if err != nil {
		return errLimiterDown.Wrap(err)
	}
	if n >= s.cfg.Limits.MaxFailures {
		return ErrTooManyAttempts.WithRetryAfter(ttl)
	}
	return nil
}

// reportLimit reports the failed attempt that reached the limit, the
// attempt-th in a row, as a brute-force violation of factor.
func (s *Service) reportLimit(ctx context.Context, u user.User, attempt int, c session.Client, factor string) error {
	if attempt != s.cfg.Limits.MaxFailures || u.ID() == "" {
		return nil
	}
	now := s.d.Clock.Now()
	s.log.WarnContext(ctx, "account throttled after consecutive failures", "user", u.ID(), "factor", factor, "failures", attempt)
	ev := s.event(u.ID(), now, event.UserSecurityViolation{UserID: string(u.ID()), ViolationType: "brute_force",
		Severity: event.SeverityHigh, Details: map[string]string{"failures": fmt.Sprint(attempt), "ipAddress": c.IP, "factor": factor}})
	if err := s.d.Tx.WithinTx(ctx, func(ctx context.Context) error { return s.d.Outbox.Append(ctx, ev) }); err != nil {
		return fmt.Errorf("report brute force: %w", err)
	}
	return nil
}

// succeeded clears failure counters after a proven credential.
func (s *Service) succeeded(ctx context.Context, keys ...string) error {
	if s.cfg.Limits.Disabled {
		return nil
	}
	for _, k := range keys {
		if err := s.d.Failures.Reset(ctx, k); err != nil {
			return errLimiterDown.Wrap(err)
		}
	}
	return nil
}

// passwordProven clears u's password lockout and the delays of its email
// and username, whichever was typed.
func (s *Service) passwordProven(ctx context.Context, u user.User) error {
	return s.succeeded(ctx, "login:"+accountKey(u, ""), "login:"+identifierKey(u.Email()), "login:"+identifierKey(u.Username()))
}

// checkPassword applies the password policy: shape, context words, blocklist.
func (s *Service) checkPassword(ctx context.Context, password, email, username string) error {
	if err := credential.CheckShape(password); err != nil {
		return err
	}
	if err := credential.CheckContext(password, credential.ContextWords(email, username)...); err != nil {
		return err
	}
	blocked, err := s.d.Blocklist.Blocked(ctx, password)
	if err != nil {
		return fmt.Errorf("password blocklist: %w", err)
	}
	if blocked {
		return credential.ErrCommon
	}
	return nil
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
