package audit_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/core/errs"
)

var (
	t0  = time.Date(2025, time.June, 1, 12, 0, 0, 123456000, time.UTC)
	key = []byte("0123456789abcdef0123456789abcdef")
)

func entry(i int) audit.Entry {
	return audit.Entry{
		At: t0.Add(time.Duration(i) * time.Second), Actor: audit.Actor{Kind: audit.ActorUser, ID: fmt.Sprintf("u%d", i)},
		Action: "user.login", Target: fmt.Sprintf("t%d", i), Org: "acme", IP: "203.0.113.7", UserAgent: "test/1.0",
		RequestID: fmt.Sprintf("req-%d", i), Outcome: audit.Success, Details: map[string]string{"method": "password"},
	}
}

// chain returns n entries sealed in order from the genesis.
func chain(n int) []audit.Entry {
	out := make([]audit.Entry, n)
	prev := audit.Genesis()
	for i := range out {
		out[i] = audit.Seal(prev, entry(i), key)
		prev = out[i].Link()
	}
	return out
}

// verify feeds es to a verifier from cp and checks it ends at head.
func verify(cp audit.Checkpoint, es []audit.Entry, head audit.Link) error {
	v, err := audit.NewVerifier(key, cp)
	if err != nil {
		return err
	}
	for _, e := range es {
		if err := v.Check(e); err != nil {
			return err
		}
	}
	return v.End(head)
}

func TestSealChains(t *testing.T) {
	es := chain(3)
	for i, e := range es {
		if e.Seq != int64(i+1) {
			t.Errorf("entry %d has seq %d", i, e.Seq)
		}
		if i > 0 && e.PrevHash != es[i-1].Hash {
			t.Errorf("entry %d does not chain on entry %d", i, i-1)
		}
	}
	if es[0].PrevHash != (audit.Hash{}) {
		t.Errorf("the first entry's PrevHash is %s, want the zero hash", es[0].PrevHash)
	}
	if err := verify(audit.Checkpoint{}, es, es[2].Link()); err != nil {
		t.Fatalf("an untouched chain: %v", err)
	}
	// The same entry under another key, or at another place, seals differently.
	if audit.Seal(audit.Genesis(), entry(0), nil).Hash == es[0].Hash {
		t.Error("the hash does not depend on the key")
	}
	if audit.Seal(es[0].Link(), entry(0), key).Hash == es[0].Hash {
		t.Error("the hash does not depend on the previous link")
	}
}

func TestSealNormalisesTime(t *testing.T) {
	e := entry(0)
	e.At = time.Date(2025, 1, 1, 13, 0, 0, 1234567, time.FixedZone("CET", 3600))
	s := audit.Seal(audit.Genesis(), e, key)
	if s.At.Location() != time.UTC || s.At.Nanosecond() != 1234000 {
		t.Errorf("At = %v, want UTC at microseconds", s.At)
	}
}

// TestEncodingIsUnambiguous: moving bytes from one field to the next, or
// between a detail's key and value, changes the hash.
func TestEncodingIsUnambiguous(t *testing.T) {
	a, b := entry(0), entry(0)
	a.Target, a.Org = "ab", "c"
	b.Target, b.Org = "a", "bc"
	if audit.Seal(audit.Genesis(), a, key).Hash == audit.Seal(audit.Genesis(), b, key).Hash {
		t.Error("target+org: two entries hash alike")
	}
	a.Details, b.Details = map[string]string{"a": "bc"}, map[string]string{"ab": "c"}
	if audit.Seal(audit.Genesis(), a, key).Hash == audit.Seal(audit.Genesis(), b, key).Hash {
		t.Error("details: two entries hash alike")
	}
	a.Details, b.Details = nil, map[string]string{}
	a.Target, a.Org = "x", "y"
	b.Target, b.Org = "x", "y"
	if audit.Seal(audit.Genesis(), a, key).Hash != audit.Seal(audit.Genesis(), b, key).Hash {
		t.Error("nil and empty details hash differently: a store need not tell them apart")
	}
}

func TestVerifierDetectsTampering(t *testing.T) {
	const n = 5
	for _, tc := range []struct {
		name   string
		tamper func(es []audit.Entry) []audit.Entry
		seq    int64
		reason audit.Reason
	}{
		{"an edited field", func(es []audit.Entry) []audit.Entry {
			es[2].Outcome = audit.Denied
			return es
		}, 3, audit.ReasonHash},
		{"an edited detail", func(es []audit.Entry) []audit.Entry {
			es[1].Details = map[string]string{"method": "oauth"}
			return es
		}, 2, audit.ReasonHash},
		{"an edited time", func(es []audit.Entry) []audit.Entry {
			es[3].At = es[3].At.Add(time.Microsecond)
			return es
		}, 4, audit.ReasonHash},
		{"an edit resealed without the key", func(es []audit.Entry) []audit.Entry {
			prev := es[1].Link()
			for i := 2; i < len(es); i++ {
				e := es[i]
				e.Target = "someone-else"
				es[i] = audit.Seal(prev, e, nil)
				prev = es[i].Link()
			}
			return es
		}, 3, audit.ReasonHash},
		{"a deleted middle row", func(es []audit.Entry) []audit.Entry {
			return append(es[:2], es[3:]...)
		}, 3, audit.ReasonMissing},
		{"a deleted row, the later ones renumbered", func(es []audit.Entry) []audit.Entry {
			es = append(es[:2], es[3:]...)
			for i := 2; i < len(es); i++ {
				es[i].Seq--
			}
			return es
		}, 3, audit.ReasonPrevHash},
		{"a swapped order", func(es []audit.Entry) []audit.Entry {
			es[2], es[3] = es[3], es[2]
			return es
		}, 3, audit.ReasonMissing},
		{"swapped contents under the same seqs", func(es []audit.Entry) []audit.Entry {
			es[1], es[2] = es[2], es[1]
			es[1].Seq, es[2].Seq = 2, 3
			return es
		}, 2, audit.ReasonPrevHash},
		{"a duplicated row", func(es []audit.Entry) []audit.Entry {
			return append(es[:3], es[2:]...)
		}, 3, audit.ReasonOrder},
		{"an inserted row, the later ones renumbered", func(es []audit.Entry) []audit.Entry {
			forged := audit.Seal(es[1].Link(), entry(9), nil)
			rest := es[2:]
			for i := range rest {
				rest[i].Seq++
			}
			return append(es[:2:2], append([]audit.Entry{forged}, rest...)...)
		}, 3, audit.ReasonHash},
		{"a forged PrevHash", func(es []audit.Entry) []audit.Entry {
			es[4].PrevHash[0] ^= 1
			return es
		}, 5, audit.ReasonPrevHash},
		{"a deleted tail", func(es []audit.Entry) []audit.Entry {
			return es[:3]
		}, 4, audit.ReasonMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := chain(n)
			head := es[n-1].Link()
			err := verify(audit.Checkpoint{}, tc.tamper(es), head)
			checkBroken(t, err, tc.seq, tc.reason)
		})
	}
}

func checkBroken(t *testing.T, err error, seq int64, reason audit.Reason) {
	t.Helper()
	var b *audit.Broken
	if !errors.As(err, &b) {
		t.Fatalf("got %v, want a *audit.Broken", err)
	}
	if b.Seq != seq || b.Reason != reason {
		t.Errorf("broken at %d (%s: %s), want %d (%s)", b.Seq, b.Reason, b.Detail, seq, reason)
	}
	if !errors.Is(err, audit.ErrBroken) || errs.KindOf(err) != errs.Internal {
		t.Errorf("%v does not match ErrBroken", err)
	}
}

func TestVerifierStopsAtTheFirstBreak(t *testing.T) {
	es := chain(4)
	es[1].Target = "edited"
	v, err := audit.NewVerifier(key, audit.Checkpoint{})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Check(es[0]); err != nil {
		t.Fatal(err)
	}
	first := v.Check(es[1])
	checkBroken(t, first, 2, audit.ReasonHash)
	if err := v.Check(es[2]); err != first { //nolint:errorlint // the very same failure
		t.Errorf("after a break Check returned %v, want the first failure", err)
	}
	if v.Checked() != 1 || v.Head() != es[0].Link() {
		t.Errorf("Checked %d, Head %v; want 1 and entry 1", v.Checked(), v.Head())
	}
}

func TestCheckpoint(t *testing.T) {
	es := chain(6)
	cp := audit.NewCheckpoint(es[2], t0.Add(time.Hour), key)
	if cp.Seq != 3 || cp.Hash != es[2].Hash {
		t.Fatalf("checkpoint %+v does not name entry 3", cp)
	}
	head := es[5].Link()
	if err := verify(cp, es[3:], head); err != nil {
		t.Fatalf("the chain from a valid checkpoint: %v", err)
	}

	t.Run("moved forward without the key", func(t *testing.T) {
		moved := cp
		moved.Seq, moved.Hash = es[3].Seq, es[3].Hash
		checkBroken(t, verify(moved, es[4:], head), 4, audit.ReasonCheckpoint)
	})
	t.Run("made with another key", func(t *testing.T) {
		forged := audit.NewCheckpoint(es[3], t0.Add(time.Hour), nil)
		checkBroken(t, verify(forged, es[4:], head), 4, audit.ReasonCheckpoint)
	})
	t.Run("its time edited", func(t *testing.T) {
		edited := cp
		edited.At = edited.At.Add(-time.Hour)
		checkBroken(t, verify(edited, es[3:], head), 3, audit.ReasonCheckpoint)
	})
	t.Run("more rows deleted than it covers", func(t *testing.T) {
		checkBroken(t, verify(cp, es[4:], head), 4, audit.ReasonMissing)
	})
	t.Run("dropped: the chain seems to start at the genesis", func(t *testing.T) {
		checkBroken(t, verify(audit.Checkpoint{}, es[3:], head), 1, audit.ReasonMissing)
	})
	t.Run("everything pruned", func(t *testing.T) {
		all := audit.NewCheckpoint(es[5], t0, key)
		if err := verify(all, nil, head); err != nil {
			t.Fatalf("a checkpoint at the head: %v", err)
		}
	})
}

func TestEndDetectsAMovedHead(t *testing.T) {
	es := chain(3)
	checkBroken(t, verify(audit.Checkpoint{}, es, es[1].Link()), 2, audit.ReasonHead)
	wrong := es[2].Link()
	wrong.Hash[0] ^= 1
	checkBroken(t, verify(audit.Checkpoint{}, es, wrong), 3, audit.ReasonHead)
	if err := verify(audit.Checkpoint{}, nil, audit.Genesis()); err != nil {
		t.Errorf("an empty chain: %v", err)
	}
}

func TestHashFromBytes(t *testing.T) {
	h := chain(1)[0].Hash
	got, err := audit.HashFromBytes(h[:])
	if err != nil || got != h {
		t.Fatalf("HashFromBytes = %s, %v", got, err)
	}
	if _, err := audit.HashFromBytes(h[:5]); !errors.Is(err, audit.ErrCorrupt) {
		t.Errorf("a short hash: %v", err)
	}
	if len(h.String()) != 64 {
		t.Errorf("String() = %q, want 64 hex digits", h.String())
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"success", "failure", "denied"} {
		if o, err := audit.ParseOutcome(s); err != nil || string(o) != s {
			t.Errorf("ParseOutcome(%q) = %q, %v", s, o, err)
		}
	}
	for _, s := range []string{"user", "apikey", "system"} {
		if k, err := audit.ParseActorKind(s); err != nil || string(k) != s {
			t.Errorf("ParseActorKind(%q) = %q, %v", s, k, err)
		}
	}
	for _, s := range []string{"", "Success", "ok"} {
		if _, err := audit.ParseOutcome(s); errs.KindOf(err) != errs.Invalid {
			t.Errorf("ParseOutcome(%q): %v, want an Invalid error", s, err)
		}
		if _, err := audit.ParseActorKind(s); errs.KindOf(err) != errs.Invalid {
			t.Errorf("ParseActorKind(%q): %v, want an Invalid error", s, err)
		}
	}
}

func TestValidAction(t *testing.T) {
	for s, want := range map[string]bool{
		"user.login": true, "admin.user.deactivate": true, "user.password_changed": true, "user.mfa2.enabled": true,
		"": false, "user": false, "User.login": false, "user..login": false, ".user": false, "user.": false,
		"user.1login": false, "user.log-in": false, "user.log in": false, "user." + strings.Repeat("a", 130): false,
	} {
		if got := audit.ValidAction(s); got != want {
			t.Errorf("ValidAction(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	valid := entry(1)
	if err := valid.Validate(); err != nil {
		t.Fatalf("a valid entry: %v", err)
	}
	system := valid
	system.Actor = audit.Actor{Kind: audit.ActorSystem}
	if err := system.Validate(); err != nil {
		t.Errorf("a system actor without id: %v", err)
	}
	for _, tc := range []struct {
		field string
		edit  func(e *audit.Entry)
	}{
		{"at", func(e *audit.Entry) { e.At = time.Time{} }},
		{"actor.kind", func(e *audit.Entry) { e.Actor.Kind = "robot" }},
		{"actor.id", func(e *audit.Entry) { e.Actor.ID = "" }},
		{"action", func(e *audit.Entry) { e.Action = "Login" }},
		{"outcome", func(e *audit.Entry) { e.Outcome = "" }},
		{"ip", func(e *audit.Entry) { e.IP = "localhost" }},
		{"target", func(e *audit.Entry) { e.Target = strings.Repeat("x", audit.MaxIDLen+1) }},
		{"org", func(e *audit.Entry) { e.Org = "a\x00b" }},
		{"requestId", func(e *audit.Entry) { e.RequestID = "\xff" }},
		{"details.Password", func(e *audit.Entry) { e.Details = map[string]string{"Password": "x"} }},
		{"details.apiToken", func(e *audit.Entry) { e.Details = map[string]string{"apiToken": "x"} }},
		{"details.otp_code", func(e *audit.Entry) { e.Details = map[string]string{"otp_code": "x"} }},
		{"details.SECRET", func(e *audit.Entry) { e.Details = map[string]string{"SECRET": "x"} }},
		{"details.passwordHash", func(e *audit.Entry) { e.Details = map[string]string{"passwordHash": "x"} }},
		{"details.apiKey", func(e *audit.Entry) { e.Details = map[string]string{"apiKey": "x"} }},
		{"details.note", func(e *audit.Entry) { e.Details = map[string]string{"note": strings.Repeat("x", audit.MaxDetailLen+1)} }},
		{"details", func(e *audit.Entry) { e.Details = map[string]string{"a b": "x"} }},
		{"details", func(e *audit.Entry) {
			e.Details = map[string]string{}
			for i := range audit.MaxDetails + 1 {
				e.Details[fmt.Sprintf("k%d", i)] = "v"
			}
		}},
	} {
		e := valid
		tc.edit(&e)
		err := e.Validate()
		var ee *errs.Error
		if !errors.As(err, &ee) || ee.Kind != errs.Invalid {
			t.Errorf("%s: got %v, want an Invalid error", tc.field, err)
			continue
		}
		found := false
		for _, f := range ee.Fields {
			found = found || f.Field == tc.field
		}
		if !found {
			t.Errorf("%s: fields %v do not name it", tc.field, ee.Fields)
		}
	}
}

func TestNormalized(t *testing.T) {
	e := entry(1)
	e.At = time.Date(2025, 1, 1, 13, 0, 0, 1234567, time.FixedZone("CET", 3600))
	e.IP = " fe80::1%eth0 "
	e.UserAgent = strings.Repeat("é", audit.MaxUserAgentLen) + "\xff\x00"
	n := e.Normalized()
	if n.At.Location() != time.UTC || n.At.Nanosecond() != 1234000 {
		t.Errorf("At = %v", n.At)
	}
	if n.IP != "fe80::1" {
		t.Errorf("IP = %q", n.IP)
	}
	if len(n.UserAgent) > audit.MaxUserAgentLen || strings.ContainsAny(n.UserAgent, "\x00\ufffd") {
		t.Errorf("user agent of %d bytes: %q...", len(n.UserAgent), n.UserAgent[:10])
	}
	e.IP = "::ffff:192.0.2.1"
	if got := e.Normalized().IP; got != "192.0.2.1" {
		t.Errorf("IP = %q, want the IPv4 address", got)
	}
	e.IP = "not an address"
	if got := e.Normalized().IP; got != "" {
		t.Errorf("IP = %q, want empty", got)
	}
	if err := n.Validate(); err != nil {
		t.Errorf("a normalised entry: %v", err)
	}
}

func TestFilter(t *testing.T) {
	e := entry(1)
	for _, tc := range []struct {
		f    audit.Filter
		want bool
	}{
		{audit.Filter{}, true},
		{audit.Filter{Actor: audit.Actor{ID: "u1"}}, true},
		{audit.Filter{Actor: audit.Actor{Kind: audit.ActorUser, ID: "u1"}}, true},
		{audit.Filter{Actor: audit.Actor{Kind: audit.ActorAPIKey, ID: "u1"}}, false},
		{audit.Filter{Actor: audit.Actor{ID: "u2"}}, false},
		{audit.Filter{Target: "t1", Action: "user.login", Outcome: audit.Success, Org: "acme"}, true},
		{audit.Filter{Target: "t2"}, false},
		{audit.Filter{Action: "user.logout"}, false},
		{audit.Filter{Outcome: audit.Denied}, false},
		{audit.Filter{Org: "other"}, false},
		{audit.Filter{From: e.At, To: e.At.Add(time.Microsecond)}, true},
		{audit.Filter{From: e.At.Add(time.Microsecond)}, false},
		{audit.Filter{To: e.At}, false},
	} {
		if got := tc.f.Match(e); got != tc.want {
			t.Errorf("%+v.Match = %v, want %v", tc.f, got, tc.want)
		}
	}
	for _, f := range []audit.Filter{
		{Outcome: "ok"}, {Actor: audit.Actor{Kind: "robot"}}, {From: t0, To: t0},
	} {
		if err := f.Validate(); errs.KindOf(err) != errs.Invalid {
			t.Errorf("%+v.Validate() = %v, want an Invalid error", f, err)
		}
	}
}

func TestContext(t *testing.T) {
	ctx := context.Background()
	if _, ok := audit.ActorFrom(ctx); ok {
		t.Error("an empty ctx has an actor")
	}
	if r := audit.RequestFrom(ctx); r != (audit.Request{}) {
		t.Errorf("an empty ctx has request %+v", r)
	}
	a := audit.Actor{Kind: audit.ActorAPIKey, ID: "k1"}
	r := audit.Request{IP: "192.0.2.1", UserAgent: "curl", RequestID: "r1"}
	ctx = audit.WithRequest(audit.WithActor(ctx, a), r)
	if got, ok := audit.ActorFrom(ctx); !ok || got != a {
		t.Errorf("ActorFrom = %v, %v", got, ok)
	}
	if got := audit.RequestFrom(ctx); got != r {
		t.Errorf("RequestFrom = %+v", got)
	}
	if a.String() != "apikey:k1" || (audit.Actor{Kind: audit.ActorSystem}).String() != "system" {
		t.Errorf("Actor.String: %q", a.String())
	}
}

// A filter value no entry can hold (a control character, invalid UTF-8)
// is refused, not sent to a store that might choke on it.
func TestFilterRefusesUnprintable(t *testing.T) {
	for _, f := range []audit.Filter{{Target: "\x00"}, {Actor: audit.Actor{ID: "a\x01"}}, {Action: "user.login\x00"}, {Org: "\xff"}} {
		if err := f.Validate(); err == nil {
			t.Errorf("filter %+v accepted", f)
		}
	}
	if err := (audit.Filter{Target: "00000000-0000-7000-8000-000000000001", Action: "user.login"}).Validate(); err != nil {
		t.Errorf("a plain filter: %v", err)
	}
}
