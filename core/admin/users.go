package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// AccountSessions is what the lifecycle does to an account's sessions:
// end them all (deactivation, deletion) or move them to new ids (a change
// of roles).
type AccountSessions interface {
	ports.SessionEnder
	ports.SessionReissuer
}

// PasswordResets mails an account a password-reset link on an
// administrator's behalf.
type PasswordResets interface {
	SendAdminReset(ctx context.Context, uid, by user.ID) error
}

// UsersDeps are the ports the account lifecycle drives; all are required.
type UsersDeps struct {
	Tx        ports.Transactor
	Users     ports.Users
	Directory ports.UserDirectory
	Sessions  AccountSessions
	Revoked   ports.RevokedSessions
	Outbox    ports.Outbox
	Clock     ports.Clock
	IDs       ports.IDs
	Auth      *Authorizer
	Resets    PasswordResets
}

// Users runs the account lifecycle for staff.
type Users struct {
	d         UsersDeps
	retention time.Duration
	log       *slog.Logger
}

// NewUsers returns the account lifecycle. A deleted account can be
// restored for retention, then it is erased.
func NewUsers(d UsersDeps, retention time.Duration, log *slog.Logger) (*Users, error) {
	if d.Tx == nil || d.Users == nil || d.Directory == nil || d.Sessions == nil || d.Revoked == nil ||
		d.Outbox == nil || d.Clock == nil || d.IDs == nil || d.Auth == nil || d.Resets == nil {
		return nil, errors.New("admin.NewUsers: missing dependency")
	}
	if retention <= 0 {
		return nil, errors.New("admin.NewUsers: the retention of deleted accounts must be positive")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Users{d: d, retention: retention, log: log}, nil
}

// MaxReasonLength bounds the reason staff give for an action.
const MaxReasonLength = 500

// ErrInvalidReason refuses a missing or unprintable reason.
var ErrInvalidReason = errs.New(errs.Invalid, "admin.invalid_reason", "invalid request").
	WithFields(errs.FieldError{Field: "reason", Message: fmt.Sprintf("must be 1 to %d printable characters", MaxReasonLength)})

func checkReason(s string) (string, error) {
	s = strings.TrimSpace(s)
	// Printable only: no control or bidirectional-override characters,
	// which would make the reason read otherwise in the audit trail.
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxReasonLength ||
		strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return "", ErrInvalidReason
	}
	return s, nil
}

// change is one change to one account, as the lifecycle operations share it.
type change struct {
	perm role.Permission
	// self allows the principal to be the account (no operation that
	// could lock them out does).
	self bool
	// apply changes the account; perms are the account's permissions
	// before. It returns the events to commit.
	apply func(u *user.User, perms role.Set, by Principal, now time.Time) ([]event.Payload, error)
	// after runs in the transaction once the account is saved: sessions
	// are ended or reissued here.
	after func(ctx context.Context, u user.User, by Principal, now time.Time) ([]session.Revocation, []event.Payload, error)
}

// run authorizes c for the caller of p on the account id and commits it
// with its events; revocations reach the lookups after the commit.
func (s *Users) run(ctx context.Context, p token.Claims, id user.ID, c change) (user.User, bool, error) {
	by, err := s.d.Auth.principal(ctx, p, c.perm)
	if err != nil {
		return user.User{}, false, s.d.Auth.Refused(ctx, p, c.perm, string(id), err)
	}
	if by.User.ID() == id && !c.self {
		return user.User{}, false, s.d.Auth.Refused(ctx, p, c.perm, string(id), role.ErrSelf)
	}
	now := s.d.Clock.Now()
	var (
		out     user.User
		revoked []session.Revocation
		events  int
	)
	err = s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		// Both rows are locked in the order of their ids, so two
		// administrators acting on each other at once wait in turn
		// rather than deadlock.
		if id < by.User.ID() {
			if err := s.d.Auth.lockUser(ctx, id); err != nil {
				return err
			}
		}
		by, err := s.d.Auth.Recheck(ctx, by.User.ID(), c.perm)
		if err != nil {
			return err
		}
		var payloads []event.Payload
		out, err = s.d.Users.Update(ctx, id, func(u *user.User) error {
			perms, err := s.d.Auth.Permissions(ctx, u.Roles())
			if err != nil {
				return err
			}
			if u.ID() != by.User.ID() {
				if err := by.Perms.ActOn(perms); err != nil {
					return err
				}
			}
			payloads, err = c.apply(u, perms, by, now)
			return err
		})
		if err != nil {
			return err
		}
		if c.after != nil {
			rs, more, err := c.after(ctx, out, by, now)
			if err != nil {
				return err
			}
			revoked, payloads = rs, append(payloads, more...)
		}
		events = len(payloads)
		return s.d.Outbox.Append(ctx, s.events(out.ID(), now, payloads)...)
	})
	if err != nil {
		// A refusal found in the transaction (rank, self, escalation,
		// the last superadmin) is audited once it has rolled back.
		return user.User{}, false, s.d.Auth.Refused(ctx, p, c.perm, string(id), err)
	}
	if err := s.d.Revoked.Add(ctx, revoked...); err != nil {
		// The sessions ended in the database: every instance refuses
		// their refresh, and a revocation sync replays them.
		s.log.ErrorContext(ctx, "revocation lookup update failed", "user", id, "err", err)
	}
	return out, events > 0, nil
}

func (s *Users) events(subject user.ID, at time.Time, ps []event.Payload) []event.Event {
	evs := make([]event.Event, len(ps))
	for i, p := range ps {
		evs[i] = event.New(s.d.IDs.NewID(), string(subject), at, p)
	}
	return evs
}

// endSessions ends every session of the account, each with a forced
// user.logout.
func (s *Users) endSessions(ctx context.Context, u user.User, now time.Time) ([]session.Revocation, []event.Payload, error) {
	ids, err := s.d.Sessions.RevokeUser(ctx, u.ID(), "", session.ReasonForced, now)
	if err != nil {
		return nil, nil, err
	}
	rs := make([]session.Revocation, len(ids))
	ps := make([]event.Payload, len(ids))
	for i, sid := range ids {
		rs[i] = session.Revocation{ID: sid, UserID: u.ID(), At: now}
		ps[i] = event.UserLogout{UserID: string(u.ID()), SessionID: string(sid), LogoutType: session.ReasonForced.LogoutType()}
	}
	return rs, ps, nil
}

// keepSuperAdmin refuses a change that would leave no active superadmin.
func (s *Users) keepSuperAdmin(ctx context.Context, target user.ID) error {
	q, err := user.Query{Role: role.SuperAdmin, Status: user.StatusActive, Limit: 2}.Normalize()
	if err != nil {
		return err
	}
	supers, _, err := s.d.Directory.Search(ctx, q)
	if err != nil {
		return err
	}
	for _, l := range supers {
		if l.ID() != target {
			return nil
		}
	}
	return role.ErrLastSuper
}

// changed is the user.updated of cs on uid, made by by.
func changed(uid user.ID, by Principal, cs []user.Change) event.UserUpdated {
	ev := event.NewUserUpdated(string(uid), string(by.User.ID()))
	for _, c := range cs {
		ev.Set(c.Field, c.Previous, c.Current)
	}
	return ev
}

// resolveNames loads the roles named, refusing unknown ones; "user" is
// implied (every account holds it).
func (s *Users) resolveNames(ctx context.Context, names []string) ([]role.Role, error) {
	if len(names) > 32 {
		return nil, ErrUnknownRole
	}
	out := make([]role.Role, 0, len(names)+1)
	for _, n := range append([]string{role.User}, names...) {
		if slices.ContainsFunc(out, func(r role.Role) bool { return r.Name == n }) {
			continue
		}
		if r, ok := role.BuiltInRole(n); ok {
			out = append(out, r)
			continue
		}
		if !role.ValidName(n) {
			return nil, ErrUnknownRole
		}
		r, err := s.d.Auth.roles.Get(ctx, n)
		if errors.Is(err, role.ErrNotFound) {
			return nil, ErrUnknownRole
		}
		if err != nil {
			return nil, fmt.Errorf("load role %q: %w", n, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// SendPasswordReset mails the account a reset link (users:write); the
// password change it leads to is reported with securityLevel admin.
func (s *Users) SendPasswordReset(ctx context.Context, p token.Claims, id user.ID) error {
	by, err := s.d.Auth.Principal(ctx, p, role.UsersWrite)
	if err != nil {
		return fmt.Errorf("password reset: %w", err)
	}
	u, err := s.d.Users.ByID(ctx, id)
	if err != nil {
		return fmt.Errorf("password reset: %w", err)
	}
	if u.ID() != by.User.ID() {
		perms, err := s.d.Auth.Permissions(ctx, u.Roles())
		if err != nil {
			return fmt.Errorf("password reset: %w", err)
		}
		if err := by.Perms.ActOn(perms); err != nil {
			return fmt.Errorf("password reset: %w", err)
		}
	}
	if !u.CanSignIn() {
		return fmt.Errorf("password reset: %w", user.ErrDisabled)
	}
	if err := s.d.Resets.SendAdminReset(ctx, u.ID(), by.User.ID()); err != nil {
		return fmt.Errorf("password reset: %w", err)
	}
	return s.d.Auth.record(ctx, p, "admin.password_reset", string(u.ID()), nil)
}
