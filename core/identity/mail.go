package identity

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// MailDeps are what Mail drives; Logger is optional.
type MailDeps struct {
	Users  ports.Users
	Tokens ports.OneTimeTokens
	Mailer ports.Mailer
	// Background runs the mailed-link work after the answer (LG-01).
	Background ports.Background
	IDs        ports.IDs
	Clock      ports.Clock
	Throttle   *Throttle
	Logger     *slog.Logger
}

// MailConfig holds the settings of mailed links.
type MailConfig struct {
	// PublicURL is the base of every link sent to users: configured, never
	// taken from a request's Host or X-Forwarded-Host (LG-07).
	PublicURL string
}

// Mail sends what the service mails an account's owner: one-time links
// that prove control of the mailbox (verification, password reset), which
// it also redeems, and security notices. Requests for links answer alike
// for every address and spend shared budgets, so neither the answer nor a
// flood of mail tells who has an account (LG-01, LG-09).
type Mail struct {
	d   MailDeps
	cfg MailConfig
	log *slog.Logger
}

// NewMail returns Mail over d.
func NewMail(d MailDeps, cfg MailConfig) (*Mail, error) {
	if d.Users == nil || d.Tokens == nil || d.Mailer == nil || d.Background == nil || d.IDs == nil || d.Clock == nil || d.Throttle == nil {
		return nil, missing("NewMail")
	}
	return &Mail{d: d, cfg: cfg, log: orDiscard(d.Logger)}, nil
}

// mailRequestsPerIP is how many mailed-link requests (reset and
// verification together) one client address may make in an hour.
const mailRequestsPerIP = 20

// mailsPerAddress is how many mails about one address (verification links,
// reset links, notices of a repeated registration) its requests may cause
// in an hour, from any number of clients.
const mailsPerAddress = 5

// request spends the client's mailed-link budget and runs work in the
// background; the caller answers the same whatever work finds.
func (m *Mail) request(ctx context.Context, c session.Client, name string, work func(context.Context) error) error {
	if err := m.d.Throttle.take(ctx, "mail:ip:"+ipBudgetKey(c.Normalized().IP), mailRequestsPerIP, time.Hour); err != nil {
		return err
	}
	return m.d.Background.Run(name, work)
}

// verificationLater mails a new verification link to the account with
// email after the caller has answered.
func (m *Mail) verificationLater(email string) error {
	return m.d.Background.Run("verification mail", func(ctx context.Context) error {
		return m.verificationLink(ctx, email)
	})
}

// recipient finds the active account a mailed link may go to. It spends
// the address's mail budget (spend) and answers ok=false, with no error,
// for anything that gets no mail: the caller says the same either way
// (LG-01).
func (m *Mail) recipient(ctx context.Context, email string) (user.User, bool, error) {
	e, err := user.NormalizeEmail(email)
	if err != nil {
		return user.User{}, false, nil
	}
	if err := m.spend(ctx, e); err != nil {
		return user.User{}, false, err
	}
	u, err := m.d.Users.ByEmail(ctx, e)
	if errors.Is(err, user.ErrNotFound) {
		return user.User{}, false, nil
	}
	if err != nil {
		return user.User{}, false, err
	}
	return u, u.CanSignIn(), nil
}

// spend spends one of the mails that requests about the normalised
// address e may cause in an hour: registrations, resends and resets
// together, from any number of clients, so nobody floods a mailbox (LG-09).
func (m *Mail) spend(ctx context.Context, e string) error {
	return m.d.Throttle.take(ctx, "mail:address:"+e, mailsPerAddress, time.Hour)
}

// link stores a fresh 256-bit one-time token of purpose for u, valid for
// ttl, and returns the public link that carries it. The token is in the
// fragment, so it never reaches a server log or a Referer.
func (m *Mail) link(ctx context.Context, purpose ports.TokenPurpose, u user.User, path string, ttl time.Duration) (string, time.Time, error) {
	now := m.d.Clock.Now()
	raw := base64.RawURLEncoding.EncodeToString(m.d.IDs.NewSecret(32))
	expires := now.Add(ttl)
	if err := m.d.Tokens.Issue(ctx, purpose, u.ID(), tokenHash(raw), now, expires); err != nil {
		return "", time.Time{}, err
	}
	return m.cfg.PublicURL + path + "#token=" + raw, expires, nil
}

// lookup names the account a live link token of purpose is for, leaving
// it usable; user.ErrNotFound when there is none.
func (m *Mail) lookup(ctx context.Context, purpose ports.TokenPurpose, token string, now time.Time) (user.ID, error) {
	return m.d.Tokens.Lookup(ctx, purpose, tokenHash(token), now)
}

// consume spends a live link token of purpose, in the caller's
// transaction, and names its account; user.ErrNotFound when there is none.
func (m *Mail) consume(ctx context.Context, purpose ports.TokenPurpose, token string, now time.Time) (user.ID, error) {
	return m.d.Tokens.Consume(ctx, purpose, tokenHash(token), now)
}

// dropLinks voids every outstanding link of purpose sent to uid.
func (m *Mail) dropLinks(ctx context.Context, purpose ports.TokenPurpose, uid user.ID) error {
	return m.d.Tokens.InvalidateUser(ctx, purpose, uid)
}

// sendVerification mails u a link that proves control of the address.
func (m *Mail) sendVerification(ctx context.Context, u user.User) error {
	link, expires, err := m.link(ctx, ports.PurposeEmailVerification, u, "/verify-email", VerifyTTL)
	if err != nil {
		return err
	}
	return m.d.Mailer.SendEmailVerification(ctx, u.Email(), link, expires)
}

// verificationLink mails a new verification link to the account with
// email, if it exists and is unverified.
func (m *Mail) verificationLink(ctx context.Context, email string) error {
	u, ok, err := m.recipient(ctx, email)
	if err != nil {
		return fmt.Errorf("resend verification: %w", err)
	}
	if !ok || u.EmailVerified() {
		return nil
	}
	if err := m.sendVerification(ctx, u); err != nil {
		return fmt.Errorf("resend verification: %w", err)
	}
	return nil
}

// resetLink mails a reset link to the account with email, when there is
// an active one.
func (m *Mail) resetLink(ctx context.Context, email string) error {
	u, ok, err := m.recipient(ctx, email)
	if err != nil || !ok {
		return err
	}
	if err := m.sendReset(ctx, ports.PurposePasswordReset, u); err != nil {
		return fmt.Errorf("request password reset: %w", err)
	}
	return nil
}

// sendReset mails u a reset link of purpose.
func (m *Mail) sendReset(ctx context.Context, purpose ports.TokenPurpose, u user.User) error {
	link, expires, err := m.link(ctx, purpose, u, "/reset-password", ResetTTL)
	if err != nil {
		return err
	}
	return m.d.Mailer.SendPasswordReset(ctx, u.Email(), link, expires)
}

// notify sends the owner of u a security notice; it never fails the
// operation that caused it (LG-06).
func (m *Mail) notify(ctx context.Context, u user.User, n ports.SecurityNotice) {
	if err := m.d.Mailer.SendSecurityNotice(ctx, u.Email(), n); err != nil {
		m.log.WarnContext(ctx, "security notice not sent", "user", u.ID(), "kind", n.Kind, "err", err)
	}
}

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}
