package identity

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// AccountsDeps are what the account use cases drive; Logger is optional.
type AccountsDeps struct {
	Ledger      *Ledger
	Users       ports.Users
	Sessions    ports.Sessions
	Clock       ports.Clock
	IDs         ports.IDs
	Throttle    *Throttle
	Credentials *Credentials
	Mail        *Mail
	Issuer      *Issuer
	// Factors are dropped when a verification link proves the mailbox of
	// an account that enrolled them before (MF-09).
	Factors *SecondFactors
	Logger  *slog.Logger
}

// AccountsConfig holds the account settings.
type AccountsConfig struct {
	// RequireVerifiedEmail blocks sign-in until the address is verified;
	// registration then opens no session.
	RequireVerifiedEmail bool
}

// Accounts runs the life of an account outside its sessions and
// credentials: registration, the proof of its address, the first
// administrator and the owner's profile.
type Accounts struct {
	d   AccountsDeps
	cfg AccountsConfig
	log *slog.Logger
}

// NewAccounts returns the account use cases over d.
func NewAccounts(d AccountsDeps, cfg AccountsConfig) (*Accounts, error) {
	if d.Ledger == nil || d.Users == nil || d.Sessions == nil || d.Clock == nil || d.IDs == nil ||
		d.Throttle == nil || d.Credentials == nil || d.Mail == nil || d.Issuer == nil || d.Factors == nil {
		return nil, missing("NewAccounts")
	}
	return &Accounts{d: d, cfg: cfg, log: orDiscard(d.Logger)}, nil
}

// Me returns the caller's account.
func (s *Accounts) Me(ctx context.Context, p token.Claims) (user.User, error) {
	u, err := stepUp(ctx, s.d.Users, user.ID(p.Subject), p.AMR)
	if err != nil {
		return user.User{}, fmt.Errorf("me: %w", err)
	}
	return u, nil
}

// UpdateMe applies a self-service profile change and emits user.updated
// with what changed, when anything did.
func (s *Accounts) UpdateMe(ctx context.Context, p token.Claims, upd user.ProfileUpdate) (user.User, error) {
	uid := user.ID(p.Subject)
	if _, err := stepUp(ctx, s.d.Users, uid, p.AMR); err != nil {
		return user.User{}, fmt.Errorf("update profile: %w", err)
	}
	var out user.User
	err := s.d.Ledger.commit(ctx, func(ctx context.Context) error {
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
		ev := event.NewUserUpdated(string(uid), string(uid))
		for _, c := range changes {
			ev.Set(c.Field, c.Previous, c.Current)
		}
		return s.d.Ledger.record(ctx, uid, now, ev)
	})
	if err != nil {
		return user.User{}, fmt.Errorf("update profile: %w", err)
	}
	return out, nil
}
