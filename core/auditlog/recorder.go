package auditlog

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/text"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// Recorder is a ports.Outbox that records an audit entry for every event
// it appends, in the same transaction: the use cases that already publish
// their changes are audited without a line of their own.
type Recorder struct {
	tx  ports.Transactor
	out ports.Outbox
	log *Log
}

var _ ports.Outbox = (*Recorder)(nil)

// NewRecorder returns out decorated with log; tx makes an Append outside a
// transaction store the events and their entries together.
func NewRecorder(tx ports.Transactor, out ports.Outbox, log *Log) *Recorder {
	return &Recorder{tx: tx, out: out, log: log}
}

// Append stores events with out and records one entry per event, all in
// ctx's transaction (or one of their own). The entry's action is the event
// type and its target the event's subject; see entryFor for the rest.
func (r *Recorder) Append(ctx context.Context, events ...event.Event) error {
	if len(events) == 0 {
		return r.out.Append(ctx)
	}
	return r.tx.WithinTx(ctx, func(ctx context.Context) error {
		if err := r.out.Append(ctx, events...); err != nil {
			return err
		}
		entries := make([]audit.Entry, len(events))
		for i, ev := range events {
			entries[i] = entryFor(ctx, ev)
		}
		return r.log.RecordAll(ctx, entries...)
	})
}

// entryFor describes ev as an entry. The actor is ctx's (audit.WithActor)
// if set; else the payload's *By field, a user when it is a user id and
// the system component it names otherwise; else the subject, for what a
// user does to their own account (sign-in, registration); else the system
// (sweeps, detected violations). Details are a few payload fields that are
// never secret: reasons, methods, the names but not the values of changed
// fields.
func entryFor(ctx context.Context, ev event.Event) audit.Entry {
	e := audit.Entry{At: ev.Time, Action: ev.Type, Target: ev.Subject, Outcome: audit.Success}
	d := details{}
	by, subjectActs := "", true
	switch p := ev.Data.(type) {
	case event.UserCreated:
		d.put("role", p.Role)
		d.put("registrationMethod", p.RegistrationMethod)
		d.put("source", p.Metadata["source"])
	case event.UserUpdated:
		by = p.UpdatedBy
		d.put("fields", strings.Join(slices.Sorted(maps.Keys(p.Changes)), ","))
		// What a field became is kept only for the fields that decide
		// access, which are never secret: who was given what.
		for _, f := range []string{"roles", "status", "emailVerified"} {
			if v, ok := p.Changes[f]; ok {
				d.put(f, fmt.Sprintf("%v -> %v", p.PreviousValues[f], v))
			}
		}
	case event.UserDeleted:
		by = p.DeletedBy
		d.put("reason", p.DeletionReason)
		d.put("retentionPolicy", p.RetentionPolicy)
	case event.UserActivated:
		by = p.ActivatedBy
		d.put("method", p.ActivationMethod)
	case event.UserDeactivated:
		by = p.DeactivatedBy
		d.put("reason", p.Reason)
	case event.UserLogin:
		e.IP, e.UserAgent = p.IPAddress, p.UserAgent
		d.put("method", p.LoginMethod)
		d.put("sessionId", p.SessionID)
	case event.UserLogout:
		// Only a manual logout is the user's doing; timeouts and forced
		// ends are the system's unless ctx names who forced them.
		subjectActs = p.LogoutType == session.ReasonManual.LogoutType()
		d.put("sessionId", p.SessionID)
		d.put("logoutType", p.LogoutType)
	case event.UserPasswordChanged:
		by = p.ChangedBy
		d.put("securityLevel", p.SecurityLevel)
	case event.UserOAuthConnected:
		d.put("provider", p.Provider)
	case event.UserSecurityViolation:
		subjectActs = false // the subject is who it happened to
		d.put("violationType", p.ViolationType)
		d.put("severity", p.Severity)
		for _, k := range slices.Sorted(maps.Keys(p.Details)) {
			d.put(k, p.Details[k])
		}
	case event.UserMFAEnabled:
		d.put("method", p.MFAMethod)
	}
	if len(d) > 0 {
		e.Details = d
	}
	switch a, ok := audit.ActorFrom(ctx); {
	case ok:
		e.Actor = a
	case by != "" && (by == ev.Subject || isUserID(by)):
		e.Actor = audit.Actor{Kind: audit.ActorUser, ID: by}
	case by != "":
		e.Actor = audit.Actor{Kind: audit.ActorSystem, ID: by}
	case subjectActs && ev.Subject != "":
		e.Actor = audit.Actor{Kind: audit.ActorUser, ID: ev.Subject}
	default:
		e.Actor = audit.Actor{Kind: audit.ActorSystem}
	}
	return e
}

// details collects what an entry may carry: non-empty values under keys
// that are allowed and do not look secret, cut to the bounds, up to
// audit.MaxDetails of them. An event is never refused for its details.
type details map[string]string

func (d details) put(k, v string) {
	if v == "" || len(d) >= audit.MaxDetails || audit.SecretLooking(k) {
		return
	}
	v = text.Truncate(strings.ToValidUTF8(strings.ReplaceAll(v, "\x00", ""), ""), audit.MaxDetailLen)
	if audit.CheckDetails(map[string]string{k: v}) != nil {
		return
	}
	d[k] = v
}

// isUserID reports whether s has the form of a user id.
func isUserID(s string) bool {
	_, err := user.ParseID(s)
	return err == nil
}
