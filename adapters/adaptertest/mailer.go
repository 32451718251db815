package adaptertest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/memory"
	"github.com/usermgmt/usermgmt/ports"
)

// Delivered is one message as its recipient reads it.
type Delivered struct {
	To   string // the bare address it reached
	Text string // what the recipient can read: for a rendered message, its decoded parts
}

// MailerRig is a mailer and the implementation's way of reading back
// what it delivered.
type MailerRig struct {
	Mailer ports.Mailer
	// Delivered returns every message delivered so far. The suite calls it
	// once, after a test's last send, so it may first drain and stop a
	// mailer that sends in the background.
	Delivered func(t *testing.T) []Delivered
	// DetachedNotices says SendSecurityNotice only queues the notice and
	// returns nil (mail.BackgroundNotices). Such a notice outlives its
	// caller's ctx, so a client that hangs up cannot suppress it, and a
	// recipient the mailer refuses shows as a notice never delivered
	// rather than as an error.
	DetachedNotices bool
}

// FromMailbox reads what a memory.Mailbox kept, for setups over one.
func FromMailbox(b *memory.Mailbox) []Delivered {
	var out []Delivered
	for _, m := range b.Messages() {
		out = append(out, Delivered{To: m.To, Text: strings.Join([]string{m.Link, m.Code, m.Notice.IP}, "\n")})
	}
	return out
}

// What the suite sends. The link is longer than a line of
// quoted-printable, so a reader that does not decode the message will not
// find it.
const (
	mailRecipient = "alice@example.test"
	mailRandom    = "YWRhcHRlcnRlc3QtdG9rZW4tMDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6" // the link's one-time part
	mailLink      = "https://id.example.test/password/reset#token=" + mailRandom
	mailCode      = "482916"
	mailNoticeIP  = "203.0.113.77"
)

// mailSend is one method of ports.Mailer as the suite calls it.
type mailSend struct {
	method  string
	carries string   // what the delivered message must contain
	secrets []string // what no error may contain
	notice  bool
	send    func(ctx context.Context, m ports.Mailer, to string) error
}

var mailSends = []mailSend{
	{method: "SendPasswordReset", carries: mailLink, secrets: []string{mailLink, mailRandom},
		send: func(ctx context.Context, m ports.Mailer, to string) error {
			return m.SendPasswordReset(ctx, to, mailLink, t0.Add(time.Hour))
		}},
	{method: "SendEmailVerification", carries: mailLink, secrets: []string{mailLink, mailRandom},
		send: func(ctx context.Context, m ports.Mailer, to string) error {
			return m.SendEmailVerification(ctx, to, mailLink, t0.Add(time.Hour))
		}},
	{method: "SendSignInCode", carries: mailCode, secrets: []string{mailCode},
		send: func(ctx context.Context, m ports.Mailer, to string) error {
			return m.SendSignInCode(ctx, to, mailCode, t0.Add(5*time.Minute))
		}},
	{method: "SendSecurityNotice", carries: mailNoticeIP, notice: true,
		send: func(ctx context.Context, m ports.Mailer, to string) error {
			return m.SendSecurityNotice(ctx, to, ports.SecurityNotice{Kind: ports.NoticeNewDevice, At: t0,
				IP: mailNoticeIP, UserAgent: "adaptertest"})
		}},
}

// Mailer is the contract of ports.Mailer: each method delivers one message
// to the recipient carrying its link, code or notice; a cancelled ctx
// fails and delivers nothing; a recipient with CR or LF (a header
// injection) is refused; and no error quotes the link or code. A detached
// notice (MailerRig.DetachedNotices) is the exception: it reports no
// error, is sent whatever its ctx, and a refused one is never delivered.
func Mailer(t *testing.T, setup func(t *testing.T) MailerRig) {
	for _, s := range mailSends {
		t.Run(s.method, func(t *testing.T) {
			t.Run("delivers one message carrying its content", func(t *testing.T) {
				t.Parallel()
				m := setup(t)
				mustNotFail(t, s.method, s.send(t.Context(), m.Mailer, mailRecipient))
				got := m.Delivered(t)
				if len(got) != 1 || got[0].To != mailRecipient {
					t.Fatalf("delivered %+v, want one message to %s", got, mailRecipient)
				}
				if !strings.Contains(got[0].Text, s.carries) {
					t.Fatalf("the message lacks %q:\n%s", s.carries, got[0].Text)
				}
			})

			t.Run("a cancelled ctx fails and delivers nothing", func(t *testing.T) {
				t.Parallel()
				m := setup(t)
				ctx, cancel := context.WithCancel(t.Context())
				cancel()
				err := s.send(ctx, m.Mailer, mailRecipient)
				got := m.Delivered(t)
				if s.notice && m.DetachedNotices {
					if err != nil || len(got) != 1 {
						t.Fatalf("detached notice: err %v, %d delivered; want nil and the notice sent regardless", err, len(got))
					}
					return
				}
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("err = %v, want context.Canceled", err)
				}
				checkNoSecret(t, s, err)
				if len(got) != 0 {
					t.Fatalf("delivered %d messages", len(got))
				}
			})

			t.Run("a recipient with CR or LF is refused", func(t *testing.T) {
				t.Parallel()
				m := setup(t)
				detached := s.notice && m.DetachedNotices // reports nothing: refused means never delivered
				for _, to := range []string{
					mailRecipient + "\r\nBcc: eve@example.test",
					mailRecipient + "\nBcc: eve@example.test",
					mailRecipient + "\r",
				} {
					err := s.send(t.Context(), m.Mailer, to)
					if err == nil && !detached {
						t.Errorf("to %q accepted", to)
					}
					checkNoSecret(t, s, err)
				}
				if got := m.Delivered(t); len(got) != 0 {
					t.Fatalf("delivered %+v", got)
				}
			})
		})
	}
}

func checkNoSecret(t *testing.T, s mailSend, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, sec := range s.secrets {
		if strings.Contains(err.Error(), sec) {
			t.Fatalf("%s: the error quotes a secret: %v", s.method, err)
		}
	}
}
