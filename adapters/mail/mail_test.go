package mail

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"math/big"
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

	"github.com/usermgmt/usermgmt/adapters/adaptertest"
	"github.com/usermgmt/usermgmt/adapters/system"
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

// The credentials the test server accepts.
const (
	testUser = "bob"
	testPass = "s3cret"
)

// smtpServer is just enough of an SMTP server: STARTTLS or implicit TLS
// with a certificate for 127.0.0.1, localhost and mail.example.com; AUTH
// PLAIN, LOGIN and CRAM-MD5 checked against testUser and testPass, any
// other mechanism recorded and refused; every message captured.
type smtpServer struct {
	ln          net.Listener
	tls         *tls.Config
	roots       *x509.CertPool // what a client must trust
	implicitTLS bool
	startTLS    bool   // offer STARTTLS
	mechs       string // offered in EHLO; default "PLAIN LOGIN"
	rejectAuth  bool   // refuse every AUTH, echoing what the client sent
	rejectRcpt  bool
	rejectData  string // when set, the reply to the end of DATA, as a 554
	wg          sync.WaitGroup

	mu    sync.Mutex
	conns int
	auths []authAttempt
	msgs  []received
}

type authAttempt struct {
	mech    string
	overTLS bool
	ok      bool
}

type received struct {
	raw     []byte
	overTLS bool
}

func startSMTP(t *testing.T, configure func(*smtpServer)) *smtpServer {
	t.Helper()
	s := &smtpServer{mechs: "PLAIN LOGIN"}
	s.tls, s.roots = testTLS(t)
	if configure != nil {
		configure(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if s.implicitTLS {
		ln = tls.NewListener(ln, s.tls)
	}
	s.ln = ln
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

// testTLS returns a server configuration with a fresh self-signed
// certificate, and the pool that trusts it.
func testTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost", "mail.example.com"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, roots
}

func (s *smtpServer) port() string {
	_, port, _ := net.SplitHostPort(s.ln.Addr().String())
	return port
}

// mailer returns an SMTP mailer for this server that trusts its
// certificate; rawURL's host and port are the server's.
func (s *smtpServer) mailer(t *testing.T, rawURL string) *SMTP {
	t.Helper()
	m, err := NewSMTP(strings.Replace(rawURL, "HOST", "127.0.0.1:"+s.port(), 1), testFrom)
	if err != nil {
		t.Fatal(err)
	}
	m.tls.RootCAs = s.roots
	return m
}

// asIfRemote makes m treat the server as the remote host name (in the
// test certificate); it still dials the test server.
func asIfRemote(m *SMTP) {
	m.host, m.loopback, m.tls.ServerName = "mail.example.com", false, "mail.example.com"
}

func (s *smtpServer) handle(conn net.Conn) {
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, overTLS := conn.(*tls.Conn)
	r := bufio.NewReader(conn)
	reply := func(lines string) { _, _ = io.WriteString(conn, lines) }
	readLine := func() (string, bool) {
		line, err := r.ReadString('\n')
		return strings.TrimRight(line, "\r\n"), err == nil
	}
	reply("220 test ESMTP\r\n")
	for {
		line, ok := readLine()
		if !ok {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			ext := "250-test\r\n"
			if s.startTLS && !overTLS {
				ext += "250-STARTTLS\r\n"
			}
			if s.mechs != "" {
				ext += "250-AUTH " + s.mechs + "\r\n"
			}
			reply(ext + "250 8BITMIME\r\n")
		case "STARTTLS":
			reply("220 go ahead\r\n")
			tc := tls.Server(conn, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn, r, overTLS = tc, bufio.NewReader(tc), true
		case "HELO", "MAIL", "RSET", "NOOP":
			reply("250 ok\r\n")
		case "AUTH":
			mech, initial, _ := strings.Cut(arg, " ")
			mech = strings.ToUpper(mech)
			sent, ok := s.authenticate(mech, initial, reply, readLine)
			s.mu.Lock()
			s.auths = append(s.auths, authAttempt{mech: mech, overTLS: overTLS, ok: ok})
			s.mu.Unlock()
			switch {
			case s.rejectAuth:
				reply("535 5.7.8 refused: " + strings.Join(sent, " ") + "\r\n")
			case ok:
				reply("235 2.7.0 ok\r\n")
			default:
				reply("535 5.7.8 bad credentials\r\n")
			}
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
			s.msgs = append(s.msgs, received{raw: msg, overTLS: overTLS})
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

// authenticate runs the exchange of mech and reports what the client sent
// and whether it proved testUser's password.
func (s *smtpServer) authenticate(mech, initial string, reply func(string), readLine func() (string, bool)) (sent []string, ok bool) {
	decode := func(b64 string) string {
		b, _ := base64.StdEncoding.DecodeString(b64)
		return string(b)
	}
	ask := func(challenge string) string {
		reply("334 " + base64.StdEncoding.EncodeToString([]byte(challenge)) + "\r\n")
		line, _ := readLine()
		sent = append(sent, line)
		return decode(line)
	}
	switch mech {
	case "PLAIN":
		if initial == "" {
			return sent, ask("") == "\x00"+testUser+"\x00"+testPass
		}
		return append(sent, initial), decode(initial) == "\x00"+testUser+"\x00"+testPass
	case "LOGIN":
		user := ask("Username:")
		return sent, user == testUser && ask("Password:") == testPass
	case "CRAM-MD5":
		challenge := "<1896.697170952@test>"
		mac := hmac.New(md5.New, []byte(testPass))
		mac.Write([]byte(challenge))
		return sent, ask(challenge) == fmt.Sprintf("%s %x", testUser, mac.Sum(nil))
	}
	return sent, false
}

func (s *smtpServer) snapshot() (conns int, auths []authAttempt, msgs []received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns, append([]authAttempt(nil), s.auths...), append([]received(nil), s.msgs...)
}

func TestSMTPSendsPasswordReset(t *testing.T) {
	srv := startSMTP(t, nil)
	m := srv.mailer(t, "smtp://HOST?tls=off")
	if err := m.SendPasswordReset(t.Context(), "alice@example.org", testLink, testExpires); err != nil {
		t.Fatal(err)
	}
	_, auths, msgs := srv.snapshot()
	if len(msgs) != 1 || len(auths) != 0 {
		t.Fatalf("server got %d messages, %d AUTHs", len(msgs), len(auths))
	}
	checkMessage(t, parse(t, msgs[0].raw), "Reset your password", "alice@example.org", testLink)
}

func TestSMTPAuthOnLoopbackWithoutTLS(t *testing.T) {
	srv := startSMTP(t, nil)
	// No tls=off: plain is allowed because the host is a loopback address.
	m := srv.mailer(t, "smtp://bob:s3cret@HOST")
	if err := m.SendEmailVerification(t.Context(), "alice@example.org", testLink, testExpires); err != nil {
		t.Fatal(err)
	}
	_, auths, msgs := srv.snapshot()
	if len(msgs) != 1 || len(auths) != 1 || auths[0] != (authAttempt{mech: "PLAIN", ok: true}) {
		t.Fatalf("server got %d messages, AUTHs %+v", len(msgs), auths)
	}
	checkMessage(t, parse(t, msgs[0].raw), "Confirm your email address", "alice@example.org", testLink)
}

// TestSMTPTLS: STARTTLS is used whenever offered, smtps:// is TLS from the
// first byte, and the credentials go only over the encrypted connection.
func TestSMTPTLS(t *testing.T) {
	for name, tc := range map[string]struct {
		configure func(*smtpServer)
		url       string
		remote    bool
	}{
		"STARTTLS to loopback":   {func(s *smtpServer) { s.startTLS = true }, "smtp://bob:s3cret@HOST", false},
		"STARTTLS to remote":     {func(s *smtpServer) { s.startTLS = true }, "smtp://bob:s3cret@HOST", true},
		"implicit TLS":           {func(s *smtpServer) { s.implicitTLS = true }, "smtps://bob:s3cret@HOST", true},
		"implicit TLS, loopback": {func(s *smtpServer) { s.implicitTLS = true }, "smtps://bob:s3cret@HOST", false},
	} {
		t.Run(name, func(t *testing.T) {
			srv := startSMTP(t, tc.configure)
			m := srv.mailer(t, tc.url)
			if tc.remote {
				asIfRemote(m)
			}
			if err := m.SendSignInCode(t.Context(), "alice@example.org", "123456", testExpires); err != nil {
				t.Fatal(err)
			}
			_, auths, msgs := srv.snapshot()
			if len(auths) != 1 || auths[0] != (authAttempt{mech: "PLAIN", overTLS: true, ok: true}) {
				t.Fatalf("AUTHs %+v, want one PLAIN over TLS", auths)
			}
			if len(msgs) != 1 || !msgs[0].overTLS {
				t.Fatalf("server got %d messages (over TLS: %v)", len(msgs), len(msgs) == 1 && msgs[0].overTLS)
			}
		})
	}
}

// TestSMTPRefusesWeakTLS: a server below TLS 1.2, or with a certificate
// the mailer does not trust, gets nothing.
func TestSMTPRefusesWeakTLS(t *testing.T) {
	for name, configure := range map[string]func(*smtpServer){
		"TLS 1.1": func(s *smtpServer) {
			s.startTLS = true
			s.tls.MinVersion, s.tls.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		},
		"untrusted certificate": func(s *smtpServer) { s.startTLS = true },
	} {
		t.Run(name, func(t *testing.T) {
			srv := startSMTP(t, configure)
			m := srv.mailer(t, "smtp://bob:s3cret@HOST")
			if name == "untrusted certificate" {
				m.tls.RootCAs = x509.NewCertPool()
			}
			err := m.SendPasswordReset(t.Context(), "alice@example.org", testLink, testExpires)
			if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
				t.Fatalf("err = %v, want a failed STARTTLS", err)
			}
			if _, auths, msgs := srv.snapshot(); len(auths) != 0 || len(msgs) != 0 {
				t.Fatalf("server got %d AUTHs, %d messages", len(auths), len(msgs))
			}
		})
	}
}

// TestSMTPAuthMechanism: the strongest mechanism offered is used, and one
// that sends the password itself (PLAIN, LOGIN) never goes in clear to a
// remote host.
func TestSMTPAuthMechanism(t *testing.T) {
	for _, tc := range []struct {
		name    string
		offered string
		tls     bool
		want    string // the mechanism used; "" when the send is refused before AUTH
	}{
		{"SCRAM-SHA-256 first", "LOGIN PLAIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256", true, "SCRAM-SHA-256"},
		{"then SCRAM-SHA-1", "PLAIN SCRAM-SHA-1", true, "SCRAM-SHA-1"},
		{"then CRAM-MD5", "LOGIN PLAIN CRAM-MD5", true, "CRAM-MD5"},
		{"then PLAIN", "LOGIN PLAIN", true, "PLAIN"},
		{"LOGIN over TLS", "LOGIN", true, "LOGIN"},
		{"lower case", "login", true, "LOGIN"},
		{"CRAM-MD5 in clear", "PLAIN LOGIN CRAM-MD5", false, "CRAM-MD5"},
		{"no PLAIN in clear", "PLAIN", false, ""},
		{"no LOGIN in clear", "LOGIN PLAIN", false, ""},
		{"nothing known", "XOAUTH2 GSSAPI", true, ""},
		{"no AUTH", "", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSMTP(t, func(s *smtpServer) { s.mechs, s.startTLS = tc.offered, tc.tls })
			url := "smtp://bob:s3cret@HOST"
			if !tc.tls {
				url += "?tls=off"
			}
			m := srv.mailer(t, url)
			asIfRemote(m)
			err := m.SendPasswordReset(t.Context(), "alice@example.org", testLink, testExpires)
			_, auths, msgs := srv.snapshot()
			switch {
			case tc.want == "":
				if err == nil || len(auths) != 0 || len(msgs) != 0 {
					t.Fatalf("err %v, AUTHs %+v, %d messages: want a refusal before AUTH", err, auths, len(msgs))
				}
			case len(auths) != 1 || auths[0].mech != tc.want || auths[0].overTLS != tc.tls:
				t.Fatalf("AUTHs %+v, want one %s (TLS %v)", auths, tc.want, tc.tls)
			case strings.HasPrefix(tc.want, "SCRAM"):
				// The test server speaks no SCRAM: it refuses, and nothing is sent.
				if err == nil || len(msgs) != 0 {
					t.Fatalf("err %v, %d messages after a refused AUTH", err, len(msgs))
				}
			case err != nil || !auths[0].ok || len(msgs) != 1:
				t.Fatalf("err %v, AUTH %+v, %d messages", err, auths[0], len(msgs))
			}
			if err != nil && strings.Contains(err.Error(), testPass) {
				t.Fatalf("error quotes the password: %v", err)
			}
		})
	}
}

func TestSMTPRejectsHeaderInjection(t *testing.T) {
	srv := startSMTP(t, nil)
	m := srv.mailer(t, "smtp://HOST?tls=off")
	err := m.SendPasswordReset(t.Context(), "a@b.co\r\nBcc: evil@x.io", testLink, testExpires)
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
		"data rejected, link echoed": func(s *smtpServer) { s.rejectData = "spam: " + testLink + " " + testPass },
		// Nor the password, as AUTH PLAIN or LOGIN sent it.
		"PLAIN echoed": func(s *smtpServer) { s.mechs, s.rejectAuth = "PLAIN", true },
		"LOGIN echoed": func(s *smtpServer) { s.mechs, s.rejectAuth = "LOGIN", true },
	} {
		t.Run(name, func(t *testing.T) {
			srv := startSMTP(t, configure)
			m := srv.mailer(t, "smtp://bob:s3cret@HOST?tls=off")
			err := m.SendPasswordReset(t.Context(), "alice@example.org", testLink, testExpires)
			if err == nil {
				t.Fatal("send succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "mail: ") || strings.Contains(msg, testLink) || strings.Contains(msg, "token=") {
				t.Fatalf("error leaks the link or lacks the prefix: %q", msg)
			}
			for _, form := range m.passwordForms() {
				if strings.Contains(msg, form) {
					t.Fatalf("error leaks the password as %q: %q", form, msg)
				}
			}
			if srv.rejectData != "" && !strings.Contains(msg, "554") {
				t.Errorf("error lost the server's reply: %q", msg)
			}
			if srv.rejectAuth && !strings.Contains(msg, "535") {
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
	m := srv.mailer(t, "smtp://HOST")
	asIfRemote(m)
	err := m.SendPasswordReset(t.Context(), "alice@example.org", testLink, testExpires)
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
	m := srv.mailer(t, "smtp://HOST?tls=off")
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
	if p := parse(t, msgs[0].raw); !strings.Contains(p.text, "123456") {
		t.Errorf("code message:\n%s", p.text)
	}
	if p := parse(t, msgs[1].raw); p.header.Get("Subject") != "Two-step verification was turned on" {
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
// server, a full queue drops instead of blocking, and closing the queue
// sends the rest.
func TestBackgroundNotices_LG06(t *testing.T) {
	files, err := NewFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	slow := &slowMailer{Files: files, release: make(chan struct{})}
	queue := system.NewBackground(1, 2, time.Minute, nil)
	b := NewBackgroundNotices(slow, queue, nil)
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
	if err := queue.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	slow.mu.Lock()
	defer slow.mu.Unlock()
	if n := len(slow.sent); n < 2 || n > 3 {
		t.Errorf("%d notices sent, want the in-flight and the queued ones (2-3)", n)
	}
	// A notice after the queue closed is dropped, not a panic.
	if err := b.SendSecurityNotice(t.Context(), "a@b.co", ports.SecurityNotice{Kind: ports.NoticeNewDevice}); err != nil {
		t.Fatal(err)
	}
}

// delivered reads rendered messages back for the Mailer contract, checking
// each is well formed on the way.
func delivered(t *testing.T, raws [][]byte) []adaptertest.Delivered {
	t.Helper()
	var out []adaptertest.Delivered
	for _, raw := range raws {
		p := parse(t, raw)
		to, err := p.header.AddressList("To")
		if err != nil || len(to) != 1 {
			t.Fatalf("To %q: %v", p.header.Get("To"), err)
		}
		out = append(out, adaptertest.Delivered{To: to[0].Address, Text: p.text + "\n" + p.html})
	}
	return out
}

func TestFilesMailerContract(t *testing.T) {
	adaptertest.Mailer(t, func(t *testing.T) adaptertest.MailerRig {
		dir := t.TempDir()
		f, err := NewFiles(dir)
		if err != nil {
			t.Fatal(err)
		}
		return adaptertest.MailerRig{Mailer: f, Delivered: func(t *testing.T) []adaptertest.Delivered {
			names, err := filepath.Glob(filepath.Join(dir, "*.eml"))
			if err != nil {
				t.Fatal(err)
			}
			var raws [][]byte
			for _, name := range names {
				raw, err := os.ReadFile(name)
				if err != nil {
					t.Fatal(err)
				}
				raws = append(raws, raw)
			}
			return delivered(t, raws)
		}}
	})
}

// TestSMTPMailerContract runs the contract against a server taken for
// remote: STARTTLS is required and the password goes only over TLS.
func TestSMTPMailerContract(t *testing.T) {
	adaptertest.Mailer(t, func(t *testing.T) adaptertest.MailerRig {
		srv := startSMTP(t, func(s *smtpServer) { s.startTLS = true })
		m := srv.mailer(t, "smtp://bob:s3cret@HOST")
		asIfRemote(m)
		return adaptertest.MailerRig{Mailer: m, Delivered: func(t *testing.T) []adaptertest.Delivered {
			_, _, msgs := srv.snapshot()
			var raws [][]byte
			for _, msg := range msgs {
				raws = append(raws, msg.raw)
			}
			return delivered(t, raws)
		}}
	})
}
