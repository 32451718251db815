package memory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/usermgmt/usermgmt/ports"
)

// Mail is a message the Mailbox received.
type Mail struct {
	Kind    string // "password_reset", "email_verification", "sign_in_code" or "security_notice"
	To      string
	Link    string
	Code    string
	Expires time.Time
	Notice  ports.SecurityNotice
}

// Mailbox is a ports.Mailer that keeps messages in memory, for tests and
// for hosts that read them (usermgmt.NewInMemory). As a stand-in for the
// real mailers it refuses what they refuse: a cancelled ctx, and a
// recipient with CR or LF, which would add headers to a real message.
type Mailbox struct {
	mu   sync.Mutex
	mail []Mail
}

var _ ports.Mailer = (*Mailbox)(nil)

// SendPasswordReset keeps a reset message.
func (m *Mailbox) SendPasswordReset(ctx context.Context, to, link string, expires time.Time) error {
	return m.add(ctx, Mail{Kind: "password_reset", To: to, Link: link, Expires: expires})
}

// SendEmailVerification keeps a verification message.
func (m *Mailbox) SendEmailVerification(ctx context.Context, to, link string, expires time.Time) error {
	return m.add(ctx, Mail{Kind: "email_verification", To: to, Link: link, Expires: expires})
}

// SendSignInCode keeps a one-time code message.
func (m *Mailbox) SendSignInCode(ctx context.Context, to, code string, expires time.Time) error {
	return m.add(ctx, Mail{Kind: "sign_in_code", To: to, Code: code, Expires: expires})
}

// SendSecurityNotice keeps a security notice.
func (m *Mailbox) SendSecurityNotice(ctx context.Context, to string, n ports.SecurityNotice) error {
	return m.add(ctx, Mail{Kind: "security_notice", To: to, Notice: n})
}

func (m *Mailbox) add(ctx context.Context, x Mail) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: mail not sent: %w", err)
	}
	if strings.ContainsAny(x.To, "\r\n") {
		return errors.New("memory: recipient contains CR or LF")
	}
	m.mu.Lock()
	m.mail = append(m.mail, x)
	m.mu.Unlock()
	return nil
}

// Messages returns what was sent, oldest first.
func (m *Mailbox) Messages() []Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Mail(nil), m.mail...)
}
