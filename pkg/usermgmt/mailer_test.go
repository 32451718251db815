package usermgmt

import (
	"testing"

	"github.com/usermgmt/usermgmt/adapters/adaptertest"
	"github.com/usermgmt/usermgmt/adapters/memory"
)

// TestHostMailerContract: a host's mailer given to WithMailer reaches the
// use cases still keeping the Mailer contract, as NewInMemory passes it
// and as New wraps it (notices in the background).
func TestHostMailerContract(t *testing.T) {
	for name, background := range map[string]bool{"NewInMemory": false, "New": true} {
		t.Run(name, func(t *testing.T) {
			adaptertest.Mailer(t, func(t *testing.T) adaptertest.MailerUnderTest {
				host := &memory.Mailbox{}
				m, closeMailer, err := serviceMailer(DefaultConfig(), newOptions([]Option{WithMailer(host)}), background)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = closeMailer() })
				return adaptertest.MailerUnderTest{Mailer: m, DetachedNotices: background,
					Delivered: func(t *testing.T) []adaptertest.Delivered {
						if err := closeMailer(); err != nil {
							t.Fatal(err)
						}
						return adaptertest.FromMailbox(host)
					}}
			})
		})
	}
}
