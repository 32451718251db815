package identity

import (
	"context"
	"fmt"

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
