package identity_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/valkey"
	"github.com/usermgmt/usermgmt/adapters/valkey/valkeytest"
	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/identity"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/ports"
)

func withLimits(l identity.Limits) func(*config) {
	return func(c *config) { c.Limits = l }
}

func (e *env) login(t *testing.T, id, pw, ip string) error {
	t.Helper()
	_, err := e.svc.Login(t.Context(), identity.LoginInput{Identifier: id, Password: pw, Client: session.Client{IP: ip}})
	return err
}

func TestLogin_LockoutAfterConsecutiveFailures_LG02(t *testing.T) {
	e := newEnv(t, withLimits(identity.Limits{MaxFailures: 5, LoginPerAccountIP: 1000, LoginPerIP: 1000}))
	e.register(t, "ada@example.com", "ada")
	for i := range 4 {
		if err := e.login(t, "ada", "wrong password", "192.0.2.1"); !errors.Is(err, credential.ErrInvalidCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	if err := e.login(t, "ada", goodPassword, "192.0.2.1"); err != nil {
		t.Fatalf("a success before the limit: %v", err)
	}
	// The success reset the count: five more failures are needed.
	for i := range 5 {
		// email and username count against the same account
		id := []string{"ada", "ada@example.com"}[i%2]
		if err := e.login(t, id, "wrong password", "192.0.2.1"); !errors.Is(err, credential.ErrInvalidCredentials) {
			t.Fatalf("failure %d after reset: %v", i+1, err)
		}
	}
	err := e.login(t, "ada", goodPassword, "198.51.100.9")
	var de *errs.Error
	if !errors.Is(err, identity.ErrTooManyAttempts) || !errors.As(err, &de) || de.RetryAfter <= 0 {
		t.Fatalf("the right password after the limit, from another IP: %v, want throttled with a retry time", err)
	}
	if v := e.payload(t, event.TypeUserSecurityViolation); v["violationType"] != "brute_force" {
		t.Errorf("violation = %v", v)
	}
	e.clock.Advance(time.Hour + time.Second)
	if err := e.login(t, "ada", goodPassword, "192.0.2.1"); err != nil {
		t.Fatalf("after the failure window (no permanent lock): %v", err)
	}
}

func TestLogin_UnknownAccountThrottlesTheSame_LG01_LG02(t *testing.T) {
	e := newEnv(t, withLimits(identity.Limits{MaxFailures: 3, LoginPerAccountIP: 1000, LoginPerIP: 1000}))
	for range 3 {
		_ = e.login(t, "ghost@example.com", "whatever pw", "192.0.2.1")
	}
	if err := e.login(t, "ghost@example.com", "whatever pw", "192.0.2.1"); !errors.Is(err, identity.ErrTooManyAttempts) {
		t.Fatalf("unknown account after the limit: %v, want the same throttling as a known one", err)
	}
}

func TestLogin_BudgetsPerIPAndAccountIP_LG03(t *testing.T) {
	e := newEnv(t, withLimits(identity.Limits{LoginPerIP: 5, LoginPerAccountIP: 3, MaxFailures: 100}))
	e.register(t, "ada@example.com", "ada")
	for range 3 {
		_ = e.login(t, "ada", "wrong password", "192.0.2.1")
	}
	if err := e.login(t, "ada", goodPassword, "192.0.2.1"); !errors.Is(err, identity.ErrTooManyAttempts) {
		t.Fatalf("account+IP budget: %v", err)
	}
	if err := e.login(t, "ada", goodPassword, "192.0.2.2"); err != nil {
		t.Fatalf("the same account from another IP: %v", err)
	}
	for i := range 2 {
		_ = e.login(t, "someone-"+string(rune('a'+i)), "x password", "192.0.2.1")
	}
	if err := e.login(t, "other", "x password", "192.0.2.1"); !errors.Is(err, identity.ErrTooManyAttempts) {
		t.Fatalf("per-IP budget across accounts: %v", err)
	}
	e.clock.Advance(time.Minute)
	if err := e.login(t, "ada", goodPassword, "192.0.2.1"); err != nil {
		t.Fatalf("next window: %v", err)
	}
}

func TestLogin_ParallelGuessesSpendExactlyTheBudget_LG04(t *testing.T) {
	// No progressive delay before the limit: this measures the budget alone.
	e := newEnv(t, withLimits(identity.Limits{LoginPerIP: 1000, LoginPerAccountIP: 1000, MaxFailures: 20, SlowAfter: 20}))
	e.register(t, "ada@example.com", "ada")
	before := e.hasher.verifies.Load()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { _ = e.login(t, "ada", "wrong password", "192.0.2.1") })
	}
	wg.Wait()
	// Attempts are counted before the hash, atomically: exactly the budget
	// of 20 guesses reaches the password check, none after it is spent.
	if hashed := e.hasher.verifies.Load() - before; hashed != 20 {
		t.Fatalf("%d of 50 parallel guesses were checked, want exactly 20", hashed)
	}
	if err := e.login(t, "ada", goodPassword, "192.0.2.1"); !errors.Is(err, identity.ErrTooManyAttempts) {
		t.Fatalf("after the parallel guesses: %v", err)
	}
}

func TestChangePassword_CountsTowardLockout_LG05(t *testing.T) {
	e := newEnv(t, withLimits(identity.Limits{MaxFailures: 3, LoginPerIP: 1000, LoginPerAccountIP: 1000}))
	a := e.register(t, "ada@example.com", "ada")
	claims, err := e.svc.Verify(t.Context(), a.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_ = e.svc.ChangePassword(t.Context(), claims, "not it at all", "a brand new passphrase")
	}
	if err := e.svc.ChangePassword(t.Context(), claims, goodPassword, "a brand new passphrase"); !errors.Is(err, identity.ErrTooManyAttempts) {
		t.Fatalf("password change on a throttled account: %v", err)
	}
	if err := e.login(t, "ada", goodPassword, "192.0.2.1"); !errors.Is(err, identity.ErrTooManyAttempts) {
		t.Fatalf("login on an account throttled through password change: %v", err)
	}
}

// brokenLimits fails every call, like a rate-limit store that is down.
type brokenLimits struct{}

func (brokenLimits) Take(context.Context, string, int, time.Duration) (bool, time.Duration, error) {
	return false, 0, errors.New("connection refused")
}
func (brokenLimits) Failures(context.Context, string) (int, time.Duration, error) {
	return 0, 0, errors.New("connection refused")
}
func (brokenLimits) Attempt(context.Context, ports.Attempt) (int, time.Duration, error) {
	return 0, 0, errors.New("connection refused")
}
func (brokenLimits) Reset(context.Context, string) error { return errors.New("connection refused") }

func TestLogin_FailsClosedWhenTheLimiterIsDown_LO06(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada@example.com", "ada")
	svc := e.rebuild(t, brokenLimits{})
	_, err := svc.Login(t.Context(), identity.LoginInput{Identifier: "ada", Password: goodPassword})
	if errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("login with the limiter down: %v, want Unavailable (never an unthrottled login)", err)
	}
}

// TestLogin_ProgressiveDelay_LG02: past SlowAfter failures each attempt
// waits a delay that doubles up to SlowMax; an attempt inside it is refused
// unchecked with the time left, a burst of parallel guesses gets one
// attempt per delay, and a success resets the schedule.
func TestLogin_ProgressiveDelay_LG02(t *testing.T) {
	e := newEnv(t, withLimits(identity.Limits{LoginPerIP: 1000, LoginPerAccountIP: 1000, MaxFailures: 100,
		SlowAfter: 3, SlowMax: 8 * time.Second}))
	e.register(t, "ada@example.com", "ada")
	for i := range 3 {
		if err := e.login(t, "ada", "wrong password", "192.0.2.1"); !errors.Is(err, credential.ErrInvalidCredentials) {
			t.Fatalf("free failure %d: %v", i+1, err)
		}
	}
	for _, wantDelay := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		if err := e.login(t, "ada", "wrong password", "192.0.2.1"); !errors.Is(err, credential.ErrInvalidCredentials) {
			t.Fatalf("the first attempt of a delay window is checked: %v", err)
		}
		before := e.hasher.verifies.Load()
		err := e.login(t, "ada", goodPassword, "192.0.2.1")
		var de *errs.Error
		if !errors.Is(err, identity.ErrTooManyAttempts) || !errors.As(err, &de) || de.RetryAfter != wantDelay {
			t.Fatalf("inside the delay: %v (retry after %v), want throttled for %v", err, de, wantDelay)
		}
		if e.hasher.verifies.Load() != before {
			t.Fatal("an attempt inside the delay reached the password check")
		}
		e.clock.Advance(wantDelay)
	}
	var wg sync.WaitGroup
	before := e.hasher.verifies.Load()
	for range 20 {
		wg.Go(func() { _ = e.login(t, "ada", "wrong password", "192.0.2.1") })
	}
	wg.Wait()
	if n := e.hasher.verifies.Load() - before; n != 1 {
		t.Fatalf("%d of 20 parallel guesses were checked inside one delay, want 1", n)
	}
	e.clock.Advance(8 * time.Second)
	if err := e.login(t, "ada", goodPassword, "192.0.2.1"); err != nil {
		t.Fatalf("the right password after the delay: %v", err)
	}
	for i := range 3 {
		if err := e.login(t, "ada", "wrong password", "192.0.2.1"); !errors.Is(err, credential.ErrInvalidCredentials) {
			t.Fatalf("after the success the free failures are back: failure %d: %v", i+1, err)
		}
	}
}

// TestRefresh_BudgetPerIP_LG03_LG05: refreshes from one address are
// budgeted, valid or not, before any look-up; another address is not.
func TestRefresh_BudgetPerIP_LG03_LG05(t *testing.T) {
	e := newEnv(t, withLimits(identity.Limits{RefreshPerIP: 3}))
	a := e.register(t, "ada@example.com", "ada")
	from := func(ip, tok string) error {
		_, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: tok, Client: session.Client{IP: ip}})
		return err
	}
	for range 3 {
		if err := from("192.0.2.1", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, session.ErrInvalidRefreshToken) {
			t.Fatalf("a wrong token: %v", err)
		}
	}
	if err := from("192.0.2.1", a.RefreshToken); !errors.Is(err, identity.ErrTooManyAttempts) {
		t.Fatalf("the fourth refresh from one address: %v", err)
	}
	if err := from("192.0.2.2", a.RefreshToken); err != nil {
		t.Fatalf("another address: %v", err)
	}
}

// TestLogin_ParallelBurstGetsExactlyTheAllowedChecks_LG10: 150 guesses at
// once from ten addresses, the counts in process or in Valkey. Each attempt
// learns its own number with its increment, so however the requests
// interleave exactly the ten free failures and the one that opens the first
// delay reach the password check.
func TestLogin_ParallelBurstGetsExactlyTheAllowedChecks_LG10(t *testing.T) {
	for _, store := range []struct {
		name   string
		limits func(t *testing.T, e *env) limitPorts
	}{
		{"memory", func(_ *testing.T, e *env) limitPorts { return e.limits }},
		{"valkey", func(t *testing.T, _ *env) limitPorts { return valkey.NewLimits(valkeytest.Open(t)) }},
	} {
		t.Run(store.name, func(t *testing.T) {
			e := newEnv(t) // the defaults: 10 failures at full speed, then 1s, 2s, ...
			e.register(t, "ada@example.com", "ada")
			svc := e.rebuild(t, store.limits(t, e))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range 150 {
				in := identity.LoginInput{Identifier: "ada", Password: "wrong password",
					Client: session.Client{IP: fmt.Sprintf("192.0.2.%d", 1+i%10)}}
				wg.Go(func() {
					<-start
					_, _ = svc.Login(t.Context(), in)
				})
			}
			before, began := e.hasher.verifies.Load(), time.Now()
			close(start)
			wg.Wait()
			if took := time.Since(began); took >= time.Second {
				t.Fatalf("the burst took %v, longer than the first delay: too slow to measure it", took)
			}
			if n := e.hasher.verifies.Load() - before; n != 11 {
				t.Fatalf("%d of 150 parallel guesses were checked, want exactly 11", n)
			}
		})
	}
}

// TestLogin_DelayKeyedPerIdentifier_LG10: failures through an email slow
// that email only, not the username of the same account, so the delay
// cannot tell that the two belong together: a known pair answers exactly
// as an unknown one. (The hard cap still counts the account as a whole:
// TestLogin_LockoutAfterConsecutiveFailures_LG02.)
func TestLogin_DelayKeyedPerIdentifier_LG10(t *testing.T) {
	e := newEnv(t, withLimits(identity.Limits{LoginPerIP: 1000, LoginPerAccountIP: 1000, SlowAfter: 3, SlowMax: 8 * time.Second}))
	e.register(t, "ada@example.com", "ada")
	e.wantPairsAlike(t, 5, 2, "checked checked checked checked throttled 1s checked checked")
}

// TestLogin_AccountIPBudgetKeyedPerIdentifier_LG10: the per account and
// address budget spent through an email leaves the username's alone, or a
// known pair would again answer unlike an unknown one.
func TestLogin_AccountIPBudgetKeyedPerIdentifier_LG10(t *testing.T) {
	e := newEnv(t, withLimits(identity.Limits{LoginPerIP: 1000, LoginPerAccountIP: 3, SlowAfter: 100}))
	e.register(t, "ada@example.com", "ada")
	e.wantPairsAlike(t, 4, 1, "checked checked checked throttled 1m0s checked")
}

// wantPairsAlike sends failures through an email, then through a username,
// from one address, for the pair of the account the caller registered
// (ada@example.com, ada) and for an unknown pair, and wants both to
// answer want.
func (e *env) wantPairsAlike(t *testing.T, viaEmail, viaUsername int, want string) {
	t.Helper()
	answers := func(email, username string) string {
		var got []string
		for i := range viaEmail + viaUsername {
			id := email
			if i >= viaEmail {
				id = username
			}
			err := e.login(t, id, "wrong password", "192.0.2.1")
			var de *errs.Error
			switch {
			case errors.Is(err, credential.ErrInvalidCredentials):
				got = append(got, "checked")
			case errors.Is(err, identity.ErrTooManyAttempts) && errors.As(err, &de):
				got = append(got, "throttled "+de.RetryAfter.String())
			default:
				t.Fatalf("%s: %v", id, err)
			}
		}
		return strings.Join(got, " ")
	}
	if got := answers("ada@example.com", "ada"); got != want {
		t.Errorf("an account's email, then its username: %s, want %s", got, want)
	}
	if got := answers("ghost@example.com", "ghost"); got != want {
		t.Errorf("an unknown pair: %s, want %s (the same as a known one)", got, want)
	}
}

// TestIPBudget_IPv6KeyedBySlash64_IV08: one subscriber commonly holds a
// whole IPv6 /64, so every per-address budget counts a /64 as one client:
// distinct addresses in it share the budget, another /64 has its own, and
// an IPv4-mapped address is its IPv4 address.
func TestIPBudget_IPv6KeyedBySlash64_IV08(t *testing.T) {
	const wellFormed = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for _, b := range []struct {
		name  string
		limit int
		spend func(t *testing.T, e *env, ip string, i int) error
	}{
		{"login", 100, func(t *testing.T, e *env, ip string, i int) error {
			return e.login(t, fmt.Sprintf("ghost%d", i), "wrong password", ip)
		}},
		{"register", 100, func(t *testing.T, e *env, ip string, _ int) error {
			_, err := e.svc.Register(t.Context(), identity.RegisterInput{Client: session.Client{IP: ip}})
			return err
		}},
		{"mail", 20, func(t *testing.T, e *env, ip string, _ int) error {
			return e.svc.RequestPasswordReset(t.Context(), "nobody@example.com", session.Client{IP: ip})
		}},
		{"mfa", 100, func(t *testing.T, e *env, ip string, _ int) error {
			_, err := e.svc.LoginMFA(t.Context(), identity.LoginMFAInput{Token: wellFormed, Code: "123456", Client: session.Client{IP: ip}})
			return err
		}},
		{"refresh", 600, func(t *testing.T, e *env, ip string, _ int) error {
			_, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: wellFormed, Client: session.Client{IP: ip}})
			return err
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t)
			allowed := func(ip string, i int) bool { return !errors.Is(b.spend(t, e, ip, i), identity.ErrTooManyAttempts) }
			n := 0
			for i := range b.limit + 10 {
				if allowed(fmt.Sprintf("2001:db8:1:2:%x::1", i), i) {
					n++
				}
			}
			if n != b.limit {
				t.Errorf("%d of %d attempts from distinct addresses of one /64 allowed, want %d, as from one address", n, b.limit+10, b.limit)
			}
			if !allowed("2001:db8:1:3::1", -1) {
				t.Error("another /64 shares the budget")
			}
			for i := range b.limit {
				allowed("::ffff:198.51.100.7", i)
			}
			if allowed("198.51.100.7", b.limit) {
				t.Error("an IPv4 address has a budget apart from its IPv4-mapped form")
			}
		})
	}
}
