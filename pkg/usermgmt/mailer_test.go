package usermgmt

import (
	"context"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/adaptertest"
	"github.com/usermgmt/usermgmt/adapters/memory"
	"github.com/usermgmt/usermgmt/adapters/system"
	"github.com/usermgmt/usermgmt/ports"
)

// TestHostMailerContract: a host's mailer given to WithMailer reaches the
// use cases still keeping the Mailer contract, as NewInMemory passes it
// and as New wraps it (notices in the background).
func TestHostMailerContract(t *testing.T) {
	for name, background := range map[string]bool{"NewInMemory": false, "New": true} {
		t.Run(name, func(t *testing.T) {
			adaptertest.Mailer(t, func(t *testing.T) adaptertest.MailerRig {
				host := &memory.Mailbox{}
				var queue *system.Background
				var notices ports.Background
				if background {
					queue = system.NewBackground(1, 16, time.Minute, nil)
					notices = queue
					t.Cleanup(func() { _ = queue.Close(context.Background()) })
				}
				m, err := serviceMailer(DefaultConfig(), newOptions([]Option{WithMailer(host)}), notices)
				if err != nil {
					t.Fatal(err)
				}
				return adaptertest.MailerRig{Mailer: m, DetachedNotices: background,
					Delivered: func(t *testing.T) []adaptertest.Delivered {
						if queue != nil {
							if err := queue.Close(t.Context()); err != nil {
								t.Fatal(err)
							}
						}
						return adaptertest.FromMailbox(host)
					}}
			})
		})
	}
}
