package identity_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/crypto"
	"github.com/usermgmt/usermgmt/adapters/memory"
	"github.com/usermgmt/usermgmt/core/admin"
	"github.com/usermgmt/usermgmt/core/auditlog"
	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/identity"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/ports"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// seqIDs makes predictable ids and distinct secrets.
type seqIDs struct{ n atomic.Int64 }

func (s *seqIDs) NewID() string {
	return fmt.Sprintf("00000000-0000-7000-8000-%012d", s.n.Add(1))
}

func (s *seqIDs) NewSecret(n int) []byte {
	b := make([]byte, n)
	copy(b, fmt.Sprintf("secret-%d", s.n.Add(1)))
	return b
}

// fakeHasher stores "hash:" + password and counts verifications, so tests
// can see that unknown accounts cost a verification too.
type fakeHasher struct{ verifies atomic.Int64 }

func (h *fakeHasher) Hash(_ context.Context, pw string) (credential.PasswordHash, error) {
	return credential.PasswordHash("hash:" + pw), nil
}

func (h *fakeHasher) Verify(_ context.Context, pw string, stored credential.PasswordHash) (bool, bool, error) {
	h.verifies.Add(1)
	return stored != "" && string(stored) == "hash:"+pw, false, nil
}

type fakeBlocklist struct{}

func (fakeBlocklist) Blocked(_ context.Context, pw string) (bool, error) {
	return strings.EqualFold(pw, "password123"), nil
}

// fakeTokens signs claims as base64 JSON; enough to test the use cases,
// which never look inside a token.
type fakeTokens struct{ clock ports.Clock }

func (f fakeTokens) Sign(_ context.Context, c token.Claims) (string, error) {
	b, err := json.Marshal(c)
	return "fake." + base64.RawURLEncoding.EncodeToString(b), err
}

func (f fakeTokens) Verify(_ context.Context, raw string) (token.Claims, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(raw, "fake."))
	if err != nil {
		return token.Claims{}, token.ErrInvalid
	}
	var c token.Claims
	if err := json.Unmarshal(b, &c); err != nil || !f.clock.Now().Before(c.ExpiresAt) {
		return token.Claims{}, token.ErrInvalid
	}
	return c, nil
}

// config gathers the settings of every use case, so a test changes any
// of them in one place.
type config struct {
	Issuer, Audience     string
	AccessTTL            time.Duration
	Sessions             session.Policy
	Limits               identity.Limits
	PublicURL            string
	RequireVerifiedEmail bool
	TOTPIssuer           string
}

// useCases gathers the use-case types, so a test calls any use case as
// e.svc.Login(...), whichever type runs it.
type useCases struct {
	*identity.Accounts
	*identity.Passwords
	*identity.SignIn
	*identity.Challenges
	*identity.Sessions
	*identity.MFA
}

type env struct {
	svc     useCases
	cfg     config
	clock   *fakeClock
	hasher  *fakeHasher
	store   *memory.Store
	outbox  *memory.Outbox
	revoked *memory.RevokedSessions
	limits  *memory.Limits
	mailbox *memory.Mailbox
	sms     *memory.SMSBox
	box     *crypto.SecretBox
	keys    *recordingRotator
}

var policy = session.Policy{AbsoluteLifetime: 720 * time.Hour, IdleTimeout: 24 * time.Hour}

func newEnv(t *testing.T, mod ...func(*config)) *env {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	m := memory.New()
	out := memory.NewOutbox(m, event.NewEncoder("urn:test", "urn:schema:", nil))
	e := &env{clock: clock, hasher: &fakeHasher{}, store: m, outbox: out, limits: memory.NewLimits(clock), mailbox: &memory.Mailbox{},
		revoked: memory.NewRevokedSessions(clock, 16*time.Minute)}
	cfg := config{Issuer: "urn:iss", Audience: "urn:aud", AccessTTL: 15 * time.Minute, Sessions: policy,
		PublicURL: "https://id.example.com"}
	for _, f := range mod {
		f(&cfg)
	}
	e.cfg = cfg
	box, err := crypto.NewSecretBox(make([]byte, crypto.EncryptionKeySize))
	if err != nil {
		t.Fatal(err)
	}
	e.box, e.sms, e.keys = box, &memory.SMSBox{}, &recordingRotator{}
	e.svc = e.build(t, e.limits)
	return e
}

// events returns the types of all events in the outbox, oldest first.
func (e *env) events(t *testing.T) []string {
	t.Helper()
	recs, err := e.outbox.Claim(t.Context(), 1000, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	types := make([]string, len(recs))
	for i, r := range recs {
		types[i] = r.Type
	}
	return types
}

// payload returns the data of the last event of type typ.
func (e *env) payload(t *testing.T, typ string) map[string]any {
	t.Helper()
	recs, _ := e.outbox.Claim(t.Context(), 1000, time.Time{}, time.Time{})
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Type == typ {
			var env struct{ Data map[string]any }
			if err := json.Unmarshal(recs[i].Payload, &env); err != nil {
				t.Fatal(err)
			}
			return env.Data
		}
	}
	t.Fatalf("no %s event", typ)
	return nil
}

const goodPassword = "correct horse battery staple"

func (e *env) register(t *testing.T, email, username string) identity.Auth {
	t.Helper()
	a, err := e.svc.Register(t.Context(), identity.RegisterInput{Email: email, Username: username, Password: goodPassword,
		Client: session.Client{IP: "192.0.2.1", UserAgent: "test"}})
	if err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
	return a
}

func memoryUsers(e *env) *memory.Users { return memory.NewUsers(e.store) }

// limitPorts are the limit stores a service runs over.
type limitPorts interface {
	ports.RateLimiter
	ports.FailureCounter
}

// build wires the use cases over e's stores with limits: memory stores
// and the real TOTP and secret-box adapters.
func (e *env) build(t *testing.T, limits limitPorts) useCases {
	t.Helper()
	m, tokens, ids, clock := e.store, fakeTokens{e.clock}, &seqIDs{}, e.clock
	users, sessions, challenges := memory.NewUsers(m), memory.NewSessions(m), memory.NewMFAChallenges(m)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ledger, err := identity.NewLedger(memory.NewTransactor(m), e.outbox, ids)
	must(err)
	issuer, err := identity.NewIssuer(tokens, ids, identity.IssuerConfig{Issuer: e.cfg.Issuer, Audience: e.cfg.Audience,
		AccessTTL: e.cfg.AccessTTL, Sessions: e.cfg.Sessions})
	must(err)
	throttle, err := identity.NewThrottle(limits, limits, e.cfg.Limits)
	must(err)
	mail, err := identity.NewMail(identity.MailDeps{Users: users, Tokens: memory.NewOneTimeTokens(m), Mailer: e.mailbox,
		Background: inline{}, IDs: ids, Clock: clock, Throttle: throttle}, identity.MailConfig{PublicURL: e.cfg.PublicURL})
	must(err)
	trail, err := auditlog.New(auditlog.Deps{Log: memory.NewAuditLog(m), Clock: clock}, nil)
	if err != nil {
		t.Fatal(err)
	}
	alerts, err := identity.NewAlerts(identity.AlertsDeps{Ledger: ledger, Clock: clock, Sessions: sessions, Mail: mail, Throttle: throttle,
		Trail: trail})
	must(err)
	creds, err := identity.NewCredentials(identity.CredentialsDeps{Users: users, Credentials: memory.NewCredentials(m),
		Hasher: e.hasher, Blocklist: fakeBlocklist{}, Throttle: throttle, Alerts: alerts})
	must(err)
	revoker, err := identity.NewRevoker(identity.RevokerDeps{Ledger: ledger, Sessions: sessions, Revoked: e.revoked, Clock: clock})
	must(err)
	factors, err := identity.NewSecondFactors(identity.SecondFactorsDeps{Users: users, Factors: memory.NewMFAFactors(m),
		BackupCodes: memory.NewBackupCodes(m), OTP: crypto.NewOTP(), Secrets: e.box, Mailer: e.mailbox, SMS: e.sms,
		IDs: ids, Clock: clock, Throttle: throttle}, identity.SecondFactorsConfig{TOTPIssuer: e.cfg.TOTPIssuer})
	must(err)
	reauth, err := identity.NewReauthenticator(identity.ReauthenticatorDeps{Clock: clock, Tokens: memory.NewOneTimeTokens(m),
		Credentials: creds, Factors: factors, Throttle: throttle, Alerts: alerts})
	must(err)
	var uc useCases
	uc.Accounts, err = identity.NewAccounts(identity.AccountsDeps{Ledger: ledger, Users: users, Sessions: sessions, Clock: clock,
		IDs: ids, Throttle: throttle, Credentials: creds, Mail: mail, Issuer: issuer, Factors: factors},
		identity.AccountsConfig{RequireVerifiedEmail: e.cfg.RequireVerifiedEmail})
	must(err)
	uc.Passwords, err = identity.NewPasswords(identity.PasswordsDeps{Ledger: ledger, Users: users, Clock: clock,
		Credentials: creds, Mail: mail, Revoker: revoker, Factors: factors})
	must(err)
	uc.Challenges, err = identity.NewChallenges(identity.ChallengesDeps{Ledger: ledger, Users: users, Sessions: sessions,
		Clock: clock, Challenges: challenges, Throttle: throttle, Credentials: creds, Factors: factors, Issuer: issuer, Alerts: alerts})
	must(err)
	uc.SignIn, err = identity.NewSignIn(identity.SignInDeps{Ledger: ledger, Sessions: sessions, Clock: clock, Throttle: throttle,
		Credentials: creds, Mail: mail, Alerts: alerts, Issuer: issuer, Challenges: uc.Challenges},
		identity.SignInConfig{RequireVerifiedEmail: e.cfg.RequireVerifiedEmail})
	must(err)
	gate, err := admin.NewAuthorizer(users, memory.NewRoles(m), trail)
	if err != nil {
		t.Fatal(err)
	}
	uc.Sessions, err = identity.NewSessions(identity.SessionsDeps{Gate: gate, Sessions: sessions, Users: users, Clock: clock, Verifier: tokens,
		Revoked: e.revoked, Challenges: challenges, Keys: e.keys, Throttle: throttle, Issuer: issuer, Revoker: revoker})
	must(err)
	uc.MFA, err = identity.NewMFA(identity.MFADeps{Gate: gate, Ledger: ledger, Users: users, Sessions: sessions, Clock: clock,
		Factors: factors, Reauth: reauth, Credentials: creds, Issuer: issuer, Revoker: revoker, Mail: mail})
	must(err)
	return uc
}

// inline runs background work at once, so a test sees its effects (the
// mail) when the call returns; its errors are the work's own business.
type inline struct{}

func (inline) Run(_ string, work func(context.Context) error) error {
	_ = work(context.Background())
	return nil
}

// rebuild returns the use cases over e's stores with other limits.
func (e *env) rebuild(t *testing.T, limits limitPorts) useCases {
	t.Helper()
	return e.build(t, limits)
}

// factors is the factor store of e, for tests that look at it directly.
func (e *env) factors() ports.MFAFactors { return memory.NewMFAFactors(e.store) }
