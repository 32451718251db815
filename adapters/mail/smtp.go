package mail

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/wneessen/go-mail/smtp"

	"github.com/usermgmt/usermgmt/ports"
)

// Timeouts of one send.
const (
	dialTimeout = 5 * time.Second
	sendTimeout = 15 * time.Second
)

// SMTP sends messages through an SMTP server, one connection per message. It
// is safe for concurrent use. The protocol is go-mail's smtp package, the
// maintained successor of the frozen net/smtp; the flow (dial, TLS, AUTH,
// one message) stays here so that the caller's ctx bounds all of it and the
// bytes sent are the composer's, the same as Files writes.
//
// Transport security depends on the URL:
//   - smtps://host[:465]: implicit TLS from the first byte.
//   - smtp://host[:587]: STARTTLS whenever the server offers it. A server
//     that does not offer it is refused, unless the host is a loopback
//     address ("localhost", 127.0.0.0/8, ::1).
//   - smtp://host?tls=off: never TLS, for a relay on a trusted network.
//
// TLS is 1.2 or later, with the server's certificate checked against host.
// Credentials (smtp://user:pass@host) are sent with the strongest mechanism
// the server offers of SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN and
// LOGIN. PLAIN and LOGIN carry the password itself, so they are used only
// over TLS or to a loopback host: a remote server in clear that offers
// nothing else is refused.
type SMTP struct {
	messages
	addr        string // host:port
	host        string
	loopback    bool // host is a loopback address: cleartext is as safe as the machine
	implicitTLS bool
	tlsOff      bool
	tls         *tls.Config
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
	s.loopback = isLoopback(s.host)
	s.tls = &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
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
		return scrub(err, append(s.passwordForms(), ct.secret())...)
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
	// A cancelled ctx interrupts whatever read or write is in progress, on
	// the TLS layer too: it reads and writes through conn.
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
			if err := c.StartTLS(s.tls); err != nil {
				return fmt.Errorf("mail: STARTTLS: %w", err)
			}
		} else if !s.loopback {
			return fmt.Errorf("mail: %s does not offer STARTTLS (add ?tls=off to the URL to send in clear)", s.addr)
		}
	}
	if s.user != "" {
		if err := s.auth(c); err != nil {
			return err
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
		td := &tls.Dialer{NetDialer: d, Config: s.tls}
		return td.DialContext(ctx, "tcp", s.addr)
	}
	return d.DialContext(ctx, "tcp", s.addr)
}

// mechanisms are the SASL mechanisms used, strongest first (the order of
// go-mail's own discovery). The SCRAM ones and CRAM-MD5 never send the
// password; PLAIN and LOGIN do, so they are cleartext.
var mechanisms = []struct {
	name      string
	cleartext bool
	auth      func(s *SMTP) smtp.Auth
}{
	{"SCRAM-SHA-256", false, func(s *SMTP) smtp.Auth { return smtp.ScramSHA256Auth(s.user, s.pass) }},
	{"SCRAM-SHA-1", false, func(s *SMTP) smtp.Auth { return smtp.ScramSHA1Auth(s.user, s.pass) }},
	{"CRAM-MD5", false, func(s *SMTP) smtp.Auth { return smtp.CRAMMD5Auth(s.user, s.pass) }},
	// go-mail checks again that the connection is TLS or the host loopback;
	// its list of loopback names is shorter than isLoopback's, hence the flag.
	{"PLAIN", true, func(s *SMTP) smtp.Auth { return smtp.PlainAuth("", s.user, s.pass, s.host, s.loopback) }},
	{"LOGIN", true, func(s *SMTP) smtp.Auth { return smtp.LoginAuth(s.user, s.pass, s.host, s.loopback) }},
}

// auth authenticates with the first of mechanisms that the server offers
// and that the connection allows.
func (s *SMTP) auth(c *smtp.Client) error {
	ok, offered := c.Extension("AUTH")
	if !ok {
		return fmt.Errorf("mail: %s does not offer AUTH", s.addr)
	}
	_, encrypted := c.TLSConnectionState()
	names := strings.Fields(strings.ToUpper(offered))
	for _, m := range mechanisms {
		if !slices.Contains(names, m.name) || (m.cleartext && !encrypted && !s.loopback) {
			continue
		}
		if err := c.Auth(m.auth(s)); err != nil {
			return fmt.Errorf("mail: AUTH %s: %w", m.name, err)
		}
		return nil
	}
	if !encrypted {
		return fmt.Errorf("mail: %s offers no AUTH mechanism that keeps the password safe without TLS (it offers %q)", s.addr, offered)
	}
	return fmt.Errorf("mail: %s offers no AUTH mechanism this mailer has (it offers %q)", s.addr, offered)
}

// passwordForms are the password and the forms AUTH PLAIN and LOGIN send it
// in, any of which a server may echo in an error.
func (s *SMTP) passwordForms() []string {
	if s.pass == "" {
		return nil
	}
	b64 := base64.StdEncoding.EncodeToString
	return []string{s.pass, b64([]byte("\x00" + s.user + "\x00" + s.pass)), b64([]byte(s.pass))}
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
