package identity

import (
	"context"
	"fmt"

	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
)

// Me returns the caller's account.
func (s *Service) Me(ctx context.Context, p token.Claims) (user.User, error) {
	u, err := s.stepUp(ctx, user.ID(p.Subject), p.AMR)
	if err != nil {
		return user.User{}, fmt.Errorf("me: %w", err)
	}
	return u, nil
}

// UpdateMe applies a self-service profile change and emits user.updated
// with what changed, when anything did.
func (s *Service) UpdateMe(ctx context.Context, p token.Claims, upd user.ProfileUpdate) (user.User, error) {
	uid := user.ID(p.Subject)
	if _, err := s.stepUp(ctx, uid, p.AMR); err != nil {
		return user.User{}, fmt.Errorf("update profile: %w", err)
	}
	var out user.User
	err := s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		var changes []user.Change
		now := s.d.Clock.Now()
		u, err := s.d.Users.Update(ctx, uid, func(u *user.User) error {
			var err error
			changes, err = u.UpdateProfile(upd, now)
			return err
		})
		if err != nil {
			return err
		}
		out = u
		if len(changes) == 0 {
			return nil
		}
		ev := newUserUpdated(uid, uid)
		for _, c := range changes {
			ev.Changes[c.Field], ev.PreviousValues[c.Field] = c.Current, c.Previous
		}
		return s.d.Outbox.Append(ctx, s.event(uid, now, ev))
	})
	if err != nil {
		return user.User{}, fmt.Errorf("update profile: %w", err)
	}
	return out, nil
}
