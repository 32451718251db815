package memory_test

import (
	"testing"

	"github.com/usermgmt/usermgmt/adapters/adaptertest"
	"github.com/usermgmt/usermgmt/adapters/memory"
)

func setup(*testing.T) adaptertest.Stores {
	m := memory.New()
	out := memory.NewOutbox(m, adaptertest.Encoder())
	return adaptertest.Stores{Tx: memory.NewTransactor(m), Users: memory.NewUsers(m), Credentials: memory.NewCredentials(m),
		Sessions: memory.NewSessions(m), Outbox: out, Relay: out, Backlog: out, Keys: memory.NewSigningKeys(m),
		Processed: memory.NewProcessedEvents(m), Activities: memory.NewActivities(m)}
}

func TestContract(t *testing.T) { adaptertest.All(t, setup) }
