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
)

const product = "usermgmt"

var subjects = map[string]string{
	kindPasswordReset:     "Reset your password",
	kindEmailVerification: "Confirm your email address",
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
	Expires string // UTC, RFC 1123
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
func (c composer) render(kind, to, link string, expires time.Time) (message, error) {
	subject, ok := subjects[kind]
	if !ok {
		return message{}, fmt.Errorf("mail: unknown message kind %q", kind)
	}
	if err := checkRecipient(to); err != nil {
		return message{}, err
	}
	if err := checkLink(link); err != nil {
		return message{}, err
	}
	data := templateData{Product: product, To: to, Link: link, Expires: expires.UTC().Format(time.RFC1123)}
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
