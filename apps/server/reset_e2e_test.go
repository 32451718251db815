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
	dir := t.TempDir()
	s := start(t, "USERMGMT_DATA_DIR="+dir, "USERMGMT_PUBLIC_URL=https://id.example.com")
	if r := s.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": "ada@example.com", "username": "ada", "password": pw}); r.status != 201 {
		t.Fatalf("register: %d", r.status)
	}
	if r := s.call(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": "ada@example.com"}); r.status != 202 {
		t.Fatalf("forgot: %d %s", r.status, r.raw)
	}
	// Registration mailed a verification link too: find the reset message.
	var msg *mail.Message
	deadline := time.Now().Add(10 * time.Second)
	for msg == nil && time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(dir, "mail", "*.eml"))
		for _, name := range files {
			raw, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			m, err := mail.ReadMessage(bytes.NewReader(raw))
			if err == nil && m.Header.Get("Subject") == "Reset your password" {
				msg = m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if msg == nil {
		t.Fatalf("no reset mail in %s\n%s", dir, s.logs)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	part, err := multipart.NewReader(msg.Body, params["boundary"]).NextPart() // decodes quoted-printable
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(part)
	link := regexp.MustCompile(`https://id\.example\.com/reset-password#token=[A-Za-z0-9_-]{43}`).FindString(string(text))
	if link == "" || msg.Header.Get("To") == "" {
		t.Fatalf("no reset link in the mail:\n%s", text)
	}
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
