package memory

import (
	"context"
	"sync"
	"time"

	"github.com/usermgmt/usermgmt/ports"
)

// Mail is a message the Mailbox received.
type Mail struct {
	Kind    string // "password_reset" or "email_verification"
	To      string
	Link    string
	Expires time.Time
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
	m.add(Mail{"password_reset", to, link, expires})
	return nil
}

// SendEmailVerification keeps a verification message.
func (m *Mailbox) SendEmailVerification(_ context.Context, to, link string, expires time.Time) error {
	m.add(Mail{"email_verification", to, link, expires})
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
