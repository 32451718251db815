// Package adaptertest holds one contract suite per port that has several
// implementations. Every storage implementation (adapters/memory,
// adapters/sqlstore on SQLite and Postgres) runs the same suites, which is
// what makes the in-memory adapter a trustworthy stand-in for the
// databases:
//
//	func TestContract(t *testing.T) { adaptertest.All(t, setup) }
//
// A Setup returns fresh, empty stores that share one transaction scope; it
// must build the Outbox with Encoder(), whose bytes the suite compares.
//
// The other suites take the implementation and a way to observe what it
// did: Mailer runs against adapters/mail (files and SMTP), adapters/memory
// and pkg/usermgmt (a host's mailer as the service wraps it);
// EventPublisher against Kafka, the log and a host's sink; TokenVerifier
// against the verifier and the caching verifier; SMSSender against the
// webhook and the in-memory box; RevokedSessions against the in-process
// set and Valkey (two instances, and one cut off from its server).
//
// Subtests call t.Parallel, so a setup must be safe to call concurrently.
package adaptertest

import (
	"context"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/ports"
)

// Stores are the implementations under test. All of them share one
// Transactor: repositories called with a ctx from Tx.WithinTx join it.
type Stores struct {
	Tx          ports.Transactor
	Users       ports.Users
	Credentials ports.Credentials
	Sessions    ports.Sessions
	Outbox      ports.Outbox
	Relay       ports.OutboxRelay // reads what Outbox appended
	Backlog     ports.OutboxBacklog
	Keys        ports.SigningKeys
	Processed   ports.ProcessedEvents
	Activities  ports.Activities
	Tokens      ports.OneTimeTokens
	Factors     ports.MFAFactors
	BackupCodes ports.BackupCodes
	Challenges  ports.MFAChallenges
	Roles       ports.Roles
	Audit       ports.AuditLog
	Directory   ports.UserDirectory  // lists what Users stored, with Sessions' sign-ins
	Imports     ports.AccountImports // stores what Users and Credentials read
	Eraser      ports.UserEraser     // erases what every other store holds of a user
}

// Setup returns fresh, empty stores for one test; cleanup goes to t.Cleanup.
type Setup func(t *testing.T) Stores

// Encoder is the event encoder a Setup must give its Outbox: the suite
// checks that stored payloads are exactly its bytes.
func Encoder() event.Encoder {
	return event.NewEncoder("urn:usermgmt:adaptertest", "https://schemas.example.test/events/",
		func(context.Context) string { return "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" })
}

// All runs every suite as a subtest.
func All(t *testing.T, setup Setup) {
	t.Run("Users", func(t *testing.T) { Users(t, setup) })
	t.Run("Credentials", func(t *testing.T) { Credentials(t, setup) })
	t.Run("Sessions", func(t *testing.T) {
		Sessions(t, setup)
		SessionsLive(t, setup)
		SessionsLifecycle(t, setup)
		SessionsReissue(t, setup)
	})
	t.Run("Roles", func(t *testing.T) { Roles(t, setup) })
	t.Run("Outbox", func(t *testing.T) { Outbox(t, setup) })
	t.Run("SigningKeys", func(t *testing.T) { SigningKeys(t, setup) })
	t.Run("Transactor", func(t *testing.T) { Transactor(t, setup) })
	t.Run("Inbox", func(t *testing.T) { Inbox(t, setup) })
	t.Run("OneTimeTokens", func(t *testing.T) { OneTimeTokens(t, setup) })
	t.Run("MFAFactors", func(t *testing.T) { MFAFactors(t, setup) })
	t.Run("BackupCodes", func(t *testing.T) { BackupCodes(t, setup) })
	t.Run("MFAChallenges", func(t *testing.T) { MFAChallenges(t, setup) })
	t.Run("AuditLog", func(t *testing.T) { AuditLog(t, setup) })
	t.Run("Directory", func(t *testing.T) { Directory(t, setup) })
	t.Run("AccountImports", func(t *testing.T) { AccountImports(t, setup) })
	t.Run("UserEraser", func(t *testing.T) { UserEraser(t, setup) })
}

// t0 is the suite's epoch: UTC with microseconds, as ports.Clock returns.
var t0 = time.Date(2025, time.June, 1, 12, 0, 0, 123456000, time.UTC)

// run runs a parallel subtest with fresh stores.
func run(t *testing.T, setup Setup, name string, fn func(t *testing.T, s Stores)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		fn(t, setup(t))
	})
}
