package adaptertest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/ports"
)

// auditKey is the chain key of the audit suite.
const auditKey = "adaptertest audit chain key, 32b"

// auditEntry returns a valid unsealed entry at when.
func auditEntry(when time.Time, action, target string) audit.Entry {
	return audit.Entry{At: when, Actor: audit.Actor{Kind: audit.ActorUser, ID: "actor-1"}, Action: action,
		Target: target, Org: "org-1", IP: "203.0.113.7", UserAgent: "adaptertest/1.0", RequestID: "req-1",
		Outcome: audit.Success, Details: map[string]string{"method": "password", "note": "a \"quoted\" <value> é"}}
}

// sealWith is the seal callback that puts e on whatever head it is given.
func sealWith(e audit.Entry) func(audit.Link) (audit.Entry, error) {
	return func(prev audit.Link) (audit.Entry, error) { return audit.Seal(prev, e, []byte(auditKey)), nil }
}

func appendEntry(ctx context.Context, t *testing.T, log ports.AuditLog, e audit.Entry) audit.Entry {
	t.Helper()
	got, err := log.Append(ctx, sealWith(e))
	mustNotFail(t, "Append", err)
	return got
}

// scanAll returns every entry after after, in the order Scan gives them.
func scanAll(t *testing.T, log ports.AuditLog, f audit.Filter, after int64) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	mustNotFail(t, "Scan", log.Scan(t.Context(), f, after, func(e audit.Entry) error {
		out = append(out, e)
		return nil
	}))
	return out
}

// verifyChain verifies the stored chain from the stored checkpoint to the
// stored head, as the audit log use case does, and returns how many
// entries it checked.
func verifyChain(t *testing.T, log ports.AuditLog) int64 {
	t.Helper()
	ctx := t.Context()
	cp, _, err := log.Checkpoint(ctx)
	mustNotFail(t, "Checkpoint", err)
	head, err := log.Head(ctx)
	mustNotFail(t, "Head", err)
	v, err := audit.NewVerifier([]byte(auditKey), cp)
	mustNotFail(t, "NewVerifier", err)
	for _, e := range scanAll(t, log, audit.Filter{}, cp.Seq) {
		mustNotFail(t, "Check", v.Check(e))
	}
	mustNotFail(t, "End", v.End(head))
	return v.Checked()
}

// pruneSeal verifies the entries about to go from cur and authenticates
// the checkpoint after them, as the audit log use case does.
func pruneSeal(made time.Time) func(audit.Checkpoint, []audit.Entry) (audit.Checkpoint, error) {
	return func(cur audit.Checkpoint, pruned []audit.Entry) (audit.Checkpoint, error) {
		v, err := audit.NewVerifier([]byte(auditKey), cur)
		if err != nil {
			return audit.Checkpoint{}, err
		}
		for _, e := range pruned {
			if err := v.Check(e); err != nil {
				return audit.Checkpoint{}, err
			}
		}
		return audit.NewCheckpoint(pruned[len(pruned)-1], made, []byte(auditKey)), nil
	}
}

// diffEntry describes how got differs from want, or returns "". Nil and
// empty details are equal: storage need not tell them apart.
func diffEntry(got, want audit.Entry) string {
	var d differ
	check := d.check
	check("Seq", got.Seq == want.Seq, got.Seq, want.Seq)
	check("At", sameTime(got.At, want.At), got.At, want.At)
	check("Actor", got.Actor == want.Actor, got.Actor, want.Actor)
	check("Action", got.Action == want.Action, got.Action, want.Action)
	check("Target", got.Target == want.Target, got.Target, want.Target)
	check("Org", got.Org == want.Org, got.Org, want.Org)
	check("IP", got.IP == want.IP, got.IP, want.IP)
	check("UserAgent", got.UserAgent == want.UserAgent, got.UserAgent, want.UserAgent)
	check("RequestID", got.RequestID == want.RequestID, got.RequestID, want.RequestID)
	check("Outcome", got.Outcome == want.Outcome, got.Outcome, want.Outcome)
	check("Details", maps.Equal(got.Details, want.Details), got.Details, want.Details)
	check("PrevHash", got.PrevHash == want.PrevHash, got.PrevHash, want.PrevHash)
	check("Hash", got.Hash == want.Hash, got.Hash, want.Hash)
	return strings.Join(d, "\n")
}

func checkEntries(t *testing.T, what string, got, want []audit.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries %v, want %d %v", what, len(got), seqs(got), len(want), seqs(want))
	}
	for i := range want {
		if d := diffEntry(got[i], want[i]); d != "" {
			t.Errorf("%s: entry %d:\n%s", what, i, d)
		}
	}
}

func seqs(es []audit.Entry) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

// AuditLog is the contract of ports.AuditLog.
func AuditLog(t *testing.T, setup Setup) {
	run(t, setup, "Append chains entries in order and Scan returns them as stored", func(t *testing.T, s Stores) {
		ctx := t.Context()
		head, err := s.Audit.Head(ctx)
		mustNotFail(t, "Head of an empty log", err)
		if head != audit.Genesis() {
			t.Fatalf("empty log: head %+v, want the genesis", head)
		}
		if cp, ok, err := s.Audit.Checkpoint(ctx); err != nil || ok || !cp.IsGenesis() {
			t.Fatalf("empty log: Checkpoint = %+v, %v, %v; want the genesis, false", cp, ok, err)
		}
		var want []audit.Entry
		for i := range 3 {
			e := auditEntry(t0.Add(time.Duration(i)*time.Second), "user.login", fmt.Sprintf("target-%d", i))
			if i == 1 {
				e.Details, e.Target, e.IP = nil, "", "2001:db8::1"
				e.Actor = audit.Actor{Kind: audit.ActorSystem}
			}
			got := appendEntry(ctx, t, s.Audit, e)
			if got.Seq != int64(i+1) || got.PrevHash != head.Hash {
				t.Fatalf("entry %d: seq %d, chained on %s; want seq %d on %s", i, got.Seq, got.PrevHash, i+1, head.Hash)
			}
			if d := diffEntry(got, audit.Seal(head, e, []byte(auditKey))); d != "" {
				t.Errorf("Append returned something else than seal's entry:\n%s", d)
			}
			head = got.Link()
			want = append(want, got)
		}
		got, err := s.Audit.Head(ctx)
		mustNotFail(t, "Head", err)
		if got != head {
			t.Errorf("Head = %+v, want %+v", got, head)
		}
		checkEntries(t, "Scan", scanAll(t, s.Audit, audit.Filter{}, 0), want)
		checkEntries(t, "Scan after 2", scanAll(t, s.Audit, audit.Filter{}, 2), want[2:])
		if n := verifyChain(t, s.Audit); n != 3 {
			t.Errorf("verified %d entries, want 3", n)
		}
	})

	run(t, setup, "A failed or misplaced seal stores nothing", func(t *testing.T, s Stores) {
		ctx := t.Context()
		first := appendEntry(ctx, t, s.Audit, auditEntry(t0, "user.login", "t"))
		_, err := s.Audit.Append(ctx, func(audit.Link) (audit.Entry, error) { return audit.Entry{}, errBoom })
		wantErr(t, "Append with a failing seal", err, errBoom)
		_, err = s.Audit.Append(ctx, func(audit.Link) (audit.Entry, error) {
			return audit.Seal(audit.Genesis(), auditEntry(t0, "user.login", "t"), []byte(auditKey)), nil
		})
		if err == nil {
			t.Error("Append of an entry sealed on another link succeeded")
		}
		invalid := auditEntry(t0, "Not An Action", "t")
		if _, err := s.Audit.Append(ctx, sealWith(invalid)); err == nil {
			t.Error("Append of an invalid entry succeeded")
		}
		head, err := s.Audit.Head(ctx)
		mustNotFail(t, "Head", err)
		if head != first.Link() {
			t.Errorf("Head = %+v, want the first entry's", head)
		}
		checkEntries(t, "Scan", scanAll(t, s.Audit, audit.Filter{}, 0), []audit.Entry{first})
	})

	run(t, setup, "AppendAll chains many entries at once, or none", func(t *testing.T, s Stores) {
		ctx := t.Context()
		first := appendEntry(ctx, t, s.Audit, auditEntry(t0, "user.login", "t"))
		sealAll := func(es ...audit.Entry) func(audit.Link) ([]audit.Entry, error) {
			return func(prev audit.Link) ([]audit.Entry, error) {
				out := make([]audit.Entry, len(es))
				for i, e := range es {
					out[i] = audit.Seal(prev, e, []byte(auditKey))
					prev = out[i].Link()
				}
				return out, nil
			}
		}
		batch := []audit.Entry{auditEntry(t0, "user.created", "a"), auditEntry(t0, "user.created", "b"), auditEntry(t0, "user.erased", "c")}
		got, err := s.Audit.AppendAll(ctx, sealAll(batch...))
		mustNotFail(t, "AppendAll", err)
		if len(got) != 3 || got[0].Seq != 2 || got[0].PrevHash != first.Hash || got[2].Seq != 4 {
			t.Fatalf("AppendAll returned seqs %v, want 2, 3, 4 chained on the first entry", seqs(got))
		}
		none, err := s.Audit.AppendAll(ctx, sealAll())
		if err != nil || len(none) != 0 {
			t.Errorf("AppendAll of nothing = %d entries, %v", len(none), err)
		}
		_, err = s.Audit.AppendAll(ctx, func(audit.Link) ([]audit.Entry, error) { return nil, errBoom })
		wantErr(t, "AppendAll with a failing seal", err, errBoom)
		// The second entry sealed on the head instead of the first: a fork.
		_, err = s.Audit.AppendAll(ctx, func(prev audit.Link) ([]audit.Entry, error) {
			return []audit.Entry{audit.Seal(prev, batch[0], []byte(auditKey)), audit.Seal(prev, batch[1], []byte(auditKey))}, nil
		})
		if err == nil {
			t.Error("AppendAll of a forked batch succeeded")
		}
		invalid := auditEntry(t0, "Not An Action", "t")
		if _, err := s.Audit.AppendAll(ctx, sealAll(batch[0], invalid)); err == nil {
			t.Error("AppendAll of a batch with an invalid entry succeeded")
		}
		head, err := s.Audit.Head(ctx)
		mustNotFail(t, "Head", err)
		if head != got[2].Link() {
			t.Errorf("Head = %+v, want the batch's last entry", head)
		}
		checkEntries(t, "Scan", scanAll(t, s.Audit, audit.Filter{}, 0), append([]audit.Entry{first}, got...))
		err = s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			if _, err := s.Audit.AppendAll(ctx, sealAll(batch...)); err != nil {
				return err
			}
			return errBoom
		})
		wantErr(t, "WithinTx", err, errBoom)
		if head, err := s.Audit.Head(ctx); err != nil || head != got[2].Link() {
			t.Errorf("a rolled-back AppendAll moved the head to %+v (%v)", head, err)
		}
		if n := verifyChain(t, s.Audit); n != 4 {
			t.Errorf("verified %d entries, want 4", n)
		}
	})

	run(t, setup, "Append in a transaction commits or rolls back with it", func(t *testing.T, s Stores) {
		ctx := t.Context()
		first := appendEntry(ctx, t, s.Audit, auditEntry(t0, "user.login", "t"))
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			e := appendEntry(ctx, t, s.Audit, auditEntry(t0, "user.update", "t"))
			appendEntry(ctx, t, s.Audit, auditEntry(t0, "user.update", "t"))
			if head, err := s.Audit.Head(ctx); err != nil || head.Seq != e.Seq+1 {
				t.Errorf("Head inside the transaction = %+v, %v; want seq %d", head, err, e.Seq+1)
			}
			return errBoom
		})
		wantErr(t, "WithinTx", err, errBoom)
		head, err := s.Audit.Head(ctx)
		mustNotFail(t, "Head", err)
		if head != first.Link() {
			t.Fatalf("a rolled-back append moved the head to %+v", head)
		}
		checkEntries(t, "Scan after the rollback", scanAll(t, s.Audit, audit.Filter{}, 0), []audit.Entry{first})

		var second audit.Entry
		ev := newEvent(t, newID(t), t0)
		err = s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			if err := s.Outbox.Append(ctx, ev); err != nil {
				return err
			}
			second = appendEntry(ctx, t, s.Audit, auditEntry(t0, "user.login", "t"))
			return nil
		})
		mustNotFail(t, "WithinTx", err)
		if second.Seq != 2 {
			t.Errorf("the append after the rollback has seq %d, want 2", second.Seq)
		}
		recs, err := peek(ctx, s, 10)
		mustNotFail(t, "Claim", err)
		checkClaimed(t, recs, nil, ev)
		verifyChain(t, s.Audit)
	})

	run(t, setup, "Concurrent appends make a chain without gaps", func(t *testing.T, s Stores) {
		ctx := t.Context()
		const workers, each = 8, 6
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					e := auditEntry(t0.Add(time.Duration(i)*time.Millisecond), "user.login", fmt.Sprintf("w%d-%d", w, i))
					var err error
					if (w+i)%3 == 0 {
						_, err = s.Audit.Append(ctx, sealWith(e)) // no transaction of the caller's
					} else {
						err = s.Tx.WithinTx(ctx, func(ctx context.Context) error {
							if err := s.Outbox.Append(ctx, newEvent(t, newID(t), t0)); err != nil {
								return err
							}
							_, err := s.Audit.Append(ctx, sealWith(e))
							return err
						})
					}
					if err != nil {
						t.Errorf("worker %d, append %d: %v", w, i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		all := scanAll(t, s.Audit, audit.Filter{}, 0)
		targets := map[string]bool{}
		for i, e := range all {
			if e.Seq != int64(i+1) {
				t.Fatalf("entry %d has seq %d: the chain has a gap", i, e.Seq)
			}
			targets[e.Target] = true
		}
		if len(all) != workers*each || len(targets) != workers*each {
			t.Fatalf("%d entries with %d targets, want %d", len(all), len(targets), workers*each)
		}
		verifyChain(t, s.Audit)
	})

	run(t, setup, "Search filters and pages newest first", func(t *testing.T, s Stores) {
		ctx := t.Context()
		var all []audit.Entry
		actors := []audit.Actor{{Kind: audit.ActorUser, ID: "alice"}, {Kind: audit.ActorAPIKey, ID: "key-1"},
			{Kind: audit.ActorSystem, ID: "sweeper"}, {Kind: audit.ActorUser, ID: "bob"}}
		actions := []string{"user.login", "user.logout", "admin.user.deactivate"}
		outcomes := []audit.Outcome{audit.Success, audit.Failure, audit.Denied, audit.Success, audit.Success}
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			for i := range 30 {
				e := auditEntry(t0.Add(time.Duration(i)*time.Minute), actions[i%len(actions)], fmt.Sprintf("target-%d", i%4))
				e.Actor, e.Outcome, e.Org = actors[i%len(actors)], outcomes[i%len(outcomes)], fmt.Sprintf("org-%d", i%2)
				got, err := s.Audit.Append(ctx, sealWith(e))
				if err != nil {
					return err
				}
				all = append(all, got)
			}
			return nil
		})
		mustNotFail(t, "WithinTx", err)
		for _, f := range []audit.Filter{
			{},
			{Actor: audit.Actor{ID: "alice"}},
			{Actor: audit.Actor{Kind: audit.ActorUser}},
			{Actor: audit.Actor{Kind: audit.ActorAPIKey, ID: "key-1"}},
			{Actor: audit.Actor{Kind: audit.ActorAPIKey, ID: "alice"}},
			{Target: "target-2"},
			{Action: "admin.user.deactivate"},
			{Outcome: audit.Denied},
			{Org: "org-1"},
			{From: t0.Add(10 * time.Minute)},
			{To: t0.Add(10 * time.Minute)},
			{From: t0.Add(5 * time.Minute), To: t0.Add(17 * time.Minute), Org: "org-0"},
			{Target: "target-1", Action: "user.login", Outcome: audit.Success},
			{Target: "nobody"},
		} {
			var want []audit.Entry
			for _, e := range slices.Backward(all) {
				if f.Match(e) {
					want = append(want, e)
				}
			}
			for _, limit := range []int{1, 4, len(want), 100} {
				if limit == 0 {
					continue
				}
				var got []audit.Entry
				before := int64(0)
				for page := 0; ; page++ {
					items, next, err := s.Audit.Search(ctx, f, before, limit)
					mustNotFail(t, "Search", err)
					if len(items) > limit {
						t.Fatalf("%+v: a page of %d entries, limit %d", f, len(items), limit)
					}
					got = append(got, items...)
					if next == 0 {
						break
					}
					if len(items) != limit || next != items[len(items)-1].Seq {
						t.Fatalf("%+v limit %d: page %d of %d entries ends at %v, next %d", f, limit, page, len(items), seqs(items), next)
					}
					if page > len(all) {
						t.Fatalf("%+v limit %d: pages never end", f, limit)
					}
					before = next
				}
				checkEntries(t, fmt.Sprintf("Search(%+v) by %d", f, limit), got, want)
			}
		}
		if items, next, err := s.Audit.Search(ctx, audit.Filter{}, 0, 0); err != nil || len(items) != 0 || next != 0 {
			t.Errorf("Search with limit 0 = %d entries, %d, %v", len(items), next, err)
		}
		items, next, err := s.Audit.Search(ctx, audit.Filter{}, 5, 10)
		mustNotFail(t, "Search before 5", err)
		checkEntries(t, "Search before 5", items, []audit.Entry{all[3], all[2], all[1], all[0]})
		if next != 0 {
			t.Errorf("the last page has next %d", next)
		}
	})

	run(t, setup, "Scan streams every matching entry in seq order", func(t *testing.T, s Stores) {
		ctx := t.Context()
		const n = 1000 // two full batches of sqlstore (the second ends the scan empty-handed), several of memory
		var all []audit.Entry
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			for i := range n {
				got, err := s.Audit.Append(ctx, sealWith(auditEntry(t0.Add(time.Duration(i)*time.Millisecond), "user.login", fmt.Sprintf("t%d", i%3))))
				if err != nil {
					return err
				}
				all = append(all, got)
			}
			return nil
		})
		mustNotFail(t, "WithinTx", err)
		checkEntries(t, "Scan", scanAll(t, s.Audit, audit.Filter{}, 0), all)
		var want []audit.Entry
		f := audit.Filter{Target: "t1", From: t0.Add(100 * time.Millisecond)}
		for _, e := range all[200:] {
			if f.Match(e) {
				want = append(want, e)
			}
		}
		checkEntries(t, "filtered Scan", scanAll(t, s.Audit, f, 200), want)

		calls := 0
		err = s.Audit.Scan(ctx, audit.Filter{}, 0, func(audit.Entry) error {
			calls++
			if calls == 3 {
				return errBoom
			}
			return nil
		})
		wantErr(t, "Scan whose fn fails", err, errBoom)
		if calls != 3 {
			t.Errorf("fn ran %d times after failing on the 3rd", calls)
		}
	})

	run(t, setup, "Prune moves the checkpoint and the chain verifies from it", func(t *testing.T, s Stores) {
		ctx := t.Context()
		var all []audit.Entry
		for i := range 10 {
			when := t0.Add(time.Duration(i) * time.Hour)
			if i == 7 {
				when = t0 // older than entry 6: pruning must stop at 6 anyway
			}
			all = append(all, appendEntry(ctx, t, s.Audit, auditEntry(when, "user.login", "t")))
		}
		cutoff := t0.Add(5*time.Hour + time.Minute) // entries 0..5 are older
		var seen []audit.Checkpoint
		seal := pruneSeal(t0.Add(1000 * time.Hour))
		counting := func(cur audit.Checkpoint, pruned []audit.Entry) (audit.Checkpoint, error) {
			seen = append(seen, cur)
			return seal(cur, pruned)
		}
		n, err := s.Audit.Prune(ctx, cutoff, 4, counting)
		mustNotFail(t, "Prune", err)
		if n != 4 {
			t.Fatalf("Prune by 4 = %d", n)
		}
		cp, ok, err := s.Audit.Checkpoint(ctx)
		mustNotFail(t, "Checkpoint", err)
		want := audit.NewCheckpoint(all[3], t0.Add(1000*time.Hour), []byte(auditKey))
		if !ok || cp != want {
			t.Fatalf("Checkpoint = %+v, %v; want %+v", cp, ok, want)
		}
		if got := verifyChain(t, s.Audit); got != 6 {
			t.Errorf("verified %d entries after the checkpoint, want 6", got)
		}

		_, err = s.Audit.Prune(ctx, cutoff, 100, func(audit.Checkpoint, []audit.Entry) (audit.Checkpoint, error) {
			return audit.Checkpoint{}, errBoom
		})
		wantErr(t, "Prune with a failing seal", err, errBoom)
		n, err = s.Audit.Prune(ctx, cutoff, 100, counting)
		mustNotFail(t, "Prune", err)
		if n != 2 {
			t.Fatalf("second Prune = %d, want 2 (entry 7 is old but comes after a newer one)", n)
		}
		if len(seen) != 2 || !seen[0].IsGenesis() || seen[1] != want {
			t.Errorf("seal saw checkpoints %+v, want the genesis then %+v", seen, want)
		}
		checkEntries(t, "Scan", scanAll(t, s.Audit, audit.Filter{}, 0), all[6:])
		verifyChain(t, s.Audit)
		if n, err := s.Audit.Prune(ctx, cutoff, 100, counting); err != nil || n != 0 {
			t.Errorf("Prune with nothing old enough = %d, %v", n, err)
		}
		if len(seen) != 2 {
			t.Error("Prune called seal with nothing to prune")
		}
	})

	run(t, setup, "Prune may take the head; appends continue the chain", func(t *testing.T, s Stores) {
		ctx := t.Context()
		var last audit.Entry
		for i := range 3 {
			last = appendEntry(ctx, t, s.Audit, auditEntry(t0.Add(time.Duration(i)*time.Second), "user.login", "t"))
		}
		n, err := s.Audit.Prune(ctx, t0.Add(time.Hour), 100, pruneSeal(t0.Add(time.Hour)))
		mustNotFail(t, "Prune", err)
		if n != 3 {
			t.Fatalf("Prune = %d, want 3", n)
		}
		if got := verifyChain(t, s.Audit); got != 0 {
			t.Errorf("verified %d entries of an empty log", got)
		}
		if head, err := s.Audit.Head(ctx); err != nil || head != last.Link() {
			t.Fatalf("Head after pruning everything = %+v, %v; want the last entry's", head, err)
		}
		next := appendEntry(ctx, t, s.Audit, auditEntry(t0.Add(time.Hour), "user.login", "t"))
		if next.Seq != 4 || next.PrevHash != last.Hash {
			t.Errorf("the next entry has seq %d, want 4 chained on the pruned head", next.Seq)
		}
		verifyChain(t, s.Audit)
	})

	run(t, setup, "Prune inside a rolled-back transaction keeps everything", func(t *testing.T, s Stores) {
		ctx := t.Context()
		first := appendEntry(ctx, t, s.Audit, auditEntry(t0, "user.login", "t"))
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			if n, err := s.Audit.Prune(ctx, t0.Add(time.Hour), 10, pruneSeal(t0)); err != nil || n != 1 {
				t.Errorf("Prune = %d, %v", n, err)
			}
			return errBoom
		})
		wantErr(t, "WithinTx", err, errBoom)
		if _, ok, err := s.Audit.Checkpoint(ctx); err != nil || ok {
			t.Errorf("a rolled-back Prune left a checkpoint (%v)", err)
		}
		checkEntries(t, "Scan", scanAll(t, s.Audit, audit.Filter{}, 0), []audit.Entry{first})
	})

	run(t, setup, "Concurrent prunes take turns", func(t *testing.T, s Stores) {
		ctx := t.Context()
		const total = 40
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			for i := range total {
				if _, err := s.Audit.Append(ctx, sealWith(auditEntry(t0.Add(time.Duration(i)*time.Second), "user.login", "t"))); err != nil {
					return err
				}
			}
			return nil
		})
		mustNotFail(t, "WithinTx", err)
		var (
			mu     sync.Mutex
			pruned = map[int64]int{}
			wg     sync.WaitGroup
		)
		seal := pruneSeal(t0.Add(time.Hour))
		for range 4 {
			wg.Go(func() {
				for {
					n, err := s.Audit.Prune(ctx, t0.Add(time.Hour), 3, func(cur audit.Checkpoint, es []audit.Entry) (audit.Checkpoint, error) {
						mu.Lock()
						for _, e := range es {
							pruned[e.Seq]++
						}
						mu.Unlock()
						return seal(cur, es)
					})
					if err != nil {
						t.Errorf("Prune: %v", err)
						return
					}
					if n == 0 {
						return
					}
				}
			})
		}
		wg.Wait()
		if len(pruned) != total {
			t.Errorf("%d entries pruned, want %d", len(pruned), total)
		}
		for seq, n := range pruned {
			if n > 1 {
				t.Errorf("entry %d handed to %d prunes", seq, n)
			}
		}
		if es := scanAll(t, s.Audit, audit.Filter{}, 0); len(es) != 0 {
			t.Errorf("%d entries left", len(es))
		}
		verifyChain(t, s.Audit)
	})

	run(t, setup, "Append after a failed one in the same transaction works", func(t *testing.T, s Stores) {
		ctx := t.Context()
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			if _, err := s.Audit.Append(ctx, func(audit.Link) (audit.Entry, error) { return audit.Entry{}, errBoom }); !errors.Is(err, errBoom) {
				return fmt.Errorf("a failing seal: %w", err)
			}
			_, err := s.Audit.Append(ctx, sealWith(auditEntry(t0, "user.login", "t")))
			return err
		})
		mustNotFail(t, "WithinTx", err)
		verifyChain(t, s.Audit)
	})
}
