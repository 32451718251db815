package inbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/memory"
	"github.com/usermgmt/usermgmt/core/activity"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/inbox"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

type seq struct{ n atomic.Int64 }

func (s *seq) NewID() string          { return fmt.Sprintf("00000000-0000-7000-8000-%012d", s.n.Add(1)) }
func (s *seq) NewSecret(n int) []byte { return make([]byte, n) }

type env struct {
	svc     *inbox.Service
	store   *memory.Store
	outbox  *memory.Outbox
	revoked *memory.RevokedSessions
	uid     user.ID
	now     time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	m := memory.New()
	e := &env{store: m, outbox: memory.NewOutbox(m, event.NewEncoder("urn:t", "urn:s:", nil)),
		revoked: memory.NewRevokedSessions(fixedClock{now}, time.Hour), now: now}
	svc, err := inbox.New(inbox.Deps{Tx: memory.NewTransactor(m), Processed: memory.NewProcessedEvents(m),
		Users: memory.NewUsers(m), Sessions: memory.NewSessions(m), Activities: memory.NewActivities(m),
		Outbox: e.outbox, Revoked: e.revoked, Clock: fixedClock{now}, IDs: &seq{}},
		inbox.Config{PlanRoles: map[string][]string{"pro": {"pro"}, "enterprise": {"pro", "enterprise"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	u, err := user.New("00000000-0000-7000-8000-aaaaaaaaaaaa", "ada@example.com", "ada", "", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := memory.NewUsers(m).Create(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	e.uid = u.ID()
	return e
}

func envelope(id, typ string, data map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "type": typ, "specversion": "1.0", "source": "urn:other",
		"time": "2026-11-28T11:00:00Z", "data": data})
	return b
}

func (e *env) handle(t *testing.T, id, typ string, data map[string]any) error {
	t.Helper()
	return e.svc.Handle(t.Context(), envelope(id, typ, data))
}

func (e *env) activity(t *testing.T) activity.Activity {
	t.Helper()
	a, err := memory.NewActivities(e.store).ByUser(t.Context(), e.uid)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (e *env) events(t *testing.T) []string {
	t.Helper()
	recs, _ := e.outbox.Claim(t.Context(), 100, time.Time{}, time.Time{})
	var out []string
	for _, r := range recs {
		out = append(out, r.Type)
	}
	return out
}

func TestAccountConnectedAndCampaigns_CountOncePerEvent(t *testing.T) {
	e := newEnv(t)
	data := map[string]any{"userId": string(e.uid), "accountId": "acc-1", "platform": "twitter"}
	for range 3 { // a redelivered event changes nothing
		if err := e.handle(t, "evt-1", inbox.TypeAccountConnected, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.handle(t, "evt-2", inbox.TypeCampaignCreated, map[string]any{"userId": string(e.uid), "campaignId": "c-1"}); err != nil {
		t.Fatal(err)
	}
	a := e.activity(t)
	if a.ConnectedAccounts != 1 || a.Campaigns != 1 || !a.LastActivityAt.Equal(time.Date(2026, 11, 28, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("activity = %+v", a)
	}
}

func TestSubscriptionUpdated_MapsPlanToRolesAndEmits(t *testing.T) {
	e := newEnv(t)
	if err := e.handle(t, "evt-1", inbox.TypeSubscriptionUpdated, map[string]any{"userId": string(e.uid), "plan": "enterprise", "features": []string{"sso"}}); err != nil {
		t.Fatal(err)
	}
	u, _ := memory.NewUsers(e.store).ByID(t.Context(), e.uid)
	if !slices.Equal(u.Roles(), []string{"user", "pro", "enterprise"}) {
		t.Fatalf("roles = %v", u.Roles())
	}
	if err := e.handle(t, "evt-2", inbox.TypeSubscriptionUpdated, map[string]any{"userId": string(e.uid), "plan": "free"}); err != nil {
		t.Fatal(err)
	}
	u, _ = memory.NewUsers(e.store).ByID(t.Context(), e.uid)
	if !slices.Equal(u.Roles(), []string{"user"}) {
		t.Fatalf("downgrade kept roles %v", u.Roles())
	}
	if got := e.events(t); !slices.Equal(got, []string{event.TypeUserUpdated, event.TypeUserUpdated}) {
		t.Fatalf("events = %v", got)
	}
	if a := e.activity(t); a.Plan != "free" {
		t.Fatalf("plan = %q", a.Plan)
	}
}

func TestComplianceViolation_BySeverity(t *testing.T) {
	e := newEnv(t)
	sess, _ := session.New("00000000-0000-7000-8000-bbbbbbbbbbbb", e.uid, make([]byte, 32), session.Client{}, nil,
		session.Policy{AbsoluteLifetime: time.Hour, IdleTimeout: time.Hour}, e.now)
	if err := memory.NewSessions(e.store).Create(t.Context(), sess); err != nil {
		t.Fatal(err)
	}
	violation := func(id, severity string) error {
		return e.handle(t, id, inbox.TypeComplianceViolation, map[string]any{"userId": string(e.uid), "violationType": "spam", "severity": severity})
	}
	if err := violation("evt-1", "medium"); err != nil {
		t.Fatal(err)
	}
	if a := e.activity(t); !slices.Equal(a.Restrictions, []activity.Restriction{activity.RestrictionReview}) {
		t.Fatalf("medium: %v", a.Restrictions)
	}
	if err := violation("evt-2", "critical"); err != nil {
		t.Fatal(err)
	}
	u, _ := memory.NewUsers(e.store).ByID(t.Context(), e.uid)
	if u.CanSignIn() {
		t.Fatal("critical violation left the account active")
	}
	if revoked, _ := e.revoked.IsRevoked(t.Context(), sess.ID); !revoked {
		t.Fatal("critical violation left a session live")
	}
	want := []string{event.TypeUserSecurityViolation, event.TypeUserSecurityViolation, event.TypeUserLogout, event.TypeUserDeactivated}
	if got := e.events(t); !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
}

func TestMalformedEventsAreInvalid(t *testing.T) {
	e := newEnv(t)
	for name, raw := range map[string][]byte{
		"not JSON":      []byte("{"),
		"no id":         envelope("", inbox.TypeCampaignCreated, map[string]any{"userId": string(e.uid), "campaignId": "c"}),
		"unknown type":  envelope("x1", "campaign.deleted", map[string]any{"userId": string(e.uid)}),
		"missing field": envelope("x2", inbox.TypeCampaignCreated, map[string]any{"userId": string(e.uid)}),
		"bad severity":  envelope("x3", inbox.TypeComplianceViolation, map[string]any{"userId": string(e.uid), "violationType": "x", "severity": "apocalyptic"}),
		"unknown user":  envelope("x4", inbox.TypeCampaignCreated, map[string]any{"userId": "00000000-0000-7000-8000-000000000999", "campaignId": "c"}),
		"wrong type":    envelope("x5", inbox.TypeCampaignCreated, map[string]any{"userId": 42, "campaignId": "c"}),
	} {
		if err := e.svc.Handle(context.Background(), raw); errs.KindOf(err) != errs.Invalid {
			t.Errorf("%s: %v, want an Invalid error (dead-lettered, not retried)", name, err)
		}
	}
	if got := e.events(t); len(got) != 0 {
		t.Fatalf("malformed events emitted %v", got)
	}
}
