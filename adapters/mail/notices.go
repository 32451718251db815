package mail

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/usermgmt/usermgmt/ports"
)

// BackgroundNotices is a ports.Mailer that sends security notices from a
// bounded queue in the background, so a slow or absent mail server adds
// nothing to a sign-in. The other messages go through at once: their
// callers wait for them and report a failure. A notice that finds the
// queue full is dropped and logged; notices are best effort (LG-06).
type BackgroundNotices struct {
	ports.Mailer
	log  *slog.Logger
	done chan struct{}

	// mu keeps a notice from being queued while Close closes the queue:
	// a send on a closed channel panics.
	mu     sync.RWMutex
	queue  chan notice
	closed bool
}

type notice struct {
	to string
	n  ports.SecurityNotice
}

// noticeTimeout bounds the sending of one notice.
const noticeTimeout = 30 * time.Second

// NewBackgroundNotices starts the sender over m with room for queue notices.
func NewBackgroundNotices(m ports.Mailer, queue int, log *slog.Logger) *BackgroundNotices {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &BackgroundNotices{Mailer: m, queue: make(chan notice, queue), log: log, done: make(chan struct{})}
	go b.run()
	return b
}

func (b *BackgroundNotices) run() {
	defer close(b.done)
	for x := range b.queue {
		ctx, cancel := context.WithTimeout(context.Background(), noticeTimeout)
		if err := b.Mailer.SendSecurityNotice(ctx, x.to, x.n); err != nil {
			b.log.Warn("security notice not sent", "kind", x.n.Kind, "err", err)
		}
		cancel()
	}
}

// SendSecurityNotice queues the notice and returns at once. The caller's
// ctx does not bind the sending: a client that hangs up cannot stop its
// notice.
func (b *BackgroundNotices) SendSecurityNotice(_ context.Context, to string, n ports.SecurityNotice) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		b.log.Warn("security notice dropped: the sender is closed", "kind", n.Kind)
		return nil
	}
	select {
	case b.queue <- notice{to, n}:
	default:
		b.log.Warn("security notice dropped: the queue is full", "kind", n.Kind)
	}
	return nil
}

// Close sends what is queued, waiting at most until ctx ends, and stops.
// Notices queued after Close are lost.
func (b *BackgroundNotices) Close(ctx context.Context) error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.queue)
	}
	b.mu.Unlock()
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
