package usermgmt_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/usermgmt/usermgmt/pkg/usermgmt"
)

const pw = "correct horse battery staple"

func newService(t *testing.T) *usermgmt.Service {
	t.Helper()
	svc, err := usermgmt.NewInMemory(usermgmt.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

func TestEmbedded_UseCasesAsMethods(t *testing.T) {
	svc := newService(t)
	ctx := t.Context()
	u, tok, err := svc.Register(ctx, "ada@example.com", "ada", pw, "Ada", usermgmt.Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "ada@example.com" || u.Role != "user" || tok.AccessToken == "" {
		t.Fatalf("register: %+v %+v", u, tok)
	}
	if _, _, err := svc.Register(ctx, "ADA@example.com", "other", pw, "", usermgmt.Client{}); !usermgmt.IsConflict(err) {
		t.Fatalf("duplicate: %v", err)
	}
	_, _, err = svc.Register(ctx, "bad", "x", "short", "", usermgmt.Client{})
	if !usermgmt.IsInvalid(err) || len(usermgmt.FieldErrors(err)) != 3 {
		t.Fatalf("invalid: %v %v", err, usermgmt.FieldErrors(err))
	}
	p, err := svc.Verify(ctx, tok.AccessToken)
	if err != nil || p.UserID != u.ID {
		t.Fatalf("verify: %+v %v", p, err)
	}
	if _, _, err := svc.Login(ctx, "ada", "wrong password", usermgmt.Client{}); !usermgmt.IsUnauthenticated(err) {
		t.Fatalf("wrong password: %v", err)
	}
	next, err := svc.Refresh(ctx, tok.RefreshToken, usermgmt.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Logout(ctx, p, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Verify(ctx, next.AccessToken); !usermgmt.IsUnauthenticated(err) {
		t.Fatalf("verify after logout: %v", err)
	}
	if n, err := svc.RelayOnce(ctx); err != nil || n == 0 {
		t.Fatalf("relay published %d events: %v", n, err)
	}
}

func TestEmbedded_MountOnHostFiberApp(t *testing.T) {
	svc := newService(t)
	// The host has its own error handler; the mounted API still answers
	// problem+json, and host routes keep working beside it.
	host := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error { return c.Status(418).SendString("host") }})
	host.Get("/host", func(c *fiber.Ctx) error { return c.SendString("ok") })
	svc.Mount(host.Group("/auth"))
	res, err := host.Test(httptest.NewRequest("POST", "/auth/v1/auth/login", strings.NewReader(`{"identifier":"x","password":"y"}`)), -1)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 415 || res.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("mounted route: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	res, _ = host.Test(httptest.NewRequest("GET", "/host", nil), -1)
	if b, _ := io.ReadAll(res.Body); string(b) != "ok" {
		t.Fatalf("host route: %s", b)
	}
}

func TestEmbedded_NetHTTPHandler(t *testing.T) {
	svc := newService(t)
	mux := http.NewServeMux()
	mux.Handle("/", svc.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(b), `"kty":"OKP"`) {
		t.Fatalf("jwks over net/http: %d %s", res.StatusCode, b)
	}
}

func TestConfig_FromEnv(t *testing.T) {
	env := map[string]string{
		"USERMGMT_ACCESS_TOKEN_TTL":  "20m",
		"USERMGMT_ARGON2_MEMORY_KIB": "1024",
		"USERMGMT_TRUSTED_PROXIES":   "10.0.0.0/8,nonsense",
		"USERMGMT_RATE_LIMIT":        "maybe",
		"USERMGMT_ADMIN_EMAIL":       "root@example.com",
	}
	_, err := usermgmt.FromEnv(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, name := range []string{"USERMGMT_ACCESS_TOKEN_TTL", "USERMGMT_ARGON2_MEMORY_KIB", "USERMGMT_TRUSTED_PROXIES", "USERMGMT_RATE_LIMIT", "USERMGMT_ADMIN_EMAIL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
	cfg, err := usermgmt.FromEnv(func(string) string { return "" })
	if err != nil || cfg.DataDir != "./data" || !cfg.AutoMigrate {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
	pg, err := usermgmt.FromEnv(func(k string) string {
		return map[string]string{"USERMGMT_DATABASE_URL": "postgres://u@h/db",
			"USERMGMT_ENCRYPTION_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}[k]
	})
	if err != nil || pg.AutoMigrate {
		t.Fatalf("postgres defaults to no auto-migrate: %+v %v", pg.AutoMigrate, err)
	}
	// Instances sharing a database must share the key that seals TOTP seeds.
	_, err = usermgmt.FromEnv(func(k string) string {
		return map[string]string{"USERMGMT_DATABASE_URL": "postgres://u@h/db"}[k]
	})
	if err == nil || !strings.Contains(err.Error(), "USERMGMT_ENCRYPTION_KEY") {
		t.Fatalf("postgres without an encryption key: %v", err)
	}
	for name, env := range map[string]map[string]string{
		"USERMGMT_ENCRYPTION_KEY":  {"USERMGMT_ENCRYPTION_KEY": "dG9vIHNob3J0"},
		"USERMGMT_SMS_WEBHOOK_URL": {"USERMGMT_SMS_WEBHOOK_URL": "http://sms.example.com/hook", "USERMGMT_SMS_WEBHOOK_SECRET": "a secret long enough"},
		"USERMGMT_MFA_ISSUER":      {"USERMGMT_MFA_ISSUER": "bad:issuer"},
	} {
		if _, err := usermgmt.FromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: %v, want an error naming %s", env, err, name)
		}
	}
}

type sink struct {
	mu     sync.Mutex
	events []usermgmt.Event
}

func (s *sink) Publish(_ context.Context, evs []usermgmt.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, evs...)
	return nil
}

func TestEmbedded_EventSinkGetsEnvelopes(t *testing.T) {
	var got sink
	svc, err := usermgmt.NewInMemory(usermgmt.DefaultConfig(), usermgmt.WithEventSink(&got))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	u, _, err := svc.Register(t.Context(), "ada@example.com", "ada", pw, "", usermgmt.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RelayOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(got.events) != 1 || got.events[0].Type != "user.created" || got.events[0].Key != u.ID {
		t.Fatalf("events: %+v", got.events)
	}
	var env map[string]any
	if err := json.Unmarshal(got.events[0].Envelope, &env); err != nil || env["specversion"] != "1.0" || env["subject"] != u.ID {
		t.Fatalf("envelope: %s", got.events[0].Envelope)
	}
}

// TestEmbedded_MFA: a host drives the second-factor flow through the
// facade; a host that ignores MFA sees a failed sign-in, never a session.
func TestEmbedded_MFA(t *testing.T) {
	mail := &linkMailer{}
	svc, err := usermgmt.NewInMemory(usermgmt.DefaultConfig(), usermgmt.WithMailer(mail))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	ctx := t.Context()
	_, tok, err := svc.Register(ctx, "ada@example.com", "ada", pw, "", usermgmt.Client{})
	if err != nil {
		t.Fatal(err)
	}
	// A second factor needs a verified address.
	if err := svc.VerifyEmail(ctx, mail.token(t)); err != nil {
		t.Fatal(err)
	}
	p, err := svc.Verify(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	setup, err := svc.BeginTOTP(ctx, p, pw, "")
	if err != nil {
		t.Fatal(err)
	}
	code, err := usermgmt.TOTPCode(setup.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	backup, _, err := svc.ConfirmMFA(ctx, p, "totp", code)
	if err != nil || len(backup) != 10 {
		t.Fatalf("confirm: %d codes, %v", len(backup), err)
	}
	_, got, err := svc.Login(ctx, "ada", pw, usermgmt.Client{})
	ch, ok := usermgmt.AsMFARequired(err)
	if !ok || got.AccessToken != "" || !usermgmt.IsUnauthenticated(err) || ch.Token == "" {
		t.Fatalf("login of an MFA account: %+v, %v", got, err)
	}
	u, got, err := svc.LoginMFA(ctx, ch.Token, backup[0], usermgmt.Client{})
	if err != nil || got.AccessToken == "" || !u.MFAEnabled {
		t.Fatalf("login mfa: %+v %+v %v", u, got, err)
	}
}

// linkMailer is a host's mail system that keeps the last verification link.
type linkMailer struct {
	mu   sync.Mutex
	link string
}

func (m *linkMailer) SendPasswordReset(context.Context, string, string, time.Time) error { return nil }
func (m *linkMailer) SendSignInCode(context.Context, string, string, time.Time) error    { return nil }
func (m *linkMailer) SendSecurityNotice(context.Context, string, usermgmt.SecurityNotice) error {
	return nil
}

func (m *linkMailer) SendEmailVerification(_ context.Context, _, link string, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.link = link
	return nil
}

func (m *linkMailer) token(t *testing.T) string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	_, tok, ok := strings.Cut(m.link, "#token=")
	if !ok {
		t.Fatalf("no verification link (%q)", m.link)
	}
	return tok
}

// slowMailer holds every reset mail until released.
type slowMailer struct {
	linkMailer
	release chan struct{}
	sent    chan string
}

func (m *slowMailer) SendPasswordReset(_ context.Context, to, _ string, _ time.Time) error {
	<-m.release
	m.sent <- to
	return nil
}

// TestEmbedded_MailedLinksAreProtected_LG01_LG03: a host that calls the
// facade gets what the HTTP API gets: the answer comes before the mail
// (so it cannot tell an account by timing), the client's budget of
// mailed-link requests holds, and Close waits for mail it accepted.
func TestEmbedded_MailedLinksAreProtected_LG01_LG03(t *testing.T) {
	mail := &slowMailer{release: make(chan struct{}), sent: make(chan string, 1)}
	svc, err := usermgmt.NewInMemory(usermgmt.DefaultConfig(), usermgmt.WithMailer(mail))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, _, err := svc.Register(ctx, "ada@example.com", "ada", pw, "", usermgmt.Client{}); err != nil {
		t.Fatal(err)
	}
	client := usermgmt.Client{IP: "198.51.100.7"}
	// The mailer blocks, yet the request returns: the work is detached.
	if err := svc.RequestPasswordReset(ctx, "ada@example.com", client); err != nil {
		t.Fatal(err)
	}
	for range 19 {
		if err := svc.RequestPasswordReset(ctx, "nobody@example.com", client); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.ResendVerification(ctx, "nobody@example.com", client); !usermgmt.IsRateLimited(err) {
		t.Fatalf("the 21st mailed-link request from one address: %v", err)
	}
	if err := svc.RequestPasswordReset(ctx, "nobody@example.com", usermgmt.Client{IP: "198.51.100.8"}); err != nil {
		t.Fatalf("another client: %v", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- svc.Close() }()
	close(mail.release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	select {
	case to := <-mail.sent:
		if to != "ada@example.com" {
			t.Fatalf("reset mail to %s", to)
		}
	default:
		t.Fatal("Close returned before the accepted reset mail was sent")
	}
}

func TestEmbedded_Profile(t *testing.T) {
	svc := newService(t)
	ctx := t.Context()
	_, tok, err := svc.Register(ctx, "ada@example.com", "ada", pw, "", usermgmt.Client{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Verify(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	avatar, locale, zone := "https://cdn.example.com/ada.png", "pt-br", "America/Sao_Paulo"
	u, err := svc.UpdateMe(ctx, p, usermgmt.ProfileUpdate{AvatarURL: &avatar, Locale: &locale, TimeZone: &zone})
	if err != nil {
		t.Fatal(err)
	}
	if me, err := svc.Me(ctx, p); err != nil || me.AvatarURL != avatar || me.Locale != "pt-BR" || me.TimeZone != zone || !me.UpdatedAt.Equal(u.UpdatedAt) {
		t.Fatalf("me: %+v %v", me, err)
	}
	bad := "Local"
	_, err = svc.UpdateMe(ctx, p, usermgmt.ProfileUpdate{TimeZone: &bad})
	if _, named := usermgmt.FieldErrors(err)["timeZone"]; !usermgmt.IsInvalid(err) || !named {
		t.Errorf("time zone Local: %v", err)
	}
}
