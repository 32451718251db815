package auditlog_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/memory"
	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/core/auditlog"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/ports"
)

const (
	alice = "0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
	bob   = "0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"
)

func (f *fixture) recorder(log ports.AuditLog) (*auditlog.Recorder, *memory.Outbox) {
	out := memory.NewOutbox(f.store, event.NewEncoder("urn:test", "urn:s:", nil))
	l, _ := auditlog.New(auditlog.Deps{Log: log, Clock: f.clock}, key)
	return auditlog.NewRecorder(f.tx, out, l), out
}

func pending(t *testing.T, out *memory.Outbox) int {
	t.Helper()
	recs, err := out.Claim(t.Context(), 100, t0, t0)
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

func TestRecorderAuditsEveryEvent(t *testing.T) {
	at := t0.Add(time.Minute)
	ev := func(id, subject string, p event.Payload) event.Event { return event.New(id, subject, at, p) }
	for _, tc := range []struct {
		name    string
		ctx     func(context.Context) context.Context
		ev      event.Event
		actor   audit.Actor
		details map[string]string
		ip      string
	}{
		{"registration is the new user's doing", nil,
			ev("e1", alice, event.UserCreated{UserID: alice, Email: "a@example.com", Username: "alice", Role: "member",
				RegistrationMethod: event.MethodEmail}),
			audit.Actor{Kind: audit.ActorUser, ID: alice}, map[string]string{"role": "member", "registrationMethod": "email"}, ""},
		{"a sign-in carries its client", nil,
			ev("e2", alice, event.UserLogin{UserID: alice, LoginMethod: event.MethodPassword, IPAddress: "203.0.113.5",
				UserAgent: "ua/1", SessionID: "s1"}),
			audit.Actor{Kind: audit.ActorUser, ID: alice}, map[string]string{"method": "password", "sessionId": "s1"}, "203.0.113.5"},
		{"an update names the changed fields, and the values only of those that decide access", nil,
			ev("e3", alice, event.UserUpdated{UserID: alice, UpdatedBy: bob,
				Changes:        map[string]any{"displayName": "Eve", "emailVerified": true, "roles": []string{"user", "admin"}},
				PreviousValues: map[string]any{"displayName": "Alice", "emailVerified": false, "roles": []string{"user"}}}),
			audit.Actor{Kind: audit.ActorUser, ID: bob}, map[string]string{"fields": "displayName,emailVerified,roles",
				"emailVerified": "false -> true", "roles": "[user] -> [user admin]"}, ""},
		{"a service named in the payload is the system", nil,
			ev("e4", alice, event.UserDeactivated{UserID: alice, DeactivatedBy: "compliance-service", Reason: "fraud"}),
			audit.Actor{Kind: audit.ActorSystem, ID: "compliance-service"}, map[string]string{"reason": "fraud"}, ""},
		{"a timeout is the system's", nil,
			ev("e5", alice, event.UserLogout{UserID: alice, SessionID: "s1", LogoutType: "timeout"}),
			audit.Actor{Kind: audit.ActorSystem}, map[string]string{"sessionId": "s1", "logoutType": "timeout"}, ""},
		{"a manual logout is the user's", nil,
			ev("e6", alice, event.UserLogout{UserID: alice, SessionID: "s1", LogoutType: "manual"}),
			audit.Actor{Kind: audit.ActorUser, ID: alice}, map[string]string{"sessionId": "s1", "logoutType": "manual"}, ""},
		{"a violation keeps its details but secret-looking ones", nil,
			ev("e7", alice, event.UserSecurityViolation{UserID: alice, ViolationType: "refresh_token_reuse", Severity: "high",
				Details: map[string]string{"sessionId": "s1", "ipAddress": "203.0.113.5", "refreshToken": "rt-secret",
					"otpCode": "123456", "bad key": "x", "userAgent": strings.Repeat("a", 600)}}),
			audit.Actor{Kind: audit.ActorSystem}, map[string]string{"violationType": "refresh_token_reuse", "severity": "high",
				"sessionId": "s1", "ipAddress": "203.0.113.5", "userAgent": strings.Repeat("a", audit.MaxDetailLen)}, ""},
		{"the actor in ctx comes first", func(ctx context.Context) context.Context {
			return audit.WithActor(ctx, audit.Actor{Kind: audit.ActorAPIKey, ID: "key-1"})
		},
			ev("e8", alice, event.UserDeleted{UserID: alice, DeletedBy: bob, DeletionReason: "request", RetentionPolicy: "30d"}),
			audit.Actor{Kind: audit.ActorAPIKey, ID: "key-1"}, map[string]string{"reason": "request", "retentionPolicy": "30d"}, ""},
		{"a password change by its owner", nil,
			ev("e9", alice, event.UserPasswordChanged{UserID: alice, ChangedBy: alice, SecurityLevel: event.SecurityLevelUser}),
			audit.Actor{Kind: audit.ActorUser, ID: alice}, map[string]string{"securityLevel": "user"}, ""},
		{"MFA without a word about backup codes", nil,
			ev("e10", alice, event.UserMFAEnabled{UserID: alice, MFAMethod: "totp", BackupCodesGenerated: true}),
			audit.Actor{Kind: audit.ActorUser, ID: alice}, map[string]string{"method": "totp"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			rec, out := f.recorder(f.log)
			ctx := audit.WithRequest(t.Context(), audit.Request{RequestID: "req-1"})
			if tc.ctx != nil {
				ctx = tc.ctx(ctx)
			}
			if err := rec.Append(ctx, tc.ev); err != nil {
				t.Fatal(err)
			}
			if n := pending(t, out); n != 1 {
				t.Errorf("%d events in the outbox, want 1", n)
			}
			es := f.all(t)
			if len(es) != 1 {
				t.Fatalf("%d entries, want 1", len(es))
			}
			e := es[0]
			if e.Action != tc.ev.Type || e.Target != alice || e.Outcome != audit.Success || !e.At.Equal(at) || e.RequestID != "req-1" {
				t.Errorf("entry %+v", e)
			}
			if e.Actor != tc.actor {
				t.Errorf("actor %v, want %v", e.Actor, tc.actor)
			}
			if !maps.Equal(e.Details, tc.details) {
				t.Errorf("details %v, want %v", e.Details, tc.details)
			}
			if e.IP != tc.ip {
				t.Errorf("IP %q, want %q", e.IP, tc.ip)
			}
		})
	}
}

func TestRecorderCommitsAndRollsBackWithTheAction(t *testing.T) {
	f := newFixture(t)
	rec, out := f.recorder(f.log)
	e1 := event.New("e1", alice, t0, event.UserLogin{UserID: alice, LoginMethod: event.MethodPassword})
	e2 := event.New("e2", alice, t0, event.UserLogout{UserID: alice, LogoutType: "manual"})

	err := f.tx.WithinTx(t.Context(), func(ctx context.Context) error {
		if err := rec.Append(ctx, e1, e2); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatal(err)
	}
	if n, es := pending(t, out), f.all(t); n != 0 || len(es) != 0 {
		t.Fatalf("a rolled-back action left %d events and %d entries", n, len(es))
	}
	if err := rec.Append(t.Context(), e1, e2); err != nil {
		t.Fatal(err)
	}
	if err := rec.Append(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n, es := pending(t, out), f.all(t); n != 2 || len(es) != 2 || es[0].Action != "user.login" || es[1].Action != "user.logout" {
		t.Fatalf("%d events and entries %+v", n, es)
	}
	if rep, err := f.audit.Verify(t.Context()); err != nil || rep.FirstBroken != nil || rep.Checked != 2 {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}

// failingLog refuses every append.
type failingLog struct{ *memory.AuditLog }

func (failingLog) Append(context.Context, func(audit.Link) (audit.Entry, error)) (audit.Entry, error) {
	return audit.Entry{}, errBoom
}

func (failingLog) AppendAll(context.Context, func(audit.Link) ([]audit.Entry, error)) ([]audit.Entry, error) {
	return nil, errBoom
}

func TestRecorderFailsTheActionWhenItCannotAudit(t *testing.T) {
	f := newFixture(t)
	rec, out := f.recorder(failingLog{f.log})
	err := rec.Append(t.Context(), event.New("e1", alice, t0, event.UserLogin{UserID: alice}))
	if !errors.Is(err, errBoom) {
		t.Fatalf("Append = %v, want the audit log's error", err)
	}
	if n := pending(t, out); n != 0 {
		t.Errorf("the event was stored although its entry was not (%d pending)", n)
	}
}
