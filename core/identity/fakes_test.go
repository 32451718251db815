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

type env struct {
	svc     *identity.Service
	cfg     identity.Config
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

func newEnv(t *testing.T, mod ...func(*identity.Config)) *env {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	m := memory.New()
	out := memory.NewOutbox(m, event.NewEncoder("urn:test", "urn:schema:", nil))
	e := &env{clock: clock, hasher: &fakeHasher{}, store: m, outbox: out, limits: memory.NewLimits(clock), mailbox: &memory.Mailbox{},
		revoked: memory.NewRevokedSessions(clock, 16*time.Minute)}
	cfg := identity.Config{Issuer: "urn:iss", Audience: "urn:aud", AccessTTL: 15 * time.Minute, Sessions: policy,
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
	svc, err := identity.New(e.deps(e.limits), cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
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

// deps are the ports of a service over e's stores with limits: memory
// stores and the real TOTP and secret-box adapters.
func (e *env) deps(limits limitPorts) identity.Deps {
	m, tokens := e.store, fakeTokens{e.clock}
	return identity.Deps{Tx: memory.NewTransactor(m), Users: memory.NewUsers(m),
		Credentials: memory.NewCredentials(m), Sessions: memory.NewSessions(m), Outbox: e.outbox,
		Hasher: e.hasher, Blocklist: fakeBlocklist{}, Signer: tokens, Verifier: tokens, Revoked: e.revoked,
		Limiter: limits, Failures: limits, Tokens: memory.NewOneTimeTokens(m), Mailer: e.mailbox,
		Clock: e.clock, IDs: &seqIDs{}, Factors: memory.NewMFAFactors(m), BackupCodes: memory.NewBackupCodes(m),
		Challenges: memory.NewMFAChallenges(m), OTP: crypto.NewOTP(), Secrets: e.box, SMS: e.sms, Keys: e.keys,
		Background: inline{}}
}

// inline runs background work at once, so a test sees its effects (the
// mail) when the call returns; its errors are the work's own business.
type inline struct{}

func (inline) Run(_ string, work func(context.Context) error) error {
	_ = work(context.Background())
	return nil
}

// rebuild returns a service over e's stores with other limits.
func (e *env) rebuild(t *testing.T, limits limitPorts) *identity.Service {
	t.Helper()
	svc, err := identity.New(e.deps(limits), e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}
