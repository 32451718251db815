package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// AlertsDeps are what Alerts drives; Logger is optional.
type AlertsDeps struct {
	Ledger   *Ledger
	Clock    ports.Clock
	Sessions ports.Sessions
	Mail     *Mail
	Throttle *Throttle
	// Trail records the sign-ins that fail (those that succeed are
	// recorded with their user.login event).
	Trail  Trail
	Logger *slog.Logger
}

// Trail records audit entries outside an action's transaction
// (core/auditlog's Log).
type Trail interface {
	Record(ctx context.Context, e audit.Entry) error
}

// Alerts tells an account's owner, and the event stream, what its sign-ins
// reveal: a new device or a run of failures before a success (LG-06), a
// guess that reached the lockout (LG-02), a spent code presented again
// (MF-02). Password and second-factor checks report alike through it.
type Alerts struct {
	d   AlertsDeps
	log *slog.Logger
}

// NewAlerts returns Alerts over d.
func NewAlerts(d AlertsDeps) (*Alerts, error) {
	if d.Ledger == nil || d.Clock == nil || d.Sessions == nil || d.Mail == nil || d.Throttle == nil || d.Trail == nil {
		return nil, missing("NewAlerts")
	}
	return &Alerts{d: d, log: orDiscard(d.Logger)}, nil
}

// noticeAfterFailures is how many failed attempts before a sign-in make it
// worth telling the owner about (LG-06); fewer are typing mistakes.
const noticeAfterFailures = 3

// signedIn sends the notices a new session calls for (LG-06): a sign-in
// that followed failed attempts, and one from a client (address and user
// agent) the account has not used before. Neither can fail the sign-in.
func (a *Alerts) signedIn(ctx context.Context, u user.User, sess session.Session, priorFailures int) {
	n := ports.SecurityNotice{At: sess.CreatedAt, IP: sess.Client.IP, UserAgent: sess.Client.UserAgent}
	if priorFailures >= noticeAfterFailures {
		after := n
		after.Kind, after.Failures = ports.NoticeSignInAfterFailures, priorFailures
		a.d.Mail.notify(ctx, u, after)
	}
	known, err := a.d.Sessions.Known(ctx, u.ID(), sess.Client, sess.ID)
	if err != nil {
		a.log.WarnContext(ctx, "new-device check skipped", "user", u.ID(), "err", err)
		return
	}
	if !known {
		n.Kind = ports.NoticeNewDevice
		a.d.Mail.notify(ctx, u, n)
	}
}

// reportLimit reports the failed attempt that reached the limit, the
// attempt-th in a row, as a brute-force violation of factor.
func (a *Alerts) reportLimit(ctx context.Context, u user.User, attempt int, c session.Client, factor string) error {
	if attempt != a.d.Throttle.limits.MaxFailures || u.ID() == "" {
		return nil
	}
	now := a.d.Clock.Now()
	a.log.WarnContext(ctx, "account throttled after consecutive failures", "user", u.ID(), "factor", factor, "failures", attempt)
	ev := a.d.Ledger.event(u.ID(), now, event.UserSecurityViolation{UserID: string(u.ID()), ViolationType: "brute_force",
		Severity: event.SeverityHigh, Details: map[string]string{"failures": fmt.Sprint(attempt), "ipAddress": c.IP, "factor": factor}})
	if err := a.d.Ledger.commit(ctx, func(ctx context.Context) error { return a.d.Ledger.recordAll(ctx, ev) }); err != nil {
		return fmt.Errorf("report brute force: %w", err)
	}
	return nil
}

// reportReplay reports a spent code that came back (MF-02): a TOTP code
// seen twice means someone else holds the password and watched a code.
// It returns only a failure to report.
func (a *Alerts) reportReplay(ctx context.Context, u user.User, m mfa.Method, c session.Client) error {
	now := a.d.Clock.Now()
	a.log.WarnContext(ctx, "a spent second-factor code was presented again", "user", u.ID(), "method", m)
	ev := a.d.Ledger.event(u.ID(), now, event.UserSecurityViolation{UserID: string(u.ID()), ViolationType: "mfa_code_replay",
		Severity: event.SeverityMedium, Details: map[string]string{"method": m.String(), "ipAddress": c.IP}})
	if err := a.d.Ledger.commit(ctx, func(ctx context.Context) error { return a.d.Ledger.recordAll(ctx, ev) }); err != nil {
		return fmt.Errorf("report code replay: %w", err)
	}
	a.d.Mail.notify(ctx, u, ports.SecurityNotice{Kind: ports.NoticeCodeReused, At: now, IP: c.IP, UserAgent: c.UserAgent, Method: m.String()})
	return nil
}

// failedSignIn records a sign-in that failed (LO-03): the account when one
// was found (never the identifier typed, which may be a password typed in
// the wrong field), the method and why, by its error code. Recording
// cannot fail the answer, which is already a failure.
func (a *Alerts) failedSignIn(ctx context.Context, uid user.ID, method string, err error, c session.Client) {
	a.failed(ctx, event.TypeUserLogin, uid, method, err, c)
}

// failed records a proof of identity that failed: a sign-in, or the
// password a signed-in user gives again to change a credential.
func (a *Alerts) failed(ctx context.Context, action string, uid user.ID, method string, err error, c session.Client) {
	reason := "internal"
	var de *errs.Error
	if errors.As(err, &de) {
		reason = de.Code
	}
	e := audit.Entry{At: a.d.Clock.Now(), Action: action, Target: string(uid), IP: c.IP, UserAgent: c.UserAgent,
		Outcome: audit.Failure, Details: map[string]string{"method": method, "reason": reason}}
	if uid != "" {
		e.Actor = audit.Actor{Kind: audit.ActorUser, ID: string(uid)}
	}
	if err := a.d.Trail.Record(ctx, e); err != nil {
		a.log.WarnContext(ctx, "failed proof not audited", "action", action, "user", uid, "err", err)
	}
}
