package usermgmt

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/adaptertest"
	"github.com/usermgmt/usermgmt/adapters/crypto"
	"github.com/usermgmt/usermgmt/adapters/memory"
	"github.com/usermgmt/usermgmt/ports"
)

// countingOutbox counts the relay's claims.
type countingOutbox struct {
	*memory.Outbox
	claims atomic.Int64
}

func (c *countingOutbox) Claim(ctx context.Context, n int, now, until time.Time) ([]ports.OutboxRecord, error) {
	c.claims.Add(1)
	return c.Outbox.Claim(ctx, n, now, until)
}

// TestIdleRelayDoesNotSpin: the relay is woken by the use cases' commits,
// not by its own, so an idle service claims about once per poll interval
// (a relay that woke itself claimed thousands of times a second).
func TestIdleRelayDoesNotSpin(t *testing.T) {
	m := memory.New()
	out := &countingOutbox{Outbox: memory.NewOutbox(m, adaptertest.Encoder())}
	box, err := crypto.NewSecretBox(make([]byte, crypto.EncryptionKeySize))
	if err != nil {
		t.Fatal(err)
	}
	st := memoryStores(m, out.Outbox, box, make([]byte, crypto.EncryptionKeySize))
	st.outbox = out
	o := newOptions(nil)
	o.mailer = &memory.Mailbox{}
	svc, err := build(t.Context(), DefaultConfig(), o, st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_ = svc.Run(ctx)
	if n := out.claims.Load(); n > 50 {
		t.Fatalf("an idle relay claimed %d times in a second", n)
	}
}
