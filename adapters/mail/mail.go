// Package mail delivers the messages of the account flows: over SMTP, or into
// files in the data directory on the embedded default.
//
// Both mailers render the same messages from embedded templates: a complete
// RFC 5322 message, multipart/alternative with a plain-text and an HTML part,
// quoted-printable UTF-8, CRLF line endings. The links they carry are
// secrets: nothing here logs them, and no error returned here contains a
// link or an SMTP password.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/usermgmt/usermgmt/ports"
)

// The kinds of message, named after their templates.
const (
	kindPasswordReset     = "password_reset"
	kindEmailVerification = "email_verification"
	kindSignInCode        = "sign_in_code"
	kindSecurityNotice    = "security_notice"
)

const product = "usermgmt"

var subjects = map[string]string{
	kindPasswordReset:     "Reset your password",
	kindEmailVerification: "Confirm your email address",
	kindSignInCode:        "Your sign-in code",
}

// noticeTexts are the subject and first paragraph of each security notice.
var noticeTexts = map[ports.NoticeKind]struct{ subject, text string }{
	ports.NoticeNewDevice: {"New sign-in to your account",
		"Your account was signed in to from a device or network it has not used before."},
	ports.NoticeSignInAfterFailures: {"Sign-in after failed attempts",
		"Your account was signed in to after a run of failed attempts."},
	ports.NoticePasswordChanged: {"Your password was changed",
		"The password of your account was changed, and your other sessions were signed out."},
	ports.NoticePasswordReset: {"Your password was reset",
		"The password of your account was reset with a link sent to this address, and every session was signed out."},
	ports.NoticeMFAEnabled: {"Two-step verification was turned on",
		"A second step was added to signing in to your account."},
	ports.NoticeMFADisabled: {"A two-step verification method was removed",
		"A second step of signing in to your account was removed."},
	ports.NoticeBackupCodesRenewed: {"New backup codes",
		"A new set of backup codes was made for your account; the earlier codes no longer work."},
	ports.NoticeMFAReset: {"Two-step verification was removed by an administrator",
		"An administrator removed every second step of signing in to your account, and every session was signed out. If you did not ask for this, reset your password and contact support."},
	ports.NoticeRegistrationAttempt: {"Someone tried to register with your address",
		"Someone tried to create a new account with this email address, which already has one. Nothing was changed. If it was you, sign in or reset your password instead."},
	ports.NoticeCodeReused: {"A used sign-in code was entered again",
		"Someone entered an authenticator code of your account that had already been used, and it was refused. Whoever did knows your password."},
}

// content is what a message says beyond its recipient. Link and Code are
// secrets: they appear in the message and nowhere else.
type content struct {
	Link    string
	Code    string
	Expires time.Time
	Notice  ports.SecurityNotice
}

func (c content) secret() string {
	if c.Link != "" {
		return c.Link
	}
	return c.Code
}

func linkContent(link string, expires time.Time) content {
	return content{Link: link, Expires: expires}
}

// messages is the ports.Mailer method set over one way of delivering a
// rendered kind of message; Files and SMTP embed it.
type messages struct {
	deliver func(ctx context.Context, kind, to string, ct content) error
}

// SendPasswordReset sends the password-reset link to to.
func (m messages) SendPasswordReset(ctx context.Context, to, link string, expires time.Time) error {
	return m.deliver(ctx, kindPasswordReset, to, linkContent(link, expires))
}

// SendEmailVerification sends the email-verification link to to.
func (m messages) SendEmailVerification(ctx context.Context, to, link string, expires time.Time) error {
	return m.deliver(ctx, kindEmailVerification, to, linkContent(link, expires))
}

// SendSignInCode sends a one-time code to to.
func (m messages) SendSignInCode(ctx context.Context, to, code string, expires time.Time) error {
	return m.deliver(ctx, kindSignInCode, to, content{Code: code, Expires: expires})
}

// SendSecurityNotice sends a security notice to to.
func (m messages) SendSecurityNotice(ctx context.Context, to string, n ports.SecurityNotice) error {
	return m.deliver(ctx, kindSecurityNotice, to, content{Notice: n})
}

//go:embed templates/*.tmpl
var templateFS embed.FS

var (
	textTemplates = texttemplate.Must(texttemplate.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*.txt.tmpl"))
	htmlTemplates = htmltemplate.Must(htmltemplate.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*.html.tmpl"))
)

// templateData is what the templates see.
type templateData struct {
	Product string
	To      string
	Link    string
	Code    string
	Expires string // UTC, RFC 1123
	Notice  noticeData
}

// noticeData is a security notice as the templates show it. The user agent
// comes from the client: it is cut short and stripped of control
// characters, so it cannot shape the message.
type noticeData struct {
	Text      string
	When      string
	IP        string
	UserAgent string
	Method    string
	Failures  int
}

func printable(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit]) + "…"
	}
	return s
}

// Option configures a mailer.
type Option func(*options)

type options struct {
	clock ports.Clock
	from  string
	helo  string
}

// WithClock sets the clock that dates messages (default: the wall clock, UTC).
func WithClock(c ports.Clock) Option { return func(o *options) { o.clock = c } }

// WithFrom sets the From address, with or without a display name (default
// for Files: "usermgmt <no-reply@localhost>"; it overrides NewSMTP's from).
func WithFrom(from string) Option { return func(o *options) { o.from = from } }

// WithHelo sets the name the SMTP mailer gives in EHLO (default "localhost").
func WithHelo(name string) Option { return func(o *options) { o.helo = name } }

const defaultFrom = product + " <no-reply@localhost>"

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now().UTC() }

func newOptions(from string, opts []Option) (options, error) {
	o := options{clock: wallClock{}, from: from, helo: "localhost"}
	for _, opt := range opts {
		opt(&o)
	}
	if o.clock == nil {
		return o, errors.New("mail: nil clock")
	}
	if o.helo == "" || strings.ContainsAny(o.helo, " \r\n") {
		return o, errors.New("mail: invalid HELO name")
	}
	return o, nil
}

// composer renders messages from one sender.
type composer struct {
	from   *mail.Address
	domain string // of from, for Message-IDs
	clock  ports.Clock
}

func newComposer(o options) (composer, error) {
	if strings.ContainsAny(o.from, "\r\n") {
		return composer{}, errors.New("mail: invalid from address")
	}
	from, err := mail.ParseAddress(o.from)
	if err != nil {
		return composer{}, fmt.Errorf("mail: invalid from address: %w", err)
	}
	at := strings.LastIndexByte(from.Address, '@')
	return composer{from: from, domain: from.Address[at+1:], clock: o.clock}, nil
}

// message is a rendered message ready to send: the envelope and the bytes.
type message struct {
	from string // bare envelope sender
	to   string // bare envelope recipient
	raw  []byte // the RFC 5322 message, CRLF line endings
}

// errRecipient is returned for a recipient that is not one bare address.
var errRecipient = errors.New("mail: recipient is not a single bare email address")

// render builds the message of the given kind for to. It rejects a to that is
// not a single bare address (no display name, no CR or LF), so a recipient
// can never add headers or recipients.
func (c composer) render(kind, to string, ct content) (message, error) {
	subject, ok := subjects[kind]
	if kind == kindSecurityNotice {
		var t struct{ subject, text string }
		t, ok = noticeTexts[ct.Notice.Kind]
		subject = t.subject
	}
	if !ok {
		return message{}, fmt.Errorf("mail: unknown message kind %q", kind)
	}
	if err := checkRecipient(to); err != nil {
		return message{}, err
	}
	data := templateData{Product: product, To: to}
	switch kind {
	case kindPasswordReset, kindEmailVerification:
		if err := checkLink(ct.Link); err != nil {
			return message{}, err
		}
		data.Link, data.Expires = ct.Link, ct.Expires.UTC().Format(time.RFC1123)
	case kindSignInCode:
		if !digits(ct.Code) {
			return message{}, errors.New("mail: a sign-in code must be digits")
		}
		data.Code, data.Expires = ct.Code, ct.Expires.UTC().Format(time.RFC1123)
	case kindSecurityNotice:
		n := ct.Notice
		data.Notice = noticeData{Text: noticeTexts[n.Kind].text, When: n.At.UTC().Format(time.RFC1123),
			IP: printable(n.IP, 45), UserAgent: printable(n.UserAgent, 200), Method: printable(n.Method, 16), Failures: n.Failures}
	}
	var text, html bytes.Buffer
	if err := textTemplates.ExecuteTemplate(&text, kind+".txt.tmpl", data); err != nil {
		return message{}, errors.New("mail: render text part") // the error would quote the link
	}
	if err := htmlTemplates.ExecuteTemplate(&html, kind+".html.tmpl", data); err != nil {
		return message{}, errors.New("mail: render HTML part")
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct {
		contentType string
		content     []byte
	}{
		{"text/plain; charset=utf-8", text.Bytes()},
		{"text/html; charset=utf-8", html.Bytes()},
	} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.contentType},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return message{}, fmt.Errorf("mail: %w", err)
		}
		qp := quotedprintable.NewWriter(pw) // turns the templates' LF into CRLF
		if _, err := qp.Write(part.content); err != nil {
			return message{}, fmt.Errorf("mail: %w", err)
		}
		if err := qp.Close(); err != nil {
			return message{}, fmt.Errorf("mail: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return message{}, fmt.Errorf("mail: %w", err)
	}

	var raw bytes.Buffer
	header := func(k, v string) { raw.WriteString(k + ": " + v + "\r\n") }
	header("From", c.from.String())
	header("To", (&mail.Address{Address: to}).String())
	header("Subject", mime.QEncoding.Encode("utf-8", subject))
	header("Date", c.clock.Now().UTC().Format(time.RFC1123Z))
	header("Message-ID", "<"+strings.ToLower(rand.Text())+"@"+c.domain+">")
	header("MIME-Version", "1.0")
	// Folded: with the 60-character boundary (hex, no quoting needed) the
	// line would be longer than 78.
	header("Content-Type", "multipart/alternative;\r\n boundary="+mw.Boundary())
	header("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies
	raw.WriteString("\r\n")
	raw.Write(body.Bytes())
	return message{from: c.from.Address, to: to, raw: raw.Bytes()}, nil
}

func digits(s string) bool {
	if s == "" || len(s) > 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func checkRecipient(to string) error {
	if strings.ContainsAny(to, "\r\n") {
		return errRecipient
	}
	addr, err := mail.ParseAddress(to)
	if err != nil || addr.Name != "" || addr.Address != to {
		return errRecipient
	}
	return nil
}

// checkLink accepts an absolute http(s) URL without control characters. Its
// errors never quote the link.
func checkLink(link string) error {
	for _, r := range link {
		if r < 0x20 || r == 0x7f {
			return errors.New("mail: link contains control characters")
		}
	}
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("mail: link is not an absolute http(s) URL")
	}
	return nil
}
