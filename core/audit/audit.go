// Package audit is the tamper-evident audit trail: who did what to which
// target, from where, with what outcome. Entries form a hash chain, each
// sealed with an HMAC over its predecessor's hash and its own fields, so
// an edited, deleted, inserted or reordered record breaks the chain at a
// record a Verifier names. Retention pruning restarts the chain from an
// authenticated Checkpoint.
//
// The chain key: Seal and NewCheckpoint take a secret key (the host's
// USERMGMT_AUDIT_KEY). With an empty key they still compute an HMAC, so
// the chain still catches accidents and careless edits, but anyone who can
// write to the database can then recompute every hash after an edit; with a
// secret key kept out of the database they cannot.
//
// Details never carry secrets: Validate refuses detail keys that look like
// one (password, token, code, ...). It is a guard against mistakes, not a
// guarantee: callers choose what they record.
package audit

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/usermgmt/usermgmt/core/errs"
)

// ActorKind says what kind of principal acted.
type ActorKind string

// The kinds of actor.
const (
	ActorUser   ActorKind = "user"
	ActorAPIKey ActorKind = "apikey"
	// ActorSystem is the service itself (a sweep, a consumed event); its ID,
	// if any, names the component ("compliance-service").
	ActorSystem ActorKind = "system"
)

// Errors of the audit trail.
var (
	ErrInvalidActorKind = errs.New(errs.Invalid, "audit.invalid_actor_kind", "actor kind must be user, apikey or system")
	ErrInvalidOutcome   = errs.New(errs.Invalid, "audit.invalid_outcome", "outcome must be success, failure or denied")
	// ErrBroken is what every *Broken matches with errors.Is: the chain
	// does not verify. It is Internal: nothing the caller sent is wrong.
	ErrBroken = errs.New(errs.Internal, "audit.chain_broken", "the audit chain does not verify")
)

// ParseActorKind returns the kind named s.
func ParseActorKind(s string) (ActorKind, error) {
	switch k := ActorKind(s); k {
	case ActorUser, ActorAPIKey, ActorSystem:
		return k, nil
	}
	return "", ErrInvalidActorKind
}

// Actor is who acted.
type Actor struct {
	Kind ActorKind
	ID   string // the user id, the API key id, or the system component
}

// IsZero reports whether no actor is set.
func (a Actor) IsZero() bool { return a == Actor{} }

func (a Actor) String() string {
	if a.ID == "" {
		return string(a.Kind)
	}
	return string(a.Kind) + ":" + a.ID
}

// Outcome is how the action ended.
type Outcome string

// The outcomes. Denied is a refusal by policy (authorisation, throttling);
// failure is anything else that did not succeed.
const (
	Success Outcome = "success"
	Failure Outcome = "failure"
	Denied  Outcome = "denied"
)

// ParseOutcome returns the outcome named s.
func ParseOutcome(s string) (Outcome, error) {
	switch o := Outcome(s); o {
	case Success, Failure, Denied:
		return o, nil
	}
	return "", ErrInvalidOutcome
}

// Bounds of an entry's fields, in bytes. Values beyond them are refused
// by Validate; Normalized truncates the user agent, which transports pass
// through unchecked.
const (
	MaxIDLen        = 256 // actor id, target
	MaxActionLen    = 128
	MaxOrgLen       = 128
	MaxUserAgentLen = 512
	MaxRequestIDLen = 128
	MaxDetails      = 16
	MaxDetailKeyLen = 64
	MaxDetailLen    = 512
)

// Entry is one audit record.
type Entry struct {
	Seq       int64 // the position in the chain, from 1; set by Seal
	At        time.Time
	Actor     Actor
	Action    string // dotted lower case: "user.login", "admin.user.deactivate"
	Target    string // the id of what was acted on; may be empty
	Org       string
	IP        string
	UserAgent string
	RequestID string
	Outcome   Outcome
	Details   map[string]string // never a secret: see Validate
	PrevHash  Hash              // the previous entry's Hash; set by Seal
	Hash      Hash              // set by Seal
}

// Normalized returns e with At in UTC at microsecond precision (what every
// store keeps), IP in canonical form (an IPv4-mapped address as IPv4; empty
// when it is not an address) and the user agent made valid UTF-8 and cut
// to MaxUserAgentLen.
func (e Entry) Normalized() Entry {
	e.At = e.At.UTC().Truncate(time.Microsecond)
	if ip, err := netip.ParseAddr(strings.TrimSpace(e.IP)); err == nil {
		e.IP = ip.Unmap().WithZone("").String()
	} else {
		e.IP = ""
	}
	e.UserAgent = truncate(strings.ToValidUTF8(strings.ReplaceAll(e.UserAgent, "\x00", ""), ""), MaxUserAgentLen)
	return e
}

// Validate checks the fields a caller sets (not Seq and the hashes) and
// returns an Invalid error naming every bad one.
func (e Entry) Validate() error {
	var v errs.Validation
	if e.At.IsZero() {
		v.Add("at", "is required")
	}
	if _, err := ParseActorKind(string(e.Actor.Kind)); err != nil {
		v.Check("actor.kind", err)
	}
	if e.Actor.ID == "" && e.Actor.Kind != ActorSystem {
		v.Add("actor.id", "is required for a user or an API key")
	}
	checkText(&v, "actor.id", e.Actor.ID, MaxIDLen)
	if !ValidAction(e.Action) {
		v.Add("action", "must be dotted lower-case words, like user.login")
	}
	checkText(&v, "target", e.Target, MaxIDLen)
	checkText(&v, "org", e.Org, MaxOrgLen)
	if e.IP != "" {
		if _, err := netip.ParseAddr(e.IP); err != nil {
			v.Add("ip", "is not an IP address")
		}
	}
	checkText(&v, "userAgent", e.UserAgent, MaxUserAgentLen)
	checkText(&v, "requestId", e.RequestID, MaxRequestIDLen)
	if _, err := ParseOutcome(string(e.Outcome)); err != nil {
		v.Check("outcome", err)
	}
	if err := CheckDetails(e.Details); err != nil {
		if err := v.Merge(err); err != nil {
			return err
		}
	}
	return v.Err()
}

// checkText refuses what no store keeps exactly: invalid UTF-8, NUL
// (Postgres text cannot hold it) and more than max bytes.
func checkText(v *errs.Validation, field, s string, max int) {
	switch {
	case len(s) > max:
		v.Add(field, fmt.Sprintf("must be at most %d bytes", max))
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		v.Add(field, "must be valid UTF-8 without NUL")
	}
}

// ValidAction reports whether s is an action name: two or more dot-separated
// words of lower-case letters, digits and underscores, each starting with a
// letter, at most MaxActionLen bytes. Event types ("user.password_changed")
// are actions.
func ValidAction(s string) bool {
	if len(s) > MaxActionLen {
		return false
	}
	words := strings.Split(s, ".")
	if len(words) < 2 {
		return false
	}
	for _, w := range words {
		if w == "" || w[0] < 'a' || w[0] > 'z' {
			return false
		}
		for _, c := range []byte(w) {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
				return false
			}
		}
	}
	return true
}

// SecretLooking reports whether a detail key looks like it names a secret:
// it contains, case-insensitively, a word such as password, token, secret,
// code, hash or key. "code" and "key" catch one-time codes and key material
// at the price of some innocent names: an auditor loses little, a leak
// costs much.
func SecretLooking(key string) bool {
	k := strings.ToLower(key)
	for _, w := range [...]string{"password", "passwd", "secret", "token", "code", "hash", "key",
		"otp", "cookie", "authorization", "credential", "salt", "seed", "nonce", "private"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// CheckDetails returns an Invalid error naming every detail that is not
// allowed: too many, a key that is empty, too long, not a plain name or
// that looks secret (SecretLooking), a value too long or not valid UTF-8.
func CheckDetails(d map[string]string) error {
	var v errs.Validation
	if len(d) > MaxDetails {
		v.Add("details", fmt.Sprintf("must have at most %d entries", MaxDetails))
	}
	for _, k := range slices.Sorted(maps.Keys(d)) {
		field := "details." + k
		switch {
		case !validDetailKey(k):
			v.Add("details", fmt.Sprintf("key %q must be a name of at most %d letters, digits, '_', '-' or '.'", truncate(k, MaxDetailKeyLen), MaxDetailKeyLen))
			continue
		case SecretLooking(k):
			v.Add(field, "looks like a secret: audit details never hold one")
			continue
		}
		checkText(&v, field, d[k], MaxDetailLen)
	}
	return v.Err()
}

func validDetailKey(k string) bool {
	if k == "" || len(k) > MaxDetailKeyLen {
		return false
	}
	for _, c := range []byte(k) {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Filter selects entries; zero fields match everything. From is inclusive
// and To exclusive.
type Filter struct {
	Actor   Actor // Kind and ID each match when set
	Target  string
	Action  string
	Outcome Outcome
	Org     string
	From    time.Time
	To      time.Time
}

// Validate refuses an unknown outcome or actor kind and an empty range.
func (f Filter) Validate() error {
	var v errs.Validation
	if f.Actor.Kind != "" {
		if _, err := ParseActorKind(string(f.Actor.Kind)); err != nil {
			v.Check("actor.kind", err)
		}
	}
	if f.Outcome != "" {
		if _, err := ParseOutcome(string(f.Outcome)); err != nil {
			v.Check("outcome", err)
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		v.Add("to", "must be after from")
	}
	// No stored value holds a control character or invalid UTF-8, and
	// some databases cannot even take one as a parameter (Postgres text
	// has no NUL): such a filter matches nothing and is refused as such.
	for name, val := range map[string]string{"actor": f.Actor.ID, "target": f.Target, "action": f.Action, "org": f.Org} {
		if !utf8.ValidString(val) || strings.ContainsFunc(val, unicode.IsControl) {
			v.Add(name, "must be printable text")
		}
	}
	return v.Err()
}

// Match reports whether e passes f; stores that cannot filter in a query
// use it.
func (f Filter) Match(e Entry) bool {
	switch {
	case f.Actor.Kind != "" && f.Actor.Kind != e.Actor.Kind,
		f.Actor.ID != "" && f.Actor.ID != e.Actor.ID,
		f.Target != "" && f.Target != e.Target,
		f.Action != "" && f.Action != e.Action,
		f.Outcome != "" && f.Outcome != e.Outcome,
		f.Org != "" && f.Org != e.Org,
		!f.From.IsZero() && e.At.Before(f.From),
		!f.To.IsZero() && !e.At.Before(f.To):
		return false
	}
	return true
}
