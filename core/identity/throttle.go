package identity

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// Limits bound credential guessing (LG-02, LG-03, LG-10). A zero field
// takes its default; Disabled turns throttling off (benchmarks only).
// Budgets per IP count an IPv6 client by its /64 (IV-08).
type Limits struct {
	Disabled bool
	// LoginPerIP and LoginPerAccountIP are attempts per minute; the
	// latter is kept per identifier (email or username) and IP.
	LoginPerIP, LoginPerAccountIP int
	// RegisterPerIP is registrations per hour.
	RegisterPerIP int
	// RefreshPerIP is refreshes per minute from one address: a guessing
	// or replaying client is slowed; a NAT of many users is not.
	RefreshPerIP int
	// MaxFailures is how many consecutive failures an account takes before
	// every attempt is refused, the right password included, until
	// FailureWindow passes without one or a success resets it (NIST: 100).
	MaxFailures   int
	FailureWindow time.Duration
	// SlowAfter is how many consecutive failures one identifier of an
	// account takes at full speed; after them each attempt holds off the
	// next for a delay that doubles from one second up to SlowMax
	// (progressive delay), until the account reaches MaxFailures.
	SlowAfter int
	SlowMax   time.Duration
	// CodeSends is how many codes one account may be sent by one channel
	// in 15 minutes (and one phone number in an hour).
	CodeSends int
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.LoginPerIP, 100)
	def(&l.LoginPerAccountIP, 20)
	def(&l.RegisterPerIP, 100)
	def(&l.RefreshPerIP, 600)
	def(&l.MaxFailures, 100)
	def(&l.SlowAfter, 10)
	def(&l.CodeSends, 5)
	if l.FailureWindow <= 0 {
		l.FailureWindow = time.Hour
	}
	if l.SlowMax <= 0 {
		l.SlowMax = 30 * time.Second
	}
	return l
}

// ErrTooManyAttempts refuses an attempt over a budget; RetryAfter says when.
var ErrTooManyAttempts = errs.New(errs.RateLimited, "auth.too_many_attempts", "too many attempts; retry later")

// accountKey names the account an attempt is against: the user's id when
// the account exists (so its email and username share one count), else
// the identifier, so unknown accounts throttle the same way and lockout
// reveals nothing (LG-01).
func accountKey(u user.User, identifier string) string {
	if u.ID() != "" {
		return "user:" + string(u.ID())
	}
	return identifierKey(identifier)
}

// ipBudgetKey names the client a per-address budget is spent by: its
// session.ClientAddr. Anything else is one empty key, as Client.Normalized
// leaves it.
func ipBudgetKey(ip string) string {
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return ""
	}
	return session.ClientAddr(a).String()
}

// identifierKey names an email or username as the look-up compares it. The
// progressive delay and the account's budget per address are kept per
// identifier, not per account, so failures through an email neither slow
// nor spend its account's username: were they to, a dozen requests would
// tell that the two belong together (LG-10).
func identifierKey(identifier string) string {
	return "id:" + strings.ToLower(strings.TrimSpace(identifier))
}

// Throttle spends the budgets that bound credential guessing. It holds
// the two limiter ports and the limits, so every use case that takes a
// guess applies one set of rules (LG-02, LG-03, LG-04, LG-10).
type Throttle struct {
	limiter  ports.RateLimiter
	failures ports.FailureCounter
	limits   Limits
	spacing  []time.Duration // limits.spacing(), built once
}

// NewThrottle returns a Throttle over limiter and failures; zero fields of
// limits take their defaults.
func NewThrottle(limiter ports.RateLimiter, failures ports.FailureCounter, limits Limits) (*Throttle, error) {
	if limiter == nil || failures == nil {
		return nil, missing("NewThrottle")
	}
	limits = limits.withDefaults()
	return &Throttle{limiter: limiter, failures: failures, limits: limits, spacing: limits.spacing()}, nil
}

// take spends one attempt of key's budget, or refuses with when to retry.
// A limiter that cannot answer refuses too: throttling fails closed (LO-06).
func (t *Throttle) take(ctx context.Context, key string, limit int, window time.Duration) error {
	if t.limits.Disabled {
		return nil
	}
	ok, retry, err := t.limiter.Take(ctx, key, limit, window)
	if err != nil {
		return errLimiterDown.Wrap(err)
	}
	if !ok {
		return ErrTooManyAttempts.WithRetryAfter(retry)
	}
	return nil
}

// errLimiterDown answers when the rate-limit store is unreachable.
var errLimiterDown = errs.New(errs.Unavailable, "auth.limiter_unavailable", "sign-in is briefly unavailable; retry shortly")

// reserveAttempt counts an attempt against account and identifier before
// its credential is checked, and refuses it once MaxFailures consecutive
// attempts on account have failed, the right credential included (LG-02).
// Past SlowAfter attempts of identifier, each one opens a delay that
// doubles, during which the next is refused (progressive delay). Deciding
// and counting are one atomic step of the shared store, so each of any
// number of parallel attempts learns its own number and exactly the
// allowed ones reach the check, on any instance (LG-04, LG-10). Refused
// attempts are not counted, so the lock lifts a window after the last
// counted failure instead of lasting while an attacker keeps knocking. A
// success resets it all.
func (t *Throttle) reserveAttempt(ctx context.Context, account, identifier string) (int, error) {
	if t.limits.Disabled {
		return 0, nil
	}
	l := t.limits
	n, retry, err := t.failures.Attempt(ctx, ports.Attempt{Account: account, Max: l.MaxFailures,
		Identifier: identifier, Spacing: t.spacing, TTL: l.FailureWindow})
	if err != nil {
		return 0, errLimiterDown.Wrap(err)
	}
	if n == 0 {
		return 0, ErrTooManyAttempts.WithRetryAfter(retry)
	}
	return n, nil
}

// spacing is the progressive delay as a table of waits after each attempt:
// none after the first SlowAfter, then one second, doubling up to SlowMax.
func (l Limits) spacing() []time.Duration {
	waits := make([]time.Duration, l.SlowAfter)
	for d := min(time.Second, l.SlowMax); ; d = min(2*d, l.SlowMax) {
		waits = append(waits, d)
		if d == l.SlowMax {
			return waits
		}
	}
}

// refuseLocked refuses while key has reached MaxFailures, without counting
// an attempt: a locked password also locks the steps that follow it (LG-05).
func (t *Throttle) refuseLocked(ctx context.Context, key string) error {
	if t.limits.Disabled {
		return nil
	}
	n, ttl, err := t.failures.Failures(ctx, key)
	if err != nil {
		return errLimiterDown.Wrap(err)
	}
	if n >= t.limits.MaxFailures {
		return ErrTooManyAttempts.WithRetryAfter(ttl)
	}
	return nil
}

// succeeded clears failure counters after a proven credential.
func (t *Throttle) succeeded(ctx context.Context, keys ...string) error {
	if t.limits.Disabled {
		return nil
	}
	for _, k := range keys {
		if err := t.failures.Reset(ctx, k); err != nil {
			return errLimiterDown.Wrap(err)
		}
	}
	return nil
}
