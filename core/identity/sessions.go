package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// SessionsDeps are what the session use cases drive; Logger is optional.
type SessionsDeps struct {
	Sessions ports.Sessions
	Users    ports.Users
	Clock    ports.Clock
	Verifier ports.TokenVerifier
	Revoked  ports.RevokedSessions
	// Challenges are swept with the sessions.
	Challenges ports.MFAChallenges
	// Keys retire the signing key when every session ends (SE-12).
	Keys     ports.KeyRotator
	Throttle *Throttle
	Issuer   *Issuer
	Revoker  *Revoker
	// Gate decides the administrator's ending of every session.
	Gate   Gate
	Logger *slog.Logger
}

// Sessions runs what happens to sessions once they are open: refresh,
// logout, forward-auth verification, the owner's list and ends, an
// administrator's forced logout, and the sweep of expired ones. They live
// under the Issuer's session policy.
type Sessions struct {
	d   SessionsDeps
	log *slog.Logger
}

// NewSessions returns the session use cases over d.
func NewSessions(d SessionsDeps) (*Sessions, error) {
	if d.Sessions == nil || d.Users == nil || d.Clock == nil || d.Verifier == nil || d.Revoked == nil ||
		d.Challenges == nil || d.Keys == nil || d.Throttle == nil || d.Issuer == nil || d.Revoker == nil || d.Gate == nil {
		return nil, missing("NewSessions")
	}
	return &Sessions{d: d, log: orDiscard(d.Logger)}, nil
}

// SessionView is a live session as its owner sees it.
type SessionView struct {
	session.Session
	Current bool // the session of the token that asked
}

// MySessions lists the caller's live sessions, newest first (SE-09).
func (s *Sessions) MySessions(ctx context.Context, p token.Claims) ([]SessionView, error) {
	if _, err := stepUp(ctx, s.d.Users, user.ID(p.Subject), p.AMR); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	now := s.d.Clock.Now()
	live, err := s.d.Sessions.Live(ctx, user.ID(p.Subject), now)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	out := make([]SessionView, 0, len(live))
	for _, ss := range live {
		if ss.Live(s.d.Issuer.policy(), now) {
			out = append(out, SessionView{Session: ss, Current: string(ss.ID) == p.SessionID})
		}
	}
	return out, nil
}

// EndMySession ends one of the caller's sessions. Another user's session
// is not found, exactly like a session that does not exist (AC-02).
func (s *Sessions) EndMySession(ctx context.Context, p token.Claims, id session.ID) error {
	uid := user.ID(p.Subject)
	if _, err := stepUp(ctx, s.d.Users, uid, p.AMR); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	ss, err := s.d.Sessions.ByID(ctx, id)
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	if ss.UserID != uid || ss.Revoked() {
		return session.ErrNotFound
	}
	if err := s.d.Revoker.end(ctx, uid, []session.ID{id}, session.ReasonManual, s.d.Clock.Now()); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// EndOtherSessions ends every session of the caller but the current one
// ("sign out everywhere else") and reports how many it ended.
func (s *Sessions) EndOtherSessions(ctx context.Context, p token.Claims) (int, error) {
	uid := user.ID(p.Subject)
	if _, err := stepUp(ctx, s.d.Users, uid, p.AMR); err != nil {
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
	if err := s.d.Revoker.end(ctx, uid, others, session.ReasonManual, s.d.Clock.Now()); err != nil {
		return 0, fmt.Errorf("end other sessions: %w", err)
	}
	return len(others), nil
}

// EndExpiredSessions ends every session whose absolute lifetime or idle
// timeout has passed, emitting user.logout with logoutType timeout for each
// (SE-06), and drops expired sign-in challenges. Instances may sweep at once.
func (s *Sessions) EndExpiredSessions(ctx context.Context) (int, error) {
	n, err := s.d.Revoker.inBatches(ctx, session.ReasonTimeout, func(ctx context.Context, now time.Time) ([]session.Revocation, error) {
		return s.d.Sessions.EndExpired(ctx, now, now.Add(-s.d.Issuer.policy().IdleTimeout), sweepBatch)
	})
	if err != nil {
		return n, fmt.Errorf("end expired sessions: %w", err)
	}
	if _, err := s.d.Challenges.DeleteExpired(ctx, s.d.Clock.Now()); err != nil {
		return n, fmt.Errorf("drop expired challenges: %w", err)
	}
	return n, nil
}

// EndAllSessions is an administrator ending every live session of every
// user, their own included (SE-09): after a key compromise, say. It first
// retires the signing key at once (SE-12): a token forged with a leaked
// key names a session that never existed, which no revocation reaches.
// Sessions end in batches, each committed with its user.logout events.
func (s *Sessions) EndAllSessions(ctx context.Context, p token.Claims) (int, error) {
	if err := s.d.Gate.Permit(ctx, p, "", role.SessionsRevoke, role.KeysRotate); err != nil {
		return 0, err
	}
	if err := s.d.Keys.RotateNow(ctx); err != nil {
		return 0, fmt.Errorf("end all sessions: rotate the signing key: %w", err)
	}
	s.log.WarnContext(ctx, "administrator retired the signing key", "admin", p.Subject)
	total, err := s.d.Revoker.inBatches(ctx, session.ReasonForced, func(ctx context.Context, now time.Time) ([]session.Revocation, error) {
		return s.d.Sessions.EndAll(ctx, session.ReasonForced, now, sweepBatch)
	})
	if err != nil {
		return total, fmt.Errorf("end all sessions: %w", err)
	}
	s.log.WarnContext(ctx, "administrator ended every session", "admin", p.Subject, "sessions", total)
	if err := s.d.Gate.Audit(ctx, p, "admin.sessions.end_all", "", map[string]string{"sessions": strconv.Itoa(total)}); err != nil {
		return total, fmt.Errorf("end all sessions: audit: %w", err)
	}
	return total, nil
}

// Logout ends the caller's session and, if a refresh token is given, the
// session it belongs to when that is the caller's too.
func (s *Sessions) Logout(ctx context.Context, p token.Claims, refreshToken string) error {
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
	if err := s.d.Revoker.end(ctx, uid, ids, session.ReasonManual, s.d.Clock.Now()); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// SyncRevocations loads into the revocation lookups every session that ended
// recently enough for one of its access tokens to be still valid: at start
// (so a restart forgets no revocation) and periodically when other instances
// share the database without a shared revocation store.
func (s *Sessions) SyncRevocations(ctx context.Context, window time.Duration) error {
	rs, err := s.d.Sessions.RevokedSince(ctx, s.d.Clock.Now().Add(-window))
	if err != nil {
		return fmt.Errorf("sync revocations: %w", err)
	}
	return s.d.Revoked.Add(ctx, rs...)
}
