package usermgmt

import (
	"log/slog"
	"strings"

	"github.com/usermgmt/usermgmt/adapters/blocklist"
	"github.com/usermgmt/usermgmt/adapters/crypto"
	"github.com/usermgmt/usermgmt/adapters/httpapi"
	"github.com/usermgmt/usermgmt/core/identity"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/ports"
)

// identityPorts are the adapters build chose for the identity use cases.
type identityPorts struct {
	stores stores
	// events is where the use cases append events: the outbox, behind the
	// audit recorder.
	events ports.Outbox
	// gate decides the administrative calls among the identity use cases.
	gate identity.Gate
	// trail records what fails before any event would: failed sign-ins.
	trail      identity.Trail
	limits     sharedStore
	hasher     ports.PasswordHasher
	signer     ports.TokenSigner
	verifier   ports.TokenVerifier
	revoked    ports.RevokedSessions
	keys       ports.KeyRotator
	mailer     ports.Mailer
	sms        ports.SMSSender // nil: SMS off
	background ports.Background
	clock      ports.Clock
	ids        ports.IDs
}

// newIdentity wires the identity use cases over p, each with only the
// ports and shared parts it drives. The shared parts are built once, so
// every use case applies the same throttle, session policy and mail.
func newIdentity(cfg Config, p identityPorts, log *slog.Logger) (httpapi.UseCases, error) {
	st := p.stores
	// The first error is the cause: a constructor handed the nil part that
	// failed before it reports only a missing dependency.
	var first error
	check := func(err error) {
		if first == nil {
			first = err
		}
	}
	ledger, err := identity.NewLedger(st.tx, p.events, p.ids)
	check(err)
	issuer, err := identity.NewIssuer(p.signer, p.ids, identity.IssuerConfig{Issuer: cfg.issuer(), Audience: cfg.issuer(),
		AccessTTL: cfg.AccessTokenTTL, Sessions: session.Policy{AbsoluteLifetime: cfg.RefreshTokenTTL, IdleTimeout: cfg.SessionIdle,
			ReuseGrace: cfg.RefreshReuseGrace, ConcurrentWindow: cfg.RefreshConcurrentWindow}})
	check(err)
	throttle, err := identity.NewThrottle(p.limits.limiter, p.limits.failures, identity.Limits{Disabled: !cfg.RateLimit})
	check(err)
	mail, err := identity.NewMail(identity.MailDeps{Users: st.users, Tokens: st.tokens, Mailer: p.mailer, Background: p.background,
		IDs: p.ids, Clock: p.clock, Throttle: throttle, Logger: log}, identity.MailConfig{PublicURL: strings.TrimSuffix(cfg.PublicURL, "/")})
	check(err)
	alerts, err := identity.NewAlerts(identity.AlertsDeps{Ledger: ledger, Clock: p.clock, Sessions: st.sessions, Mail: mail, Trail: p.trail,
		Throttle: throttle, Logger: log})
	check(err)
	creds, err := identity.NewCredentials(identity.CredentialsDeps{Users: st.users, Credentials: st.creds, Hasher: p.hasher,
		Blocklist: blocklist.New(), Throttle: throttle, Alerts: alerts})
	check(err)
	revoker, err := identity.NewRevoker(identity.RevokerDeps{Ledger: ledger, Sessions: st.sessions, Revoked: p.revoked,
		Clock: p.clock, Logger: log})
	check(err)
	factors, err := identity.NewSecondFactors(identity.SecondFactorsDeps{Users: st.users, Factors: st.factors,
		BackupCodes: st.backupCodes, OTP: crypto.NewOTP(), Secrets: st.secrets, Mailer: p.mailer, SMS: p.sms, IDs: p.ids,
		Clock: p.clock, Throttle: throttle, Logger: log}, identity.SecondFactorsConfig{TOTPIssuer: cfg.MFAIssuer})
	check(err)
	reauth, err := identity.NewReauthenticator(identity.ReauthenticatorDeps{Clock: p.clock, Tokens: st.tokens, Credentials: creds,
		Factors: factors, Throttle: throttle, Alerts: alerts})
	check(err)
	var uc httpapi.UseCases
	uc.Accounts, err = identity.NewAccounts(identity.AccountsDeps{Ledger: ledger, Users: st.users, Sessions: st.sessions,
		Clock: p.clock, IDs: p.ids, Throttle: throttle, Credentials: creds, Mail: mail, Issuer: issuer, Factors: factors, Logger: log},
		identity.AccountsConfig{RequireVerifiedEmail: cfg.RequireEmailVerification})
	check(err)
	uc.Passwords, err = identity.NewPasswords(identity.PasswordsDeps{Ledger: ledger, Users: st.users, Clock: p.clock,
		Credentials: creds, Mail: mail, Revoker: revoker, Factors: factors})
	check(err)
	uc.Challenges, err = identity.NewChallenges(identity.ChallengesDeps{Ledger: ledger, Users: st.users, Sessions: st.sessions,
		Clock: p.clock, Challenges: st.challenges, Throttle: throttle, Credentials: creds, Factors: factors, Issuer: issuer,
		Alerts: alerts, Logger: log})
	check(err)
	uc.SignIn, err = identity.NewSignIn(identity.SignInDeps{Ledger: ledger, Sessions: st.sessions, Clock: p.clock,
		Throttle: throttle, Credentials: creds, Mail: mail, Alerts: alerts, Issuer: issuer, Challenges: uc.Challenges, Logger: log},
		identity.SignInConfig{RequireVerifiedEmail: cfg.RequireEmailVerification})
	check(err)
	uc.Sessions, err = identity.NewSessions(identity.SessionsDeps{Sessions: st.sessions, Users: st.users, Clock: p.clock,
		Verifier: p.verifier, Revoked: p.revoked, Challenges: st.challenges, Keys: p.keys, Throttle: throttle, Issuer: issuer,
		Revoker: revoker, Gate: p.gate, Logger: log})
	check(err)
	uc.MFA, err = identity.NewMFA(identity.MFADeps{Ledger: ledger, Users: st.users, Sessions: st.sessions, Clock: p.clock,
		Factors: factors, Reauth: reauth, Credentials: creds, Issuer: issuer, Revoker: revoker, Mail: mail, Gate: p.gate, Logger: log})
	check(err)
	if first != nil {
		return httpapi.UseCases{}, first
	}
	return uc, nil
}
