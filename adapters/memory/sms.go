package memory

import (
	"context"
	"sync"

	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/ports"
)

// SMS is a text message the SMSBox received.
type SMS struct {
	To, Text string
}

// SMSBox is a ports.SMSSender that keeps messages in memory, for tests and
// for hosts that read them (usermgmt.NewInMemory).
type SMSBox struct {
	mu  sync.Mutex
	sms []SMS
}

var _ ports.SMSSender = (*SMSBox)(nil)

// SendSMS keeps the message.
func (b *SMSBox) SendSMS(ctx context.Context, to, text string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p, err := mfa.NormalizePhone(to); err != nil || p != to {
		return mfa.ErrInvalidPhone
	}
	b.mu.Lock()
	b.sms = append(b.sms, SMS{To: to, Text: text})
	b.mu.Unlock()
	return nil
}

// Messages returns what was sent, oldest first.
func (b *SMSBox) Messages() []SMS {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]SMS(nil), b.sms...)
}
