// Package inbox applies the events other services publish about users:
// account.connected, campaign.created, subscription.updated and
// compliance.violation. Each event takes effect exactly once: its id is
// recorded in the same transaction as its effect, so a redelivery is a
// no-op. Events that cannot take effect (malformed, unknown type, unknown
// user) are Invalid errors: retrying cannot help, the consumer dead-letters
// them.
package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/usermgmt/usermgmt/core/activity"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// Consumed event types.
const (
	TypeAccountConnected      = "account.connected"
	TypeCampaignCreated       = "campaign.created"
	TypeSubscriptionUpdated   = "subscription.updated"
	TypeComplianceViolation   = "compliance.violation"
	consumerName              = "usermgmt"
	actorSubscriptionService  = "subscription-service"
	actorComplianceService    = "compliance-service"
	violationSourceCompliance = "compliance"
)

// ErrMalformed rejects an event that cannot take effect.
var ErrMalformed = errs.New(errs.Invalid, "inbox.malformed_event", "event cannot be applied")

// Deps are the ports the inbox drives.
type Deps struct {
	Tx         ports.Transactor
	Processed  ports.ProcessedEvents
	Users      ports.Users
	Sessions   ports.Sessions
	Activities ports.Activities
	Outbox     ports.Outbox
	Revoked    ports.RevokedSessions
	Clock      ports.Clock
	IDs        ports.IDs
}

// Config maps subscription plans to the roles they grant: a user on plan P
// holds exactly PlanRoles[P] among all the roles any plan grants.
type Config struct {
	PlanRoles map[string][]string
}

// Service applies consumed events.
type Service struct {
	d         Deps
	planRoles map[string][]string
	planned   []string // every role some plan grants
}

// New returns a Service.
func New(d Deps, cfg Config) (*Service, error) {
	if d.Tx == nil || d.Processed == nil || d.Users == nil || d.Sessions == nil || d.Activities == nil ||
		d.Outbox == nil || d.Revoked == nil || d.Clock == nil || d.IDs == nil {
		return nil, errors.New("inbox.New: missing dependency")
	}
	s := &Service{d: d, planRoles: map[string][]string{}}
	for plan, roles := range cfg.PlanRoles {
		for _, r := range roles {
			if r == user.RoleAdmin || r == user.RoleUser {
				return nil, fmt.Errorf("inbox.New: plan %q may not grant %q", plan, r)
			}
			if !slices.Contains(s.planned, r) {
				s.planned = append(s.planned, r)
			}
		}
		s.planRoles[plan] = slices.Clone(roles)
	}
	return s, nil
}

// envelope is the CloudEvents form other services publish.
type envelope struct {
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Time time.Time       `json:"time"`
	Data json.RawMessage `json:"data"`
}

// Handle applies one event, given as its CloudEvents JSON envelope. A
// redelivered event returns nil and changes nothing.
func (s *Service) Handle(ctx context.Context, raw []byte) error {
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil || env.ID == "" || env.Type == "" || len(env.Data) == 0 {
		return ErrMalformed.Wrap(errors.New("not a CloudEvents envelope with id, type and data"))
	}
	apply, err := s.effect(env)
	if err != nil {
		return err
	}
	var after []session.Revocation
	err = s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		now := s.d.Clock.Now()
		first, err := s.d.Processed.MarkProcessed(ctx, consumerName, env.ID, now)
		if err != nil || !first {
			return err
		}
		after, err = apply(ctx, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("inbox: %s %s: %w", env.Type, env.ID, err)
	}
	return s.d.Revoked.Add(ctx, after...)
}

// effect parses the event and returns the change it makes, run inside the
// transaction; it returns the sessions it ended, for the revocation lookups.
func (s *Service) effect(env envelope) (func(context.Context, time.Time) ([]session.Revocation, error), error) {
	switch env.Type {
	case TypeAccountConnected:
		var d struct{ UserID, AccountID, Platform string }
		if err := decode(env, &d, &d.UserID, &d.AccountID, &d.Platform); err != nil {
			return nil, err
		}
		return s.touch(user.ID(d.UserID), env.Time, func(a *activity.Activity) { a.ConnectedAccounts++ }), nil
	case TypeCampaignCreated:
		var d struct{ UserID, CampaignID string }
		if err := decode(env, &d, &d.UserID, &d.CampaignID); err != nil {
			return nil, err
		}
		return s.touch(user.ID(d.UserID), env.Time, func(a *activity.Activity) { a.Campaigns++ }), nil
	case TypeSubscriptionUpdated:
		var d struct {
			UserID, Plan string
			Features     []string
		}
		if err := decode(env, &d, &d.UserID, &d.Plan); err != nil {
			return nil, err
		}
		return func(ctx context.Context, now time.Time) ([]session.Revocation, error) {
			return nil, s.subscription(ctx, user.ID(d.UserID), d.Plan, d.Features, now)
		}, nil
	case TypeComplianceViolation:
		var d struct{ UserID, ViolationType, Severity string }
		if err := decode(env, &d, &d.UserID, &d.ViolationType, &d.Severity); err != nil {
			return nil, err
		}
		if !slices.Contains([]string{event.SeverityLow, event.SeverityMedium, event.SeverityHigh, event.SeverityCritical}, d.Severity) {
			return nil, ErrMalformed.Wrap(fmt.Errorf("severity %q", d.Severity))
		}
		return func(ctx context.Context, now time.Time) ([]session.Revocation, error) {
			return s.compliance(ctx, user.ID(d.UserID), d.ViolationType, d.Severity, now)
		}, nil
	default:
		return nil, ErrMalformed.Wrap(fmt.Errorf("unknown event type %q", env.Type))
	}
}

// decode reads env.Data into dst and requires every field in required.
func decode(env envelope, dst any, required ...*string) error {
	if err := json.Unmarshal(env.Data, dst); err != nil {
		return ErrMalformed.Wrap(fmt.Errorf("%s data: %w", env.Type, err))
	}
	for _, f := range required {
		if *f == "" {
			return ErrMalformed.Wrap(fmt.Errorf("%s data lacks a required field", env.Type))
		}
	}
	return nil
}

// touch returns the effect that bumps a counter and the last activity.
func (s *Service) touch(uid user.ID, at time.Time, bump func(*activity.Activity)) func(context.Context, time.Time) ([]session.Revocation, error) {
	return func(ctx context.Context, now time.Time) ([]session.Revocation, error) {
		if err := s.requireUser(ctx, uid); err != nil {
			return nil, err
		}
		if at.IsZero() || at.After(now) {
			at = now
		}
		_, err := s.d.Activities.Update(ctx, uid, func(a *activity.Activity) error {
			bump(a)
			a.Touch(at.UTC())
			a.UpdatedAt = now
			return nil
		})
		return nil, err
	}
}

func (s *Service) requireUser(ctx context.Context, uid user.ID) error {
	_, err := s.d.Users.ByID(ctx, uid)
	if errors.Is(err, user.ErrNotFound) {
		return ErrMalformed.Wrap(fmt.Errorf("unknown user %s", uid))
	}
	return err
}

// subscription records the plan and gives the user exactly the plan's
// roles among the planned ones; a change emits user.updated.
func (s *Service) subscription(ctx context.Context, uid user.ID, plan string, features []string, now time.Time) error {
	if err := s.requireUser(ctx, uid); err != nil {
		return err
	}
	var before, after []string
	var changed bool
	_, err := s.d.Users.Update(ctx, uid, func(u *user.User) error {
		before = u.Roles()
		var err error
		changed, err = u.ReplaceRoles(s.planned, s.planRoles[plan], now)
		after = u.Roles()
		return err
	})
	if err != nil {
		return err
	}
	var previousPlan string
	if _, err := s.d.Activities.Update(ctx, uid, func(a *activity.Activity) error {
		previousPlan = a.Plan
		a.Plan, a.Features, a.UpdatedAt = plan, slices.Clone(features), now
		return nil
	}); err != nil {
		return err
	}
	if !changed && previousPlan == plan {
		return nil
	}
	ev := event.UserUpdated{UserID: string(uid), Changes: map[string]any{"plan": plan},
		PreviousValues: map[string]any{"plan": previousPlan}, UpdatedBy: actorSubscriptionService}
	if changed {
		ev.Changes["roles"], ev.PreviousValues["roles"] = after, before
	}
	return s.d.Outbox.Append(ctx, event.New(s.d.IDs.NewID(), string(uid), now, ev))
}

// compliance applies the restriction the severity calls for: low is
// recorded, medium flags the account for review, high ends every session,
// critical also deactivates the account.
func (s *Service) compliance(ctx context.Context, uid user.ID, violation, severity string, now time.Time) ([]session.Revocation, error) {
	if err := s.requireUser(ctx, uid); err != nil {
		return nil, err
	}
	evs := []event.Event{event.New(s.d.IDs.NewID(), string(uid), now, event.UserSecurityViolation{
		UserID: string(uid), ViolationType: violation, Severity: severity,
		Details: map[string]string{"source": violationSourceCompliance},
	})}
	var restriction activity.Restriction
	switch severity {
	case event.SeverityMedium:
		restriction = activity.RestrictionReview
	case event.SeverityHigh:
		restriction = activity.RestrictionSuspended
	case event.SeverityCritical:
		restriction = activity.RestrictionDisabled
	}
	if restriction != "" {
		if _, err := s.d.Activities.Update(ctx, uid, func(a *activity.Activity) error {
			a.Restrict(restriction)
			a.UpdatedAt = now
			return nil
		}); err != nil {
			return nil, err
		}
	}
	var ended []session.Revocation
	if severity == event.SeverityHigh || severity == event.SeverityCritical {
		ids, err := s.d.Sessions.RevokeUser(ctx, uid, "", session.ReasonForced, now)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			ended = append(ended, session.Revocation{ID: id, UserID: uid, At: now})
			evs = append(evs, event.New(s.d.IDs.NewID(), string(uid), now, event.UserLogout{
				UserID: string(uid), SessionID: string(id), LogoutType: session.ReasonForced.LogoutType()}))
		}
	}
	if severity == event.SeverityCritical {
		var deactivated bool
		if _, err := s.d.Users.Update(ctx, uid, func(u *user.User) error {
			deactivated = u.Deactivate(now)
			return nil
		}); err != nil {
			return nil, err
		}
		if deactivated {
			evs = append(evs, event.New(s.d.IDs.NewID(), string(uid), now, event.UserDeactivated{
				UserID: string(uid), DeactivatedBy: actorComplianceService, Reason: violation}))
		}
	}
	return ended, s.d.Outbox.Append(ctx, evs...)
}
