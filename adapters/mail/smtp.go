package mail

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/url"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt/ports"
)

// Timeouts of one send.
const (
	dialTimeout = 5 * time.Second
	sendTimeout = 15 * time.Second
)

// SMTP sends messages through an SMTP server, one connection per message. It
// is safe for concurrent use.
//
// Transport security depends on the URL:
//   - smtps://host[:465]: implicit TLS from the first byte.
//   - smtp://host[:587]: STARTTLS whenever the server offers it. A server
//     that does not offer it is refused, unless the host is a loopback
//     address ("localhost", 127.0.0.0/8, ::1).
//   - smtp://host?tls=off: never TLS, for a relay on a trusted network.
//
// Credentials (smtp://user:pass@host) are sent with AUTH PLAIN, which
// net/smtp refuses over an unencrypted connection except to localhost.
type SMTP struct {
	messages
	addr        string // host:port
	host        string
	implicitTLS bool
	tlsOff      bool
	user, pass  string
	helo        string
	compose     composer
}

var _ ports.Mailer = (*SMTP)(nil)

// NewSMTP returns a mailer for the server at rawURL that sends as from
// ("name <address>" or a bare address). It does not connect.
func NewSMTP(rawURL, from string, opts ...Option) (*SMTP, error) {
	o, err := newOptions(from, opts)
	if err != nil {
		return nil, err
	}
	c, err := newComposer(o)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error quotes the whole URL, password included: keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("mail: invalid SMTP URL: %w", err)
	}
	s := &SMTP{host: u.Hostname(), helo: o.helo, compose: c}
	s.messages = messages{deliver: s.send}
	var port string
	switch u.Scheme {
	case "smtp":
		port = "587"
	case "smtps":
		port, s.implicitTLS = "465", true
	default:
		return nil, errors.New("mail: SMTP URL scheme must be smtp or smtps")
	}
	if s.host == "" {
		return nil, errors.New("mail: SMTP URL has no host")
	}
	if p := u.Port(); p != "" {
		port = p
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.Path != "" && u.Path != "/" {
		return nil, errors.New("mail: SMTP URL has a path")
	}
	for k, v := range u.Query() {
		switch {
		case k == "tls" && len(v) == 1 && v[0] == "off" && !s.implicitTLS:
			s.tlsOff = true
		default:
			return nil, fmt.Errorf("mail: unsupported SMTP URL parameter %q", k)
		}
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	return s, nil
}

// send renders the message and delivers it; its errors hold neither the
// message's secret nor the SMTP password.
func (s *SMTP) send(ctx context.Context, kind, to string, ct content) error {
	m, err := s.compose.render(kind, to, ct)
	if err != nil {
		return err
	}
	if err := s.deliver(ctx, m); err != nil {
		return scrub(err, ct.secret(), s.pass, s.authBlob())
	}
	return nil
}

func (s *SMTP) deliver(ctx context.Context, m message) error {
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()

	conn, err := s.dial(ctx)
	if err != nil {
		return fmt.Errorf("mail: connect to %s: %w", s.addr, err)
	}
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		_ = conn.Close()
		return fmt.Errorf("mail: %w", err)
	}
	// A cancelled ctx interrupts whatever read or write is in progress.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("mail: greeting: %w", err)
	}
	defer func() { _ = c.Close() }() // after Quit this only closes the closed conn

	if err := c.Hello(s.helo); err != nil {
		return fmt.Errorf("mail: EHLO: %w", err)
	}
	if !s.implicitTLS && !s.tlsOff {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(&tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}); err != nil {
				return fmt.Errorf("mail: STARTTLS: %w", err)
			}
		} else if !isLoopback(s.host) {
			return fmt.Errorf("mail: %s does not offer STARTTLS (add ?tls=off to the URL to send in clear)", s.addr)
		}
	}
	if s.user != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("mail: %s does not offer AUTH", s.addr)
		}
		if err := c.Auth(smtp.PlainAuth("", s.user, s.pass, s.host)); err != nil {
			return fmt.Errorf("mail: AUTH: %w", err)
		}
	}
	if err := c.Mail(m.from); err != nil {
		return fmt.Errorf("mail: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(m.to); err != nil {
		return fmt.Errorf("mail: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if _, err := w.Write(m.raw); err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("mail: QUIT: %w", err)
	}
	return nil
}

func (s *SMTP) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: dialTimeout}
	if s.implicitTLS {
		td := &tls.Dialer{NetDialer: d, Config: &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}}
		return td.DialContext(ctx, "tcp", s.addr)
	}
	return d.DialContext(ctx, "tcp", s.addr)
}

// authBlob is the AUTH PLAIN response as sent on the wire.
func (s *SMTP) authBlob() string {
	if s.pass == "" {
		return ""
	}
	return base64.StdEncoding.EncodeToString([]byte("\x00" + s.user + "\x00" + s.pass))
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// scrub returns err, or when its text contains one of the secrets (a server
// may echo what it was sent) an error with them redacted, which no longer
// wraps the original.
func scrub(err error, secrets ...string) error {
	msg := err.Error()
	redacted := msg
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		redacted = strings.ReplaceAll(redacted, sec, "[redacted]")
	}
	if redacted == msg {
		return err
	}
	return errors.New(redacted)
}
