package memory

import (
	"context"
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
// for hosts that read them (usermgmt.NewInMemory).
type Mailbox struct {
	mu   sync.Mutex
	mail []Mail
}

var _ ports.Mailer = (*Mailbox)(nil)

// SendPasswordReset keeps a reset message.
func (m *Mailbox) SendPasswordReset(_ context.Context, to, link string, expires time.Time) error {
	m.add(Mail{Kind: "password_reset", To: to, Link: link, Expires: expires})
	return nil
}

// SendEmailVerification keeps a verification message.
func (m *Mailbox) SendEmailVerification(_ context.Context, to, link string, expires time.Time) error {
	m.add(Mail{Kind: "email_verification", To: to, Link: link, Expires: expires})
	return nil
}

// SendSignInCode keeps a one-time code message.
func (m *Mailbox) SendSignInCode(_ context.Context, to, code string, expires time.Time) error {
	m.add(Mail{Kind: "sign_in_code", To: to, Code: code, Expires: expires})
	return nil
}

// SendSecurityNotice keeps a security notice.
func (m *Mailbox) SendSecurityNotice(_ context.Context, to string, n ports.SecurityNotice) error {
	m.add(Mail{Kind: "security_notice", To: to, Notice: n})
	return nil
}

func (m *Mailbox) add(x Mail) {
	m.mu.Lock()
	m.mail = append(m.mail, x)
	m.mu.Unlock()
}

// Messages returns what was sent, oldest first.
func (m *Mailbox) Messages() []Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Mail(nil), m.mail...)
}
