package mail

import (
	"context"
	"log/slog"

	"github.com/usermgmt/usermgmt/ports"
)

// BackgroundNotices is a ports.Mailer that sends security notices as
// background work, so a slow or absent mail server adds nothing to a
// sign-in. The other messages go through at once: their callers wait for
// them and report a failure. A notice the background queue refuses (full,
// or closing) is dropped and logged; notices are best effort (LG-06).
type BackgroundNotices struct {
	ports.Mailer
	background ports.Background
	log        *slog.Logger
}

// NewBackgroundNotices sends m's notices through background; the queue's
// owner drains it on shutdown.
func NewBackgroundNotices(m ports.Mailer, background ports.Background, log *slog.Logger) *BackgroundNotices {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &BackgroundNotices{Mailer: m, background: background, log: log}
}

// SendSecurityNotice queues the notice and returns at once. The caller's
// ctx does not bind the sending: a client that hangs up cannot stop its
// notice.
func (b *BackgroundNotices) SendSecurityNotice(_ context.Context, to string, n ports.SecurityNotice) error {
	if err := b.background.Run("security notice", func(ctx context.Context) error {
		return b.Mailer.SendSecurityNotice(ctx, to, n)
	}); err != nil {
		b.log.Warn("security notice dropped", "kind", n.Kind, "err", err)
	}
	return nil
}
