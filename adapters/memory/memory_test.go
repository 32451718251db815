package memory_test

import (
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/adaptertest"
	"github.com/usermgmt/usermgmt/adapters/memory"
	"github.com/usermgmt/usermgmt/adapters/system"
)

func setup(*testing.T) adaptertest.Stores {
	m := memory.New()
	out := memory.NewOutbox(m, adaptertest.Encoder())
	users := memory.NewUsers(m)
	return adaptertest.Stores{Tx: memory.NewTransactor(m), Users: users, Credentials: memory.NewCredentials(m),
		Sessions: memory.NewSessions(m), Outbox: out, Relay: out, Backlog: out, Keys: memory.NewSigningKeys(m),
		Processed: memory.NewProcessedEvents(m), Activities: memory.NewActivities(m),
		Tokens: memory.NewOneTimeTokens(m), Factors: memory.NewMFAFactors(m), BackupCodes: memory.NewBackupCodes(m),
		Challenges: memory.NewMFAChallenges(m), Roles: memory.NewRoles(m), Audit: memory.NewAuditLog(m),
		Directory: memory.NewDirectory(m), Imports: users, Eraser: users}
}

func TestContract(t *testing.T) { adaptertest.All(t, setup) }

func TestLimitsContract(t *testing.T) {
	adaptertest.Limits(t, func(*testing.T) adaptertest.LimitStores {
		l := memory.NewLimits(system.Clock{})
		return adaptertest.LimitStores{Limiter: l, Failures: l}
	})
}

func TestMailerContract(t *testing.T) {
	adaptertest.Mailer(t, func(*testing.T) adaptertest.MailerRig {
		b := &memory.Mailbox{}
		return adaptertest.MailerRig{Mailer: b, Delivered: func(*testing.T) []adaptertest.Delivered { return adaptertest.FromMailbox(b) }}
	})
}

func TestSMSContract(t *testing.T) {
	adaptertest.SMSSender(t, func(*testing.T) adaptertest.SMSRig {
		box := &memory.SMSBox{}
		return adaptertest.SMSRig{Sender: box, Sent: func() []adaptertest.SMS {
			var out []adaptertest.SMS
			for _, m := range box.Messages() {
				out = append(out, adaptertest.SMS{To: m.To, Text: m.Text})
			}
			return out
		}}
	})
}

func TestRevokedSessionsContract(t *testing.T) {
	adaptertest.RevokedSessions(t, func(_ *testing.T, keep time.Duration) adaptertest.RevocationRig {
		return adaptertest.RevocationRig{Store: memory.NewRevokedSessions(system.Clock{}, keep)}
	})
}
