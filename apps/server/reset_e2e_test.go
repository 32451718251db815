package main_test

import (
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
	var files []string
	deadline := time.Now().Add(10 * time.Second)
	for len(files) == 0 && time.Now().Before(deadline) {
		files, _ = filepath.Glob(filepath.Join(dir, "mail", "*.eml"))
		time.Sleep(20 * time.Millisecond)
	}
	if len(files) != 1 {
		t.Fatalf("mail files: %v\n%s", files, s.logs)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatal(err)
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
