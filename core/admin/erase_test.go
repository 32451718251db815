package admin_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/memory"
	"github.com/usermgmt/usermgmt/core/admin"
	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/core/auditlog"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/user"
)

// TestErasure: an account deleted longer ago than the retention is erased
// with its session, a user.erased audit entry by the system for each; one
// still inside the retention, or never deleted, stays.
func TestErasure(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	_, adm, _ := r.account("admin1", role.Admin)
	var gone []user.ID
	for i := range admin.EraseBatch + 2 { // two batches
		id, _, _ := r.account(fmt.Sprintf("leaver%d", i))
		if _, err := r.svc.Delete(ctx, adm, id, "asked to leave"); err != nil {
			t.Fatal(err)
		}
		gone = append(gone, id)
	}
	r.clock.t = r.clock.t.Add(20 * 24 * time.Hour)
	recent, _, _ := r.account("recent")
	if _, err := r.svc.Delete(ctx, adm, recent, "asked to leave"); err != nil {
		t.Fatal(err)
	}
	stays, _, _ := r.account("stays")
	audits := memory.NewAuditLog(r.m)
	trail, err := auditlog.New(auditlog.Deps{Log: audits, Clock: r.clock}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := admin.NewErasure(memory.NewTransactor(r.m), r.users, trail, r.clock, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := e.EraseExpired(ctx, nil); err != nil || n != 0 {
		t.Fatalf("inside the retention: erased %d, %v", n, err)
	}
	r.clock.t = r.clock.t.Add(11 * 24 * time.Hour)
	var progress []int
	n, err := e.EraseExpired(ctx, func(done int) { progress = append(progress, done) })
	if err != nil || n != len(gone) || !slices.Equal(progress, []int{admin.EraseBatch, len(gone)}) {
		t.Fatalf("EraseExpired = %d, %v (progress %v); want %d", n, err, progress, len(gone))
	}
	for _, id := range gone {
		if _, err := r.users.ByID(ctx, id); !errors.Is(err, user.ErrNotFound) {
			t.Errorf("%s is still there: %v", id, err)
		}
		if live, _ := r.sessions.Live(ctx, id, t0); len(live) != 0 {
			t.Errorf("%s kept %d sessions", id, len(live))
		}
	}
	for _, id := range []user.ID{recent, stays} {
		if _, err := r.users.ByID(ctx, id); err != nil {
			t.Errorf("%s was erased: %v", id, err)
		}
	}
	var entries []audit.Entry
	if err := audits.Scan(ctx, audit.Filter{Action: admin.ActionErased}, 0, func(e audit.Entry) error { entries = append(entries, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(gone) {
		t.Fatalf("%d user.erased entries, want %d", len(entries), len(gone))
	}
	for _, en := range entries {
		if en.Actor.Kind != audit.ActorSystem || !slices.Contains(gone, user.ID(en.Target)) || en.Details["deletedAt"] != t0.Format(time.RFC3339) {
			t.Errorf("entry %+v", en)
		}
	}
	if rep, err := trail.Verify(ctx); err != nil || rep.FirstBroken != nil {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}
