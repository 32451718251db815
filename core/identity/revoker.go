package identity

import (
	"context"
	"log/slog"
	"time"

	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// RevokerDeps are what the Revoker drives; Logger is optional.
type RevokerDeps struct {
	Ledger   *Ledger
	Sessions ports.Sessions
	Revoked  ports.RevokedSessions
	Clock    ports.Clock
	Logger   *slog.Logger
}

// Revoker ends sessions. Each ended session gets its user.logout in the
// transaction that ends it, and goes to the revocation lookups once that
// has committed, so its access tokens fail at once (SE-03) and nothing is
// refused for an end that rolled back.
type Revoker struct {
	d   RevokerDeps
	log *slog.Logger
}

// NewRevoker returns a Revoker over d.
func NewRevoker(d RevokerDeps) (*Revoker, error) {
	if d.Ledger == nil || d.Sessions == nil || d.Revoked == nil || d.Clock == nil {
		return nil, missing("NewRevoker")
	}
	return &Revoker{d: d, log: orDiscard(d.Logger)}, nil
}

// sweepBatch is how many sessions one transaction of a mass end ends.
const sweepBatch = 500

// end ends the given sessions of uid for reason and emits one user.logout
// per session it actually ended.
func (r *Revoker) end(ctx context.Context, uid user.ID, ids []session.ID, reason session.RevokeReason, now time.Time) error {
	var ended []session.Revocation
	err := r.d.Ledger.commit(ctx, func(ctx context.Context) error {
		ended = ended[:0]
		for _, id := range ids {
			ok, err := r.d.Sessions.Revoke(ctx, id, reason, now)
			if err != nil {
				return err
			}
			if ok {
				ended = append(ended, session.Revocation{ID: id, UserID: uid, At: now})
			}
		}
		return r.d.Ledger.recordAll(ctx, r.logoutEvents(ended, reason, now)...)
	})
	if err != nil {
		return err
	}
	return r.publish(ctx, ended...)
}

// revokeUser, inside the caller's transaction, ends every session of uid
// but keep (which may be empty) for reason, with a user.logout each, and
// returns them for publish, after commit.
func (r *Revoker) revokeUser(ctx context.Context, uid user.ID, keep session.ID, reason session.RevokeReason, now time.Time) ([]session.Revocation, error) {
	ids, err := r.d.Sessions.RevokeUser(ctx, uid, keep, reason, now)
	if err != nil {
		return nil, err
	}
	ended := make([]session.Revocation, len(ids))
	for i, id := range ids {
		ended[i] = session.Revocation{ID: id, UserID: uid, At: now}
	}
	return ended, r.d.Ledger.recordAll(ctx, r.logoutEvents(ended, reason, now)...)
}

// publish puts committed ends into the revocation lookups.
func (r *Revoker) publish(ctx context.Context, ended ...session.Revocation) error {
	return r.d.Revoked.Add(ctx, ended...)
}

// inBatches runs end until it ends fewer than a batch, each batch in one
// transaction with its user.logout events, and reports how many it ended.
func (r *Revoker) inBatches(ctx context.Context, reason session.RevokeReason, end func(ctx context.Context, now time.Time) ([]session.Revocation, error)) (int, error) {
	total := 0
	for {
		now := r.d.Clock.Now()
		var ended []session.Revocation
		err := r.d.Ledger.commit(ctx, func(ctx context.Context) error {
			var err error
			if ended, err = end(ctx, now); err != nil {
				return err
			}
			return r.d.Ledger.recordAll(ctx, r.logoutEvents(ended, reason, now)...)
		})
		if err != nil {
			return total, err
		}
		if err := r.publish(ctx, ended...); err != nil {
			return total, err
		}
		total += len(ended)
		if len(ended) < sweepBatch {
			return total, nil
		}
	}
}

// endReused ends a session whose rotated token came back, and reports it.
func (r *Revoker) endReused(ctx context.Context, sess session.Session, c session.Client, now time.Time) error {
	var ended bool
	err := r.d.Ledger.commit(ctx, func(ctx context.Context) error {
		var err error
		if ended, err = r.d.Sessions.Revoke(ctx, sess.ID, session.ReasonReuse, now); err != nil || !ended {
			return err
		}
		return r.d.Ledger.recordAll(ctx,
			r.d.Ledger.event(sess.UserID, now, event.UserSecurityViolation{
				UserID: string(sess.UserID), ViolationType: "refresh_token_reuse", Severity: event.SeverityHigh,
				Details: map[string]string{"sessionId": string(sess.ID), "ipAddress": c.IP, "userAgent": c.UserAgent},
			}),
			r.d.Ledger.event(sess.UserID, now, event.UserLogout{UserID: string(sess.UserID), SessionID: string(sess.ID),
				LogoutType: session.ReasonReuse.LogoutType()}))
	})
	if err != nil {
		return err
	}
	if ended {
		r.log.WarnContext(ctx, "refresh token reuse: session ended", "user", sess.UserID, "session", sess.ID)
		return r.publish(ctx, session.Revocation{ID: sess.ID, UserID: sess.UserID, At: now})
	}
	return nil
}

// logoutEvents is one user.logout per ended session, of any users.
func (r *Revoker) logoutEvents(ended []session.Revocation, reason session.RevokeReason, now time.Time) []event.Event {
	evs := make([]event.Event, 0, len(ended))
	for _, rv := range ended {
		evs = append(evs, r.d.Ledger.event(rv.UserID, now, event.UserLogout{UserID: string(rv.UserID), SessionID: string(rv.ID), LogoutType: reason.LogoutType()}))
	}
	return evs
}
