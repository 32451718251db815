package main_test

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
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
	re := regexp.MustCompile(link)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(p.dataDir, "mail", "*.eml"))
		var found string
		for _, name := range files { // names sort by time: the last match is the newest
			raw, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			m, err := mail.ReadMessage(bytes.NewReader(raw))
			if err != nil || m.Header.Get("Subject") != subject || m.Header.Get("To") == "" {
				continue
			}
			_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
			if err != nil {
				t.Fatal(err)
			}
			part, err := multipart.NewReader(m.Body, params["boundary"]).NextPart() // decodes quoted-printable
			if err != nil {
				t.Fatal(err)
			}
			text, _ := io.ReadAll(part)
			if l := re.FindString(string(text)); l != "" {
				found = l
			}
		}
		if found != "" {
			return found
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no mail %q with a link in %s\n%s", subject, p.dataDir, p.logs)
	return ""
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
