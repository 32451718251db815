package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/usermgmt/usermgmt/adapters/blocklist"
	"github.com/usermgmt/usermgmt/adapters/crypto"
	"github.com/usermgmt/usermgmt/adapters/httpapi"
	"github.com/usermgmt/usermgmt/adapters/memory"
	"github.com/usermgmt/usermgmt/adapters/system"
	"github.com/usermgmt/usermgmt/core/admin"
	"github.com/usermgmt/usermgmt/core/auditlog"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/identity"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/ports"
)

// server is the API over memory stores and the real crypto adapters, with
// argon2 parameters cheap enough for tests.
type server struct {
	app     *fiber.App
	api     *httpapi.API
	logs    *bytes.Buffer
	mailbox *memory.Mailbox
	store   *memory.Store
}

func newServer(t *testing.T, trusted ...string) *server {
	t.Helper()
	m := memory.New()
	clock, ids := system.Clock{}, system.IDs{}
	limits := memory.NewLimits(clock)
	mailbox := &memory.Mailbox{}
	hasher, err := crypto.NewArgon2Hasher(crypto.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	box, err := crypto.NewSecretBox(make([]byte, crypto.EncryptionKeySize))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := crypto.NewKeyRing(t.Context(), memory.NewSigningKeys(m), box, clock, ids, crypto.KeyRingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := crypto.NewSigner(ring)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := crypto.NewVerifier(ring, "urn:test", "urn:test", 15*time.Minute, clock)
	if err != nil {
		t.Fatal(err)
	}
	background := system.NewBackground(2, 64, 30*time.Second, nil)
	t.Cleanup(func() { _ = background.Close(context.Background()) })
	uc := useCases(t, useCasePorts{store: m, clock: clock, ids: ids, limits: limits, mailer: mailbox, hasher: hasher,
		box: box, signer: signer, verifier: verifier, keys: ring, background: background})
	var prefixes []netip.Prefix
	for _, p := range trusted {
		prefixes = append(prefixes, netip.MustParsePrefix(p))
	}
	logs := &bytes.Buffer{}
	api, err := httpapi.New(uc, httpapi.Options{JWKS: ring.JWKS, TrustedProxies: prefixes,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return &server{app: api.App(), api: api, logs: logs, mailbox: mailbox, store: m}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// do sends a request; body may be a string (sent as is) or a value (JSON).
func (s *server) do(t *testing.T, method, path string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := s.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

const password = "correct horse battery staple"

func (s *server) register(t *testing.T, email, username string) map[string]any {
	t.Helper()
	r := s.do(t, "POST", "/v1/auth/register", map[string]string{"email": email, "username": username, "password": password})
	if r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	return r.json(t)
}

// verifyAddress follows the newest verification link mailed to email.
func (s *server) verifyAddress(t *testing.T, email string) {
	t.Helper()
	var link string
	for _, m := range s.mailbox.Messages() {
		if m.Kind == "email_verification" && m.To == email {
			link = m.Link
		}
	}
	_, tok, ok := strings.Cut(link, "#token=")
	if !ok {
		t.Fatalf("no verification link for %s", email)
	}
	if r := s.do(t, "POST", "/v1/auth/email/verify", map[string]string{"token": tok}); r.status != 204 {
		t.Fatalf("verify %s: %d %s", email, r.status, r.body)
	}
}

// wantProblem checks the RFC 9457 shape of a response (LO-01).
func wantProblem(t *testing.T, r response, status int, typ string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type %q", ct)
	}
	p := r.json(t)
	if int(p["status"].(float64)) != status {
		t.Errorf("problem status %v != HTTP %d", p["status"], status)
	}
	if typ != "" && p["type"] != httpapi.ProblemTypeBase+typ {
		t.Errorf("type %v, want %s", p["type"], httpapi.ProblemTypeBase+typ)
	}
	if p["title"] == "" || r.header.Get("X-Request-Id") == "" || p["requestId"] != r.header.Get("X-Request-Id") {
		t.Errorf("problem lacks title or request id: %s", r.body)
	}
	return p
}

func renderError(t *testing.T, err error) response {
	t.Helper()
	status, header, body := httpapi.RenderErrorForTest(t, err)
	return response{status: status, header: header, body: body}
}

// listen serves the app on a loopback port for tests that need a real
// connection (fasthttp's own limits, true parallelism) and returns its URL.
func (s *server) listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.app.Listener(ln) }()
	t.Cleanup(func() { _ = s.app.ShutdownWithTimeout(time.Second) })
	return "http://" + ln.Addr().String()
}

// useCasePorts are the adapters newServer builds the use cases over.
type useCasePorts struct {
	store      *memory.Store
	clock      ports.Clock
	ids        ports.IDs
	limits     *memory.Limits
	mailer     ports.Mailer
	hasher     ports.PasswordHasher
	box        ports.SecretBox
	signer     ports.TokenSigner
	verifier   ports.TokenVerifier
	keys       ports.KeyRotator
	background ports.Background
}

// useCases wires the identity use cases as the service does, with short
// sessions and no SMS.
func useCases(t *testing.T, p useCasePorts) httpapi.UseCases {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	m := p.store
	users, sessions, challenges, tokens := memory.NewUsers(m), memory.NewSessions(m), memory.NewMFAChallenges(m), memory.NewOneTimeTokens(m)
	revoked := memory.NewRevokedSessions(p.clock, time.Hour)
	trail, err := auditlog.New(auditlog.Deps{Log: memory.NewAuditLog(m), Clock: p.clock}, nil)
	must(err)
	// Events are audited as the service audits them.
	events := auditlog.NewRecorder(memory.NewTransactor(m), memory.NewOutbox(m, event.NewEncoder("urn:test", "urn:schema:", nil)), trail)
	ledger, err := identity.NewLedger(memory.NewTransactor(m), events, p.ids)
	must(err)
	issuer, err := identity.NewIssuer(p.signer, p.ids, identity.IssuerConfig{Issuer: "urn:test", Audience: "urn:test", AccessTTL: 15 * time.Minute,
		Sessions: session.Policy{AbsoluteLifetime: time.Hour, IdleTimeout: time.Hour, ConcurrentWindow: 50 * time.Millisecond}})
	must(err)
	throttle, err := identity.NewThrottle(p.limits, p.limits, identity.Limits{})
	must(err)
	mail, err := identity.NewMail(identity.MailDeps{Users: users, Tokens: tokens, Mailer: p.mailer, Background: p.background,
		IDs: p.ids, Clock: p.clock, Throttle: throttle}, identity.MailConfig{PublicURL: "https://id.example.com"})
	must(err)
	alerts, err := identity.NewAlerts(identity.AlertsDeps{Ledger: ledger, Clock: p.clock, Sessions: sessions, Mail: mail, Throttle: throttle,
		Trail: trail})
	must(err)
	creds, err := identity.NewCredentials(identity.CredentialsDeps{Users: users, Credentials: memory.NewCredentials(m), Hasher: p.hasher,
		Blocklist: blocklist.New(), Throttle: throttle, Alerts: alerts})
	must(err)
	revoker, err := identity.NewRevoker(identity.RevokerDeps{Ledger: ledger, Sessions: sessions, Revoked: revoked, Clock: p.clock})
	must(err)
	factors, err := identity.NewSecondFactors(identity.SecondFactorsDeps{Users: users, Factors: memory.NewMFAFactors(m),
		BackupCodes: memory.NewBackupCodes(m), OTP: crypto.NewOTP(), Secrets: p.box, Mailer: p.mailer, IDs: p.ids, Clock: p.clock,
		Throttle: throttle}, identity.SecondFactorsConfig{})
	must(err)
	reauth, err := identity.NewReauthenticator(identity.ReauthenticatorDeps{Clock: p.clock, Tokens: tokens, Credentials: creds,
		Factors: factors, Throttle: throttle, Alerts: alerts})
	must(err)
	gate, err := admin.NewAuthorizer(users, memory.NewRoles(m), trail)
	must(err)
	var uc httpapi.UseCases
	uc.Accounts, err = identity.NewAccounts(identity.AccountsDeps{Ledger: ledger, Users: users, Sessions: sessions, Clock: p.clock,
		IDs: p.ids, Throttle: throttle, Credentials: creds, Mail: mail, Issuer: issuer, Factors: factors}, identity.AccountsConfig{})
	must(err)
	uc.Passwords, err = identity.NewPasswords(identity.PasswordsDeps{Ledger: ledger, Users: users, Clock: p.clock,
		Credentials: creds, Mail: mail, Revoker: revoker, Factors: factors})
	must(err)
	uc.Challenges, err = identity.NewChallenges(identity.ChallengesDeps{Ledger: ledger, Users: users, Sessions: sessions,
		Clock: p.clock, Challenges: challenges, Throttle: throttle, Credentials: creds, Factors: factors, Issuer: issuer, Alerts: alerts})
	must(err)
	uc.SignIn, err = identity.NewSignIn(identity.SignInDeps{Ledger: ledger, Sessions: sessions, Clock: p.clock, Throttle: throttle,
		Credentials: creds, Mail: mail, Alerts: alerts, Issuer: issuer, Challenges: uc.Challenges}, identity.SignInConfig{})
	must(err)
	uc.Sessions, err = identity.NewSessions(identity.SessionsDeps{Sessions: sessions, Users: users, Clock: p.clock,
		Verifier: p.verifier, Revoked: revoked, Challenges: challenges, Keys: p.keys, Throttle: throttle, Issuer: issuer, Revoker: revoker,
		Gate: gate})
	must(err)
	uc.MFA, err = identity.NewMFA(identity.MFADeps{Ledger: ledger, Users: users, Sessions: sessions, Clock: p.clock,
		Factors: factors, Reauth: reauth, Credentials: creds, Issuer: issuer, Revoker: revoker, Mail: mail, Gate: gate})
	must(err)
	uc.Admin = adminUseCases(t, p, adminParts{auth: gate, resets: uc.Passwords, revoked: revoked, events: events, trail: trail})
	return uc
}

// adminParts are what the administration use cases share with identity's.
type adminParts struct {
	auth    *admin.Authorizer
	resets  admin.PasswordResets
	revoked ports.RevokedSessions
	events  ports.Outbox
	trail   *auditlog.Log
}

// adminUseCases wires the administration use cases over p's store.
func adminUseCases(t *testing.T, p useCasePorts, a adminParts) httpapi.AdminUseCases {
	t.Helper()
	m := p.store
	roles, directory, tx := memory.NewRoles(m), memory.NewDirectory(m), memory.NewTransactor(m)
	var uc httpapi.AdminUseCases
	var err error
	uc.Users, err = admin.NewUsers(admin.UsersDeps{Tx: tx, Users: memory.NewUsers(m), Directory: directory,
		Sessions: memory.NewSessions(m), Revoked: a.revoked, Outbox: a.events, Clock: p.clock, IDs: p.ids, Auth: a.auth,
		Resets: a.resets}, 30*24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if uc.Roles, err = admin.NewRoles(tx, roles, directory, p.clock, a.auth); err != nil {
		t.Fatal(err)
	}
	if uc.Directory, err = admin.NewDirectory(directory, p.box, a.auth); err != nil {
		t.Fatal(err)
	}
	if uc.Trail, err = admin.NewTrail(a.trail, p.box, a.auth); err != nil {
		t.Fatal(err)
	}
	return uc
}
