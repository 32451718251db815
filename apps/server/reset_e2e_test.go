package main_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/apps/internal/mailfile"
)

// TestE2E_PasswordResetByMail_LG07: on the embedded default the reset mail
// lands in the data directory (never in the log); its link works once.
func TestE2E_PasswordResetByMail_LG07(t *testing.T) {
	s := start(t, "USERMGMT_PUBLIC_URL=https://id.example.com")
	if r := s.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": "ada@example.com", "username": "ada", "password": pw}); r.status != 201 {
		t.Fatalf("register: %d", r.status)
	}
	if r := s.call(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": "ada@example.com"}); r.status != 202 {
		t.Fatalf("forgot: %d %s", r.status, r.raw)
	}
	// Registration mailed a verification link too: find the reset message.
	link := s.mailedLink(t, "Reset your password", `https://id\.example\.com/reset-password#token=[A-Za-z0-9_-]{43}`)
	if strings.Contains(s.logs.String(), link) {
		t.Fatal("the reset link reached the log (LO-02)")
	}
	tok := link[strings.Index(link, "=")+1:]
	if r := s.call(t, "POST", "/v1/auth/password/reset", "", map[string]string{"token": tok, "newPassword": "a fresh long passphrase"}); r.status != 204 {
		t.Fatalf("reset: %d %s", r.status, r.raw)
	}
	if r := s.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "ada", "password": "a fresh long passphrase"}); r.status != 200 {
		t.Fatalf("login with the new password: %d", r.status)
	}
}

// mailedLink waits for the newest message with subject in the data
// directory's mail folder (the embedded default's outbox for mail) and
// returns the first match of link in its text part.
func (p *proc) mailedLink(t *testing.T, subject, link string) string {
	t.Helper()
	found, ok := mailfile.Find(p.dataDir, "", subject, regexp.MustCompile(link), 10*time.Second)
	if !ok {
		t.Fatalf("no mail %q with a link in %s\n%s", subject, p.dataDir, p.logs)
	}
	return found
}

// verifyAddress follows the newest verification link of a server whose
// public URL is the default.
func (p *proc) verifyAddress(t *testing.T) {
	t.Helper()
	link := p.mailedLink(t, "Confirm your email address", `/verify-email#token=[A-Za-z0-9_-]{43}`)
	if r := p.call(t, "POST", "/v1/auth/email/verify", "", map[string]string{"token": link[len(link)-43:]}); r.status != 204 {
		t.Fatalf("verify address: %d %s", r.status, r.raw)
	}
}
