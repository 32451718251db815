package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
)

// SessionView is a live session as its owner sees it.
type SessionView struct {
	session.Session
	Current bool // the session of the token that asked
}

// MySessions lists the caller's live sessions, newest first (SE-09).
func (s *Service) MySessions(ctx context.Context, p token.Claims) ([]SessionView, error) {
	if _, err := s.stepUp(ctx, user.ID(p.Subject), p.AMR); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	now := s.d.Clock.Now()
	live, err := s.d.Sessions.Live(ctx, user.ID(p.Subject), now)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	out := make([]SessionView, 0, len(live))
	for _, ss := range live {
		if ss.Live(s.cfg.Sessions, now) {
			out = append(out, SessionView{Session: ss, Current: string(ss.ID) == p.SessionID})
		}
	}
	return out, nil
}

// EndMySession ends one of the caller's sessions. Another user's session
// is not found, exactly like a session that does not exist (AC-02).
func (s *Service) EndMySession(ctx context.Context, p token.Claims, id session.ID) error {
	uid := user.ID(p.Subject)
	if _, err := s.stepUp(ctx, uid, p.AMR); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	ss, err := s.d.Sessions.ByID(ctx, id)
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	if ss.UserID != uid || ss.Revoked() {
		return session.ErrNotFound
	}
	if err := s.endSessions(ctx, uid, []session.ID{id}, session.ReasonManual, s.d.Clock.Now()); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// EndOtherSessions ends every session of the caller but the current one
// ("sign out everywhere else") and reports how many it ended.
func (s *Service) EndOtherSessions(ctx context.Context, p token.Claims) (int, error) {
	uid := user.ID(p.Subject)
	if _, err := s.stepUp(ctx, uid, p.AMR); err != nil {
		return 0, fmt.Errorf("end other sessions: %w", err)
	}
	live, err := s.d.Sessions.Live(ctx, uid, s.d.Clock.Now())
	if err != nil {
		return 0, fmt.Errorf("end other sessions: %w", err)
	}
	var others []session.ID
	for _, ss := range live {
		if string(ss.ID) != p.SessionID {
			others = append(others, ss.ID)
		}
	}
	if err := s.endSessions(ctx, uid, others, session.ReasonManual, s.d.Clock.Now()); err != nil {
		return 0, fmt.Errorf("end other sessions: %w", err)
	}
	return len(others), nil
}

// sweepBatch is how many expired sessions one sweep transaction ends.
const sweepBatch = 500

// EndExpiredSessions ends every session whose absolute lifetime or idle
// timeout has passed, emitting user.logout with logoutType timeout for each
// (SE-06), and drops expired sign-in challenges. Instances may sweep at once.
func (s *Service) EndExpiredSessions(ctx context.Context) (int, error) {
	n, err := s.endInBatches(ctx, session.ReasonTimeout, func(ctx context.Context, now time.Time) ([]session.Revocation, error) {
		return s.d.Sessions.EndExpired(ctx, now, now.Add(-s.cfg.Sessions.IdleTimeout), sweepBatch)
	})
	if err != nil {
		return n, fmt.Errorf("end expired sessions: %w", err)
	}
	if _, err := s.d.Challenges.DeleteExpired(ctx, s.d.Clock.Now()); err != nil {
		return n, fmt.Errorf("drop expired challenges: %w", err)
	}
	return n, nil
}

// endInBatches runs end until it ends fewer than a batch, each batch in one
// transaction with its user.logout events, and reports how many it ended.
func (s *Service) endInBatches(ctx context.Context, reason session.RevokeReason, end func(ctx context.Context, now time.Time) ([]session.Revocation, error)) (int, error) {
	total := 0
	for {
		now := s.d.Clock.Now()
		var ended []session.Revocation
		err := s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
			var err error
			if ended, err = end(ctx, now); err != nil {
				return err
			}
			return s.d.Outbox.Append(ctx, s.logoutEventsOf(ended, reason, now)...)
		})
		if err != nil {
			return total, err
		}
		if err := s.d.Revoked.Add(ctx, ended...); err != nil {
			return total, err
		}
		total += len(ended)
		if len(ended) < sweepBatch {
			return total, nil
		}
	}
}

// logoutEventsOf is one user.logout per ended session, of any users.
func (s *Service) logoutEventsOf(ended []session.Revocation, reason session.RevokeReason, now time.Time) []event.Event {
	evs := make([]event.Event, 0, len(ended))
	for _, r := range ended {
		evs = append(evs, s.event(r.UserID, now, event.UserLogout{UserID: string(r.UserID), SessionID: string(r.ID), LogoutType: reason.LogoutType()}))
	}
	return evs
}

// ErrNotAdmin refuses an administration call by someone who is not an
// administrator now (the token's roles may be older than a demotion).
var ErrNotAdmin = errs.New(errs.Forbidden, "auth.admin_required", "only administrators may do this")

// requireAdmin loads the caller and refuses unless they hold the admin
// role at this moment, at the AAL their account needs.
func (s *Service) requireAdmin(ctx context.Context, p token.Claims) (user.User, error) {
	u, err := s.stepUp(ctx, user.ID(p.Subject), p.AMR)
	if errors.Is(err, user.ErrNotFound) {
		return user.User{}, ErrNotAdmin
	}
	if err != nil {
		return user.User{}, err
	}
	if !u.HasRole(user.RoleAdmin) || !u.CanSignIn() {
		return user.User{}, ErrNotAdmin
	}
	return u, nil
}

// EndUserSessions is an administrator ending every session of a user
// (SE-09), each with user.logout logoutType forced. An unknown user is not
// found.
func (s *Service) EndUserSessions(ctx context.Context, p token.Claims, uid user.ID) (int, error) {
	if _, err := s.requireAdmin(ctx, p); err != nil {
		return 0, err
	}
	if _, err := s.d.Users.ByID(ctx, uid); err != nil {
		return 0, fmt.Errorf("end user sessions: %w", err)
	}
	now := s.d.Clock.Now()
	var ended []session.Revocation
	err := s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		var err error
		ended, err = s.revokeUser(ctx, uid, "", session.ReasonForced, now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("end user sessions: %w", err)
	}
	s.log.InfoContext(ctx, "administrator ended a user's sessions", "admin", p.Subject, "user", uid, "sessions", len(ended))
	return len(ended), s.d.Revoked.Add(ctx, ended...)
}

// EndAllSessions is an administrator ending every live session of every
// user, their own included (SE-09): after a key compromise, say. It first
// retires the signing key at once (SE-12): a token forged with a leaked
// key names a session that never existed, which no revocation reaches.
// Sessions end in batches, each committed with its user.logout events.
func (s *Service) EndAllSessions(ctx context.Context, p token.Claims) (int, error) {
	if _, err := s.requireAdmin(ctx, p); err != nil {
		return 0, err
	}
	if err := s.d.Keys.RotateNow(ctx); err != nil {
		return 0, fmt.Errorf("end all sessions: rotate the signing key: %w", err)
	}
	s.log.WarnContext(ctx, "administrator retired the signing key", "admin", p.Subject)
	total, err := s.endInBatches(ctx, session.ReasonForced, func(ctx context.Context, now time.Time) ([]session.Revocation, error) {
		return s.d.Sessions.EndAll(ctx, session.ReasonForced, now, sweepBatch)
	})
	if err != nil {
		return total, fmt.Errorf("end all sessions: %w", err)
	}
	s.log.WarnContext(ctx, "administrator ended every session", "admin", p.Subject, "sessions", total)
	return total, nil
}

// endSessions ends the given sessions of uid for reason and emits one
// user.logout per session it actually ended.
func (s *Service) endSessions(ctx context.Context, uid user.ID, ids []session.ID, reason session.RevokeReason, now time.Time) error {
	var ended []session.Revocation
	err := s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		ended = ended[:0]
		for _, id := range ids {
			ok, err := s.d.Sessions.Revoke(ctx, id, reason, now)
			if err != nil {
				return err
			}
			if ok {
				ended = append(ended, session.Revocation{ID: id, UserID: uid, At: now})
			}
		}
		return s.d.Outbox.Append(ctx, s.logoutEventsOf(ended, reason, now)...)
	})
	if err != nil {
		return err
	}
	return s.d.Revoked.Add(ctx, ended...)
}

// Logout ends the caller's session and, if a refresh token is given, the
// session it belongs to when that is the caller's too.
func (s *Service) Logout(ctx context.Context, p token.Claims, refreshToken string) error {
	uid := user.ID(p.Subject)
	ids := []session.ID{session.ID(p.SessionID)}
	if refreshToken != "" && session.WellFormed(refreshToken) {
		other, err := s.d.Sessions.ByRefreshHash(ctx, session.Hash(refreshToken))
		switch {
		case err == nil && other.UserID == uid && other.ID != ids[0]:
			ids = append(ids, other.ID)
		case err != nil && !errors.Is(err, session.ErrNotFound):
			return fmt.Errorf("logout: %w", err)
		}
	}
	if err := s.endSessions(ctx, uid, ids, session.ReasonManual, s.d.Clock.Now()); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// revokeUser, inside the caller's transaction, ends every session of uid
// but keep (which may be empty) for reason, with a user.logout each, and
// returns them for the revocation lookups, to add after commit.
func (s *Service) revokeUser(ctx context.Context, uid user.ID, keep session.ID, reason session.RevokeReason, now time.Time) ([]session.Revocation, error) {
	ids, err := s.d.Sessions.RevokeUser(ctx, uid, keep, reason, now)
	if err != nil {
		return nil, err
	}
	ended := make([]session.Revocation, len(ids))
	for i, id := range ids {
		ended[i] = session.Revocation{ID: id, UserID: uid, At: now}
	}
	return ended, s.d.Outbox.Append(ctx, s.logoutEventsOf(ended, reason, now)...)
}

// SyncRevocations loads into the revocation lookups every session that ended
// recently enough for one of its access tokens to be still valid: at start
// (so a restart forgets no revocation) and periodically when other instances
// share the database without a shared revocation store.
func (s *Service) SyncRevocations(ctx context.Context, window time.Duration) error {
	rs, err := s.d.Sessions.RevokedSince(ctx, s.d.Clock.Now().Add(-window))
	if err != nil {
		return fmt.Errorf("sync revocations: %w", err)
	}
	return s.d.Revoked.Add(ctx, rs...)
}
