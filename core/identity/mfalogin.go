package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// ChallengesDeps are what the second step of a sign-in drives; Logger is
// optional.
type ChallengesDeps struct {
	Ledger      *Ledger
	Users       ports.Users
	Sessions    ports.Sessions
	Clock       ports.Clock
	Challenges  ports.MFAChallenges
	Throttle    *Throttle
	Credentials *Credentials
	Factors     *SecondFactors
	Issuer      *Issuer
	Alerts      *Alerts
	Logger      *slog.Logger
}

// Challenges runs the second step of a sign-in to an account with a second
// factor: the challenge a proven password opens, the codes sent for it and
// the answer that opens the session. The challenge is state of its own,
// with its own rules (single use, five attempts, MF-06).
type Challenges struct {
	d   ChallengesDeps
	log *slog.Logger
}

// NewChallenges returns the second step of a sign-in over d.
func NewChallenges(d ChallengesDeps) (*Challenges, error) {
	if d.Ledger == nil || d.Users == nil || d.Sessions == nil || d.Clock == nil || d.Challenges == nil ||
		d.Throttle == nil || d.Credentials == nil || d.Factors == nil || d.Issuer == nil || d.Alerts == nil {
		return nil, missing("NewChallenges")
	}
	return &Challenges{d: d, log: orDiscard(d.Logger)}, nil
}

// Challenge is what a sign-in of an account with MFA answers instead of
// tokens: a short-lived, single-use token for LoginMFA and the methods
// that can answer it.
type Challenge struct {
	Token     string
	Methods   []mfa.Method
	ExpiresIn time.Duration
}

// signInMethods lists what can answer a challenge of u: the enrolled
// factors and, while any are left, backup codes. After an emailed recovery
// email is left out while any other method remains: the mailbox that
// reset the password is one factor, not two (MF-08).
func (s *Challenges) signInMethods(ctx context.Context, u user.User) ([]mfa.Method, error) {
	ms, err := s.d.Factors.signInMethods(ctx, u)
	if err != nil {
		return nil, err
	}
	recovered, err := s.d.Credentials.recovered(ctx, u.ID())
	if err != nil {
		return nil, err
	}
	if others := slices.DeleteFunc(slices.Clone(ms), func(m mfa.Method) bool { return m == mfa.MethodEmail }); !recovered.IsZero() && len(others) > 0 {
		ms = others
	}
	return ms, nil
}

// errNoMethods is an account flagged for MFA with nothing to answer a
// challenge: refusing the sign-in keeps it closed (LO-06).
var errNoMethods = errors.New("identity: account has MFA enabled but no usable factor")

// start opens the second step of a sign-in whose password was
// proven, and stores a password rehash with it. No session exists yet, and
// the challenge token is not a JWT, so nothing issued here passes as an
// access token (MF-08).
func (s *Challenges) start(ctx context.Context, u user.User, c session.Client, priorFailures int, rehash credential.PasswordHash, now time.Time) (Auth, error) {
	methods, err := s.signInMethods(ctx, u)
	if err != nil {
		return Auth{}, fmt.Errorf("login: %w", err)
	}
	if len(methods) == 0 {
		return Auth{}, fmt.Errorf("login: user %s: %w", u.ID(), errNoMethods)
	}
	raw := s.d.Factors.newChallengeToken()
	ch := mfa.Challenge{Hash: session.Hash(raw), UserID: u.ID(), Methods: methods, Client: c, PriorFailures: priorFailures,
		CreatedAt: now, ExpiresAt: now.Add(mfa.ChallengeTTL)}
	err = s.d.Ledger.commit(ctx, func(ctx context.Context) error {
		if rehash != "" {
			if err := s.d.Credentials.store(ctx, u.ID(), rehash, now); err != nil {
				return err
			}
		}
		return s.d.Challenges.Create(ctx, ch)
	})
	if err != nil {
		return Auth{}, fmt.Errorf("login: %w", err)
	}
	return Auth{Challenge: &Challenge{Token: raw, Methods: methods, ExpiresIn: mfa.ChallengeTTL}}, nil
}

// SendChallengeCode sends a code for a pending sign-in by email or SMS.
// Sending spends no attempt of the challenge, but each account and number
// has a sending budget.
func (s *Challenges) SendChallengeCode(ctx context.Context, challengeToken string, m mfa.Method) (SentCode, error) {
	if !session.WellFormed(challengeToken) {
		return SentCode{}, mfa.ErrInvalidChallenge
	}
	h := session.Hash(challengeToken)
	now := s.d.Clock.Now()
	ch, err := s.d.Challenges.ByHash(ctx, h, now)
	if err != nil {
		return SentCode{}, err
	}
	if !m.OutOfBand() || !ch.Offers(m) {
		return SentCode{}, mfa.ErrUnavailable
	}
	u, err := s.d.Users.ByID(ctx, ch.UserID)
	if err != nil {
		return SentCode{}, fmt.Errorf("send sign-in code: %w", err)
	}
	var phone string
	if m == mfa.MethodSMS {
		fs, err := s.d.Factors.list(ctx, u.ID())
		if err != nil {
			return SentCode{}, fmt.Errorf("send sign-in code: %w", err)
		}
		i := slices.IndexFunc(fs, func(f mfa.Factor) bool { return f.Method == m })
		if i < 0 {
			return SentCode{}, mfa.ErrUnavailable
		}
		phone = fs[i].Phone
	}
	code := s.d.Factors.newDigits()
	sealed, err := s.d.Factors.seal(code, challengeCodeContext(m, h))
	if err != nil {
		return SentCode{}, fmt.Errorf("send sign-in code: %w", err)
	}
	expires := now.Add(mfa.CodeTTL)
	if ch.ExpiresAt.Before(expires) {
		expires = ch.ExpiresAt
	}
	if err := s.d.Challenges.SetCode(ctx, h, m, sealed, expires); err != nil {
		return SentCode{}, fmt.Errorf("send sign-in code: %w", err)
	}
	return s.d.Factors.send(ctx, u, m, phone, code, expires)
}

// LoginMFAInput answers a sign-in challenge. Code is a TOTP code, a code
// sent by email or SMS, or a backup code; Method may name which (empty:
// inferred).
type LoginMFAInput struct {
	Token  string
	Code   string
	Method mfa.Method // the zero Method: any the code fits
	Client session.Client
}

// LoginMFA completes a sign-in with a second factor and opens a session at
// AAL2 (SE-07). Each answer spends one of the challenge's five attempts
// before the code is looked at; the fifth wrong one destroys the challenge
// and the password is needed again (MF-06). Second-factor failures also
// count toward the account's own lockout (at most 100 in a row, LG-05), and
// a password lockout refuses this step too.
func (s *Challenges) LoginMFA(ctx context.Context, in LoginMFAInput) (Auth, error) {
	in.Client = in.Client.Normalized()
	var uid user.ID
	a, err := s.loginMFA(ctx, in, &uid)
	if err != nil {
		s.d.Alerts.failedSignIn(ctx, uid, "mfa", err, in.Client)
	}
	return a, err
}

// loginMFA is LoginMFA; it sets *uid once the challenge names the account.
func (s *Challenges) loginMFA(ctx context.Context, in LoginMFAInput, uid *user.ID) (Auth, error) {
	if !session.WellFormed(in.Token) {
		return Auth{}, mfa.ErrInvalidChallenge
	}
	method := in.Method
	if err := s.d.Throttle.take(ctx, "mfa:ip:"+ipBudgetKey(in.Client.IP), s.d.Throttle.limits.LoginPerIP, time.Minute); err != nil {
		return Auth{}, err
	}
	h := session.Hash(in.Token)
	now := s.d.Clock.Now()
	ch, err := s.d.Challenges.Attempt(ctx, h, now)
	if err != nil {
		return Auth{}, fmt.Errorf("login mfa: %w", err)
	}
	*uid = ch.UserID
	u, err := s.d.Users.ByID(ctx, ch.UserID)
	if err != nil {
		return Auth{}, fmt.Errorf("login mfa: %w", err)
	}
	account := accountKey(u, "")
	if err := s.d.Throttle.refuseLocked(ctx, "login:"+account); err != nil {
		return Auth{}, err
	}
	attempt, err := s.d.Throttle.reserveAttempt(ctx, "mfa:"+account, "mfa:"+account)
	if err != nil {
		return Auth{}, err
	}
	if !u.CanSignIn() {
		return Auth{}, user.ErrDisabled
	}
	factors, err := s.d.Factors.list(ctx, u.ID())
	if err != nil {
		return Auth{}, fmt.Errorf("login mfa: %w", err)
	}
	pr, ok, err := s.d.Factors.check(ctx, codeCheck{u: u, factors: factors, code: in.Code, method: method, offered: ch.Methods,
		oob: func(_ context.Context, digits string) (proof, bool, error) {
			ok, err := s.d.Factors.sentCode(ch.CodeMethod, ch.Code, challengeCodeContext(ch.CodeMethod, h), ch.CodeExpiresAt, now, digits)
			return proof{method: ch.CodeMethod, use: spent}, ok, err // the challenge's deletion spends it
		}})
	if err != nil && !errors.Is(err, mfa.ErrMalformedCode) {
		return Auth{}, fmt.Errorf("login mfa: %w", err)
	}
	if !ok {
		return Auth{}, s.wrongChallengeCode(ctx, u, ch, attempt, in.Client)
	}
	sess, refresh := s.d.Issuer.open(u.ID(), in.Client, mfa.SessionAMR([]string{token.MethodPassword}, pr.method), now)
	err = s.d.Ledger.commit(ctx, func(ctx context.Context) error {
		if gone, err := s.d.Challenges.Delete(ctx, h); err != nil || !gone {
			return errors.Join(err, mfa.ErrInvalidChallenge) // a concurrent answer won
		}
		if used, err := pr.use(ctx); err != nil || !used {
			return errors.Join(err, errCodeRefused)
		}
		if err := s.d.Sessions.Create(ctx, sess); err != nil {
			return err
		}
		if err := s.d.Credentials.setRecovered(ctx, u.ID(), time.Time{}); err != nil && !errors.Is(err, credential.ErrNoPassword) {
			return err // a completed sign-in ends the recovery (see signInMethods)
		}
		return s.d.Ledger.record(ctx, u.ID(), now, event.UserLogin{UserID: string(u.ID()), LoginMethod: event.MethodPassword,
			IPAddress: in.Client.IP, UserAgent: in.Client.UserAgent, SessionID: string(sess.ID)})
	})
	switch {
	case errors.Is(err, errCodeRefused):
		if pr.refusalIsReplay() {
			if err := s.d.Alerts.reportReplay(ctx, u, pr.method, in.Client); err != nil {
				return Auth{}, err
			}
		}
		return Auth{}, s.wrongChallengeCode(ctx, u, ch, attempt, in.Client)
	case errors.Is(err, mfa.ErrInvalidChallenge):
		return Auth{}, mfa.ErrInvalidChallenge
	case err != nil:
		return Auth{}, fmt.Errorf("login mfa: %w", err)
	}
	if err := s.d.Throttle.succeeded(ctx, "mfa:"+account); err != nil {
		return Auth{}, err
	}
	s.d.Alerts.signedIn(ctx, u, sess, max(ch.PriorFailures, attempt-1))
	return s.d.Issuer.auth(ctx, u, sess, refresh, now)
}

// wrongChallengeCode answers a code that proved nothing. The fifth wrong
// code of a challenge destroys it and reports guessing (MF-06).
func (s *Challenges) wrongChallengeCode(ctx context.Context, u user.User, ch mfa.Challenge, attempt int, c session.Client) error {
	if err := s.d.Alerts.reportLimit(ctx, u, attempt, c, "mfa"); err != nil {
		return err
	}
	if ch.Attempts < mfa.MaxAttempts {
		return mfa.ErrInvalidCode
	}
	now := s.d.Clock.Now()
	s.log.WarnContext(ctx, "sign-in challenge destroyed after wrong codes", "user", u.ID(), "attempts", ch.Attempts)
	err := s.d.Ledger.commit(ctx, func(ctx context.Context) error {
		if _, err := s.d.Challenges.Delete(ctx, ch.Hash); err != nil {
			return err
		}
		return s.d.Ledger.record(ctx, u.ID(), now, event.UserSecurityViolation{UserID: string(u.ID()),
			ViolationType: "mfa_guessing", Severity: event.SeverityMedium,
			Details: map[string]string{"attempts": fmt.Sprint(ch.Attempts), "ipAddress": c.IP}})
	})
	if err != nil {
		return fmt.Errorf("login mfa: %w", err)
	}
	return mfa.ErrInvalidChallenge
}
