package mail

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/ports"
)

const (
	testLink = "https://id.example.com/password/reset?token=Zm9vYmFyLWJhei1xdXV4LTEyMzQ1Njc4OTA_-abcdefghijklmnopqrstuvwxyz0123456789"
	testFrom = "usermgmt <no-reply@example.com>"
)

var testExpires = time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// parsed is a message split into its headers and decoded parts.
type parsed struct {
	header mail.Header
	text   string
	html   string
}

// parse checks raw is a CRLF-only multipart/alternative message and decodes it.
func parse(t *testing.T, raw []byte) parsed {
	t.Helper()
	if bytes.Count(raw, []byte("\n")) != bytes.Count(raw, []byte("\r\n")) {
		t.Fatal("message has bare LF line endings")
	}
	if bytes.Count(raw, []byte("\r")) != bytes.Count(raw, []byte("\r\n")) {
		t.Fatal("message has bare CR")
	}
	for line := range strings.SplitSeq(string(raw), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line longer than 78 characters: %q", line)
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	p := parsed{header: m.Header}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var types []string
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("NextPart: %v", err)
		}
		b, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		ct := part.Header.Get("Content-Type")
		types = append(types, ct)
		switch ct {
		case "text/plain; charset=utf-8":
			p.text = string(b)
		case "text/html; charset=utf-8":
			p.html = string(b)
		}
	}
	if len(types) != 2 || p.text == "" || p.html == "" {
		t.Fatalf("parts %q, want text/plain then text/html", types)
	}
	return p
}

func TestRender(t *testing.T) {
	now := time.Date(2026, 3, 3, 5, 6, 7, 0, time.UTC)
	c, err := newComposer(options{from: testFrom, clock: fixedClock{now}})
	if err != nil {
		t.Fatal(err)
	}
	for kind, subject := range map[string]string{
		kindPasswordReset:     "Reset your password",
		kindEmailVerification: "Confirm your email address",
	} {
		t.Run(kind, func(t *testing.T) {
			m, err := c.render(kind, "alice@example.org", linkContent(testLink, testExpires))
			if err != nil {
				t.Fatal(err)
			}
			if m.from != "no-reply@example.com" || m.to != "alice@example.org" {
				t.Errorf("envelope %q -> %q", m.from, m.to)
			}
			p := parse(t, m.raw)
			checkMessage(t, p, subject, "alice@example.org", testLink)
			if got := p.header.Get("Date"); got != now.Format(time.RFC1123Z) {
				t.Errorf("Date %q", got)
			}
		})
	}
	if _, err := c.render("nope", "alice@example.org", linkContent(testLink, testExpires)); err == nil {
		t.Error("unknown kind rendered")
	}
}

// checkMessage asserts the headers and both parts of a rendered message.
func checkMessage(t *testing.T, p parsed, subject, to, link string) {
	t.Helper()
	for k, want := range map[string]string{
		"From":           `"usermgmt" <no-reply@example.com>`,
		"To":             "<" + to + ">",
		"Subject":        subject,
		"Mime-Version":   "1.0",
		"Auto-Submitted": "auto-generated",
	} {
		if got := p.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if id := p.header.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID %q", id)
	}
	if _, err := p.header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	expires := "Wed, 04 Mar 2026 04:06:07 UTC"
	for name, body := range map[string]string{"text": p.text, "html": p.html} {
		for _, want := range []string{expires, "If you did not ask for this, ignore this message", "usermgmt"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s part lacks %q:\n%s", name, want, body)
			}
		}
	}
	if strings.Count(p.text, "\r\n"+link+"\r\n") != 1 {
		t.Errorf("text part lacks the link on a line of its own:\n%s", p.text)
	}
	if strings.Count(p.html, `href="`+html.EscapeString(link)+`"`) != 1 {
		t.Errorf("HTML part lacks the link:\n%s", p.html)
	}
}

func TestRenderRejectsRecipients(t *testing.T) {
	c, err := newComposer(options{from: testFrom, clock: fixedClock{time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{
		"a@b.co\r\nBcc: evil@x.io",
		"a@b.co\nBcc: evil@x.io",
		"a@b.co\r",
		"Alice <a@b.co>",
		"<a@b.co>",
		"a@b.co, evil@x.io",
		"a@b.co (comment)",
		"not-an-address",
		"",
	} {
		if _, err := c.render(kindPasswordReset, to, linkContent(testLink, testExpires)); !errors.Is(err, errRecipient) {
			t.Errorf("render(to=%q) = %v, want errRecipient", to, err)
		}
	}
	for _, link := range []string{"javascript:alert(1)", "/relative", "https://x.io/\r\nBcc: y", ""} {
		if _, err := c.render(kindPasswordReset, "a@b.co", linkContent(link, testExpires)); err == nil {
			t.Errorf("render(link=%q) accepted", link)
		}
	}
}

// smtpServer is just enough of an SMTP server: no STARTTLS, AUTH PLAIN
// accepted, every message captured.
type smtpServer struct {
	ln         net.Listener
	rejectRcpt bool
	rejectData string // when set, the reply to the end of DATA, as a 554
	wg         sync.WaitGroup

	mu    sync.Mutex
	conns int
	auths []string
	msgs  [][]byte
}

func startSMTP(t *testing.T, configure func(*smtpServer)) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln}
	if configure != nil {
		configure(s)
	}
	s.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			s.wg.Go(func() { s.handle(conn) })
		}
	})
	t.Cleanup(func() { _ = ln.Close(); s.wg.Wait() })
	return s
}

func (s *smtpServer) port() string {
	return s.ln.Addr().(*net.TCPAddr).AddrPort().String()[len("127.0.0.1:"):]
}

func (s *smtpServer) handle(conn net.Conn) {
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	reply := func(lines string) { _, _ = io.WriteString(conn, lines) }
	reply("220 test ESMTP\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			reply("250-test\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n")
		case "HELO", "MAIL", "RSET", "NOOP":
			reply("250 ok\r\n")
		case "AUTH":
			s.mu.Lock()
			s.auths = append(s.auths, arg)
			s.mu.Unlock()
			reply("235 2.7.0 ok\r\n")
		case "RCPT":
			if s.rejectRcpt {
				reply("550 5.1.1 " + arg + ": no such user\r\n")
				continue
			}
			reply("250 ok\r\n")
		case "DATA":
			reply("354 go ahead\r\n")
			var msg []byte
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				msg = append(msg, strings.TrimPrefix(l, ".")...) // undo dot-stuffing
			}
			if s.rejectData != "" {
				reply("554 5.7.1 " + s.rejectData + "\r\n")
				continue
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, msg)
			s.mu.Unlock()
			reply("250 queued\r\n")
		case "QUIT":
			reply("221 bye\r\n")
			return
		default:
			reply("502 not implemented\r\n")
		}
	}
}

func (s *smtpServer) snapshot() (conns int, auths []string, msgs [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns, append([]string(nil), s.auths...), append([][]byte(nil), s.msgs...)
}

func TestSMTPSendsPasswordReset(t *testing.T) {
	srv := startSMTP(t, nil)
	m, err := NewSMTP("smtp://127.0.0.1:"+srv.port()+"?tls=off", testFrom)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SendPasswordReset(t.Context(), "alice@example.org", testLink, testExpires); err != nil {
		t.Fatal(err)
	}
	_, auths, msgs := srv.snapshot()
	if len(msgs) != 1 || len(auths) != 0 {
		t.Fatalf("server got %d messages, %d AUTHs", len(msgs), len(auths))
	}
	checkMessage(t, parse(t, msgs[0]), "Reset your password", "alice@example.org", testLink)
}

func TestSMTPAuthOnLoopbackWithoutTLS(t *testing.T) {
	srv := startSMTP(t, nil)
	// No tls=off: plain is allowed because the host is a loopback address.
	m, err := NewSMTP("smtp://bob:s3cret@127.0.0.1:"+srv.port(), testFrom)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SendEmailVerification(t.Context(), "alice@example.org", testLink, testExpires); err != nil {
		t.Fatal(err)
	}
	_, auths, msgs := srv.snapshot()
	if len(msgs) != 1 || len(auths) != 1 || !strings.HasPrefix(auths[0], "PLAIN ") {
		t.Fatalf("server got %d messages, AUTHs %q", len(msgs), auths)
	}
	checkMessage(t, parse(t, msgs[0]), "Confirm your email address", "alice@example.org", testLink)
}

func TestSMTPRejectsHeaderInjection(t *testing.T) {
	srv := startSMTP(t, nil)
	m, err := NewSMTP("smtp://127.0.0.1:"+srv.port()+"?tls=off", testFrom)
	if err != nil {
		t.Fatal(err)
	}
	err = m.SendPasswordReset(t.Context(), "a@b.co\r\nBcc: evil@x.io", testLink, testExpires)
	if !errors.Is(err, errRecipient) {
		t.Fatalf("err = %v, want errRecipient", err)
	}
	if conns, _, msgs := srv.snapshot(); conns != 0 || len(msgs) != 0 {
		t.Fatalf("server saw %d connections, %d messages", conns, len(msgs))
	}
}

func TestSMTPErrorsHideSecrets(t *testing.T) {
	for name, configure := range map[string]func(*smtpServer){
		"rcpt rejected": func(s *smtpServer) { s.rejectRcpt = true },
		// A server that echoes what it got must not get the link into the error.
		"data rejected, link echoed": func(s *smtpServer) { s.rejectData = "spam: " + testLink + " s3cret" },
	} {
		t.Run(name, func(t *testing.T) {
			srv := startSMTP(t, configure)
			m, err := NewSMTP("smtp://bob:s3cret@127.0.0.1:"+srv.port()+"?tls=off", testFrom)
			if err != nil {
				t.Fatal(err)
			}
			err = m.SendPasswordReset(t.Context(), "alice@example.org", testLink, testExpires)
			if err == nil {
				t.Fatal("send succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "mail: ") || strings.Contains(msg, testLink) || strings.Contains(msg, "token=") || strings.Contains(msg, "s3cret") {
				t.Fatalf("error leaks a secret or lacks the prefix: %q", msg)
			}
			if srv.rejectData != "" && !strings.Contains(msg, "554") {
				t.Errorf("error lost the server's reply: %q", msg)
			}
			if _, _, msgs := srv.snapshot(); len(msgs) != 0 {
				t.Fatalf("server captured %d messages", len(msgs))
			}
		})
	}
}

func TestSMTPRefusesCleartextToRemoteHost(t *testing.T) {
	srv := startSMTP(t, nil)
	m, err := NewSMTP("smtp://127.0.0.1:"+srv.port(), testFrom)
	if err != nil {
		t.Fatal(err)
	}
	m.host = "mail.example.com" // as if remote; the dial address stays the test server
	err = m.SendPasswordReset(t.Context(), "alice@example.org", testLink, testExpires)
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("err = %v, want a refusal to send without STARTTLS", err)
	}
	if _, _, msgs := srv.snapshot(); len(msgs) != 0 {
		t.Fatalf("server captured %d messages", len(msgs))
	}
}

func TestSMTPHonoursContext(t *testing.T) {
	// A server that accepts and never greets: the send ends with the ctx.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	m, err := NewSMTP("smtp://"+ln.Addr().String()+"?tls=off", testFrom)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := m.SendPasswordReset(ctx, "alice@example.org", testLink, testExpires); err == nil {
		t.Fatal("send succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("send took %v after the ctx ended", d)
	}
}

func TestNewSMTPValidates(t *testing.T) {
	for _, tc := range []struct{ url, from string }{
		{"http://mail.example.com", testFrom},
		{"smtp://", testFrom},
		{"smtp://mail.example.com/path", testFrom},
		{"smtp://mail.example.com?tls=maybe", testFrom},
		{"smtps://mail.example.com?tls=off", testFrom},
		{"smtp://mail.example.com?foo=bar", testFrom},
		{"smtp://mail.example.com", "not an address"},
		{"smtp://mail.example.com", "a@b.co\r\nBcc: evil@x.io"},
		{"smtp://u:p%zz@mail.example.com", testFrom},
	} {
		if _, err := NewSMTP(tc.url, tc.from); err == nil {
			t.Errorf("NewSMTP(%q, %q) accepted", tc.url, tc.from)
		} else if strings.Contains(err.Error(), "p%zz") {
			t.Errorf("error quotes the password: %v", err)
		}
	}
	for raw, want := range map[string]string{
		"smtp://mail.example.com":         "mail.example.com:587",
		"smtps://mail.example.com":        "mail.example.com:465",
		"smtp://u:p@mail.example.com:25":  "mail.example.com:25",
		"smtp://[::1]:2525?tls=off":       "[::1]:2525",
		"smtps://mail.example.com:10465/": "mail.example.com:10465",
	} {
		m, err := NewSMTP(raw, testFrom)
		if err != nil {
			t.Errorf("NewSMTP(%q): %v", raw, err)
			continue
		}
		if m.addr != want {
			t.Errorf("NewSMTP(%q).addr = %q, want %q", raw, m.addr, want)
		}
	}
}

func TestFilesWritesMessage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	now := time.Date(2026, 3, 3, 5, 6, 7, 123456000, time.UTC)
	f, err := NewFiles(dir, WithFrom(testFrom), WithClock(fixedClock{now}))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SendEmailVerification(t.Context(), "alice@example.org", testLink, testExpires); err != nil {
		t.Fatal(err)
	}
	if err := f.SendPasswordReset(t.Context(), "a@b.co\r\nBcc: evil@x.io", testLink, testExpires); !errors.Is(err, errRecipient) {
		t.Fatalf("injection: err = %v", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", st.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("dir holds %d entries, want 1", len(entries))
	}
	name := entries[0].Name()
	if !strings.HasPrefix(name, "20260303T050607.123456Z-") || !strings.HasSuffix(name, ".eml") {
		t.Errorf("file name %q", name)
	}
	info, err := entries[0].Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", info.Mode().Perm())
	}
	raw, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	checkMessage(t, parse(t, raw), "Confirm your email address", "alice@example.org", testLink)
}

func TestFilesDefaultFrom(t *testing.T) {
	f, err := NewFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := f.compose.from.String(); got != `"usermgmt" <no-reply@localhost>` {
		t.Errorf("default From %q", got)
	}
	if _, err := NewFiles(""); err == nil {
		t.Error("NewFiles(\"\") accepted")
	}
}

func TestRenderSignInCode(t *testing.T) {
	c, err := newComposer(options{from: testFrom, clock: fixedClock{time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.render(kindSignInCode, "alice@example.org", content{Code: "042917", Expires: testExpires})
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, m.raw)
	if p.header.Get("Subject") != "Your sign-in code" {
		t.Errorf("subject %q", p.header.Get("Subject"))
	}
	for name, body := range map[string]string{"text": p.text, "html": p.html} {
		if !strings.Contains(body, "042917") || !strings.Contains(body, "Wed, 04 Mar 2026 04:06:07 UTC") {
			t.Errorf("%s part lacks the code or its expiry:\n%s", name, body)
		}
	}
	for _, bad := range []string{"", "12a456", "1\r\nBcc: x", "12345678901"} {
		if _, err := c.render(kindSignInCode, "alice@example.org", content{Code: bad, Expires: testExpires}); err == nil {
			t.Errorf("code %q rendered", bad)
		}
	}
}

// TestRenderSecurityNotice_LG06: every notice kind renders with its own
// subject, and a user agent chosen by an attacker cannot add lines or
// markup to the message.
func TestRenderSecurityNotice_LG06(t *testing.T) {
	c, err := newComposer(options{from: testFrom, clock: fixedClock{time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	ua := "Mozilla/5.0\r\nBcc: evil@example.net\r\n\r\n<script>alert(1)</script>"
	seen := map[string]bool{}
	for kind := range noticeTexts {
		m, err := c.render(kindSecurityNotice, "alice@example.org", content{Notice: ports.SecurityNotice{
			Kind: kind, At: at, IP: "203.0.113.9", UserAgent: ua, Method: "totp", Failures: 7}})
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		p := parse(t, m.raw)
		subject := p.header.Get("Subject")
		if subject == "" || seen[subject] {
			t.Errorf("%s: subject %q is empty or shared", kind, subject)
		}
		seen[subject] = true
		if len(p.header["Bcc"]) != 0 {
			t.Fatalf("%s: the user agent added a header", kind)
		}
		for _, want := range []string{"203.0.113.9", "Thu, 03 Dec 2026 10:00:00 UTC", "Failed attempts before it: 7", "Mozilla/5.0  Bcc: evil@example.net"} {
			if !strings.Contains(p.text, want) {
				t.Errorf("%s: text part lacks %q:\n%s", kind, want, p.text)
			}
		}
		if strings.Contains(p.html, "<script>") {
			t.Errorf("%s: HTML part carries the user agent's markup", kind)
		}
	}
	if _, err := c.render(kindSecurityNotice, "alice@example.org", content{Notice: ports.SecurityNotice{Kind: "nope", At: at}}); err == nil {
		t.Error("an unknown notice rendered")
	}
}

func TestSMTPSendsSignInCodeAndNotice(t *testing.T) {
	srv := startSMTP(t, nil)
	m, err := NewSMTP("smtp://127.0.0.1:"+srv.port()+"?tls=off", testFrom)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SendSignInCode(t.Context(), "alice@example.org", "123456", testExpires); err != nil {
		t.Fatal(err)
	}
	if err := m.SendSecurityNotice(t.Context(), "alice@example.org", ports.SecurityNotice{Kind: ports.NoticeMFAEnabled, At: testExpires, Method: "totp"}); err != nil {
		t.Fatal(err)
	}
	_, _, msgs := srv.snapshot()
	if len(msgs) != 2 {
		t.Fatalf("server got %d messages", len(msgs))
	}
	if p := parse(t, msgs[0]); !strings.Contains(p.text, "123456") {
		t.Errorf("code message:\n%s", p.text)
	}
	if p := parse(t, msgs[1]); p.header.Get("Subject") != "Two-step verification was turned on" {
		t.Errorf("notice subject %q", p.header.Get("Subject"))
	}
}

// slowMailer blocks every notice until released.
type slowMailer struct {
	*Files
	release chan struct{}
	mu      sync.Mutex
	sent    []ports.SecurityNotice
}

func (s *slowMailer) SendSecurityNotice(_ context.Context, _ string, n ports.SecurityNotice) error {
	<-s.release
	s.mu.Lock()
	s.sent = append(s.sent, n)
	s.mu.Unlock()
	return nil
}

// TestBackgroundNotices_LG06: notices return at once however slow the mail
// server, a full queue drops instead of blocking, and Close sends the rest.
func TestBackgroundNotices_LG06(t *testing.T) {
	files, err := NewFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	slow := &slowMailer{Files: files, release: make(chan struct{})}
	b := NewBackgroundNotices(slow, 2, nil)
	start := time.Now()
	for range 5 { // one in flight, two queued, two dropped
		if err := b.SendSecurityNotice(t.Context(), "a@b.co", ports.SecurityNotice{Kind: ports.NoticeNewDevice}); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("queueing five notices took %v: it waited for the mail server", d)
	}
	if err := b.SendSignInCode(t.Context(), "a@b.co", "123456", time.Now()); err != nil {
		t.Fatalf("codes still go straight through: %v", err)
	}
	close(slow.release)
	if err := b.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	slow.mu.Lock()
	defer slow.mu.Unlock()
	if n := len(slow.sent); n < 2 || n > 3 {
		t.Errorf("%d notices sent, want the in-flight and the queued ones (2-3)", n)
	}
}
