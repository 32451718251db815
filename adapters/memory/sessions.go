package memory

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

type sessionRow struct {
	s       session.Session
	rotated map[session.TokenHash]struct{} // tokens it rotated out, until it ends
}

func cloneSession(s session.Session) session.Session {
	s.AMR = slices.Clone(s.AMR)
	s.RotationNonce = slices.Clone(s.RotationNonce)
	return s
}

// Sessions is the in-memory ports.Sessions.
type Sessions struct{ s *Store }

// NewSessions returns the store's Sessions.
func NewSessions(s *Store) *Sessions { return &Sessions{s} }

var _ ports.Sessions = (*Sessions)(nil)

// Create stores a new session and, as the databases' trigger does, makes
// its start the user's last sign-in unless a later one is recorded.
func (r *Sessions) Create(ctx context.Context, s session.Session) error {
	defer r.s.lock(ctx)()
	id := string(s.ID)
	r.s.sessions[id] = &sessionRow{s: cloneSession(s)}
	onRollback(ctx, func() { delete(r.s.sessions, id) })
	uid := string(s.UserID)
	if prev, ok := r.s.lastLogin[uid]; r.s.users[uid] != nil && (!ok || prev.Before(s.CreatedAt)) {
		r.s.lastLogin[uid] = s.CreatedAt.UTC()
		onRollback(ctx, func() {
			if ok {
				r.s.lastLogin[uid] = prev
			} else {
				delete(r.s.lastLogin, uid)
			}
		})
	}
	return nil
}

// ByID returns the session with id.
func (r *Sessions) ByID(ctx context.Context, id session.ID) (session.Session, error) {
	defer r.s.lock(ctx)()
	x, ok := r.s.sessions[string(id)]
	if !ok {
		return session.Session{}, session.ErrNotFound
	}
	return cloneSession(x.s), nil
}

// ByRefreshHash returns the session whose live or previous token hashes to
// h, or that rotated out a token hashing to h and has not ended.
func (r *Sessions) ByRefreshHash(ctx context.Context, h session.TokenHash) (session.Session, error) {
	defer r.s.lock(ctx)()
	for _, x := range r.s.sessions {
		_, rotated := x.rotated[h]
		if x.s.RefreshHash == h || (x.s.PreviousHash == h && h != "") || rotated {
			return cloneSession(x.s), nil
		}
	}
	return session.Session{}, session.ErrNotFound
}

// Rotate replaces the live token of the session holding rot.Presented.
func (r *Sessions) Rotate(ctx context.Context, rot session.Rotation) (session.Session, user.User, error) {
	defer r.s.lock(ctx)()
	for _, x := range r.s.sessions {
		s := x.s
		if s.RefreshHash != rot.Presented || s.Revoked() || !rot.At.Before(s.ExpiresAt) || s.LastSeenAt.Before(rot.IdleCutoff) {
			continue
		}
		old := x.s
		s.PreviousHash, s.RefreshHash = s.RefreshHash, rot.Next
		s.RotationNonce = slices.Clone(rot.Nonce)
		s.Generation++
		s.RotatedAt, s.LastSeenAt = rot.At, rot.At
		s.Client = rot.Client
		x.s = s
		if x.rotated == nil {
			x.rotated = map[session.TokenHash]struct{}{}
		}
		x.rotated[old.RefreshHash] = struct{}{}
		onRollback(ctx, func() {
			x.s = old
			delete(x.rotated, old.RefreshHash)
		})
		row, ok := r.s.users[string(s.UserID)]
		if !ok {
			return session.Session{}, user.User{}, user.ErrNotFound
		}
		u, err := fromUserRow(row)
		return cloneSession(s), u, err
	}
	return session.Session{}, user.User{}, session.ErrNotRotated
}

// Revoke ends a live session.
func (r *Sessions) Revoke(ctx context.Context, id session.ID, reason session.RevokeReason, at time.Time) (bool, error) {
	defer r.s.lock(ctx)()
	x, ok := r.s.sessions[string(id)]
	if !ok || x.s.Revoked() {
		return false, nil
	}
	r.revoke(ctx, x, reason, at)
	return true, nil
}

// RevokeUser ends every live session of uid but keep.
func (r *Sessions) RevokeUser(ctx context.Context, uid user.ID, keep session.ID, reason session.RevokeReason, at time.Time) ([]session.ID, error) {
	defer r.s.lock(ctx)()
	var ended []session.ID
	for _, x := range r.s.sessions {
		if x.s.UserID == uid && x.s.ID != keep && !x.s.Revoked() {
			r.revoke(ctx, x, reason, at)
			ended = append(ended, x.s.ID)
		}
	}
	slices.Sort(ended)
	return ended, nil
}

func (r *Sessions) revoke(ctx context.Context, x *sessionRow, reason session.RevokeReason, at time.Time) {
	old, rotated := x.s, x.rotated
	x.s.RevokedAt, x.s.RevokeReason, x.rotated = at, reason, nil
	onRollback(ctx, func() { x.s, x.rotated = old, rotated })
}

// Live lists the user's live sessions, newest first.
func (r *Sessions) Live(ctx context.Context, uid user.ID, now time.Time) ([]session.Session, error) {
	defer r.s.lock(ctx)()
	var out []session.Session
	for _, x := range r.s.sessions {
		if x.s.UserID == uid && !x.s.Revoked() && now.Before(x.s.ExpiresAt) {
			out = append(out, cloneSession(x.s))
		}
	}
	slices.SortFunc(out, func(a, b session.Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(string(b.ID), string(a.ID))
	})
	return out, nil
}

// RevokedSince lists sessions revoked at or after t, oldest first.
func (r *Sessions) RevokedSince(ctx context.Context, t time.Time) ([]session.Revocation, error) {
	defer r.s.lock(ctx)()
	var out []session.Revocation
	for _, x := range r.s.sessions {
		if x.s.Revoked() && !x.s.RevokedAt.Before(t) {
			out = append(out, session.Revocation{ID: x.s.ID, UserID: x.s.UserID, At: x.s.RevokedAt})
		}
	}
	slices.SortFunc(out, func(a, b session.Revocation) int { return a.At.Compare(b.At) })
	return out, nil
}

// Known reports whether another session of uid came from c.
func (r *Sessions) Known(ctx context.Context, uid user.ID, c session.Client, except session.ID) (bool, error) {
	defer r.s.lock(ctx)()
	for _, x := range r.s.sessions {
		if x.s.UserID == uid && x.s.ID != except && x.s.Client == c {
			return true, nil
		}
	}
	return false, nil
}

// EndExpired ends up to limit expired sessions, oldest id first.
func (r *Sessions) EndExpired(ctx context.Context, now, idleCutoff time.Time, limit int) ([]session.Revocation, error) {
	return r.endWhere(ctx, session.ReasonTimeout, now, limit, func(s session.Session) bool {
		return !now.Before(s.ExpiresAt) || s.LastSeenAt.Before(idleCutoff)
	})
}

// EndAll ends up to limit live sessions, oldest id first.
func (r *Sessions) EndAll(ctx context.Context, reason session.RevokeReason, at time.Time, limit int) ([]session.Revocation, error) {
	return r.endWhere(ctx, reason, at, limit, func(session.Session) bool { return true })
}

func (r *Sessions) endWhere(ctx context.Context, reason session.RevokeReason, at time.Time, limit int, match func(session.Session) bool) ([]session.Revocation, error) {
	defer r.s.lock(ctx)()
	var hits []*sessionRow
	for _, x := range r.s.sessions {
		if !x.s.Revoked() && match(x.s) {
			hits = append(hits, x)
		}
	}
	slices.SortFunc(hits, func(a, b *sessionRow) int { return strings.Compare(string(a.s.ID), string(b.s.ID)) })
	hits = hits[:min(len(hits), max(limit, 0))]
	out := make([]session.Revocation, len(hits))
	for i, x := range hits {
		r.revoke(ctx, x, reason, at)
		out[i] = session.Revocation{ID: x.s.ID, UserID: x.s.UserID, At: at}
	}
	return out, nil
}

// Reissue moves each live session of uid to a new id, with its refresh
// tokens, and ends the old id.
func (r *Sessions) Reissue(ctx context.Context, uid user.ID, newID func() session.ID, at time.Time) ([]session.Revocation, error) {
	defer r.s.lock(ctx)()
	var moved []*sessionRow
	for _, x := range r.s.sessions {
		if x.s.UserID == uid && !x.s.Revoked() {
			moved = append(moved, x)
		}
	}
	slices.SortFunc(moved, func(a, b *sessionRow) int { return strings.Compare(string(a.s.ID), string(b.s.ID)) })
	out := make([]session.Revocation, 0, len(moved))
	for _, x := range moved {
		next := &sessionRow{s: cloneSession(x.s), rotated: x.rotated}
		next.s.ID = newID()
		id := string(next.s.ID)
		r.s.sessions[id] = next
		onRollback(ctx, func() { delete(r.s.sessions, id) })
		old := x.s
		// No token hashes to the replacement, as in the SQL store.
		x.s.RefreshHash, x.s.PreviousHash, x.s.RotationNonce = session.TokenHash("reissued:"+old.ID), "", nil
		onRollback(ctx, func() { x.s = old })
		r.revoke(ctx, x, session.ReasonReissued, at)
		out = append(out, session.Revocation{ID: old.ID, UserID: uid, At: at})
	}
	return out, nil
}
