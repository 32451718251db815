package identity_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/identity"
	"github.com/usermgmt/usermgmt/core/session"
)

// The owner registers from ownerClient (see env.register); a thief replays
// a copied refresh token from thiefClient.
var (
	ownerClient = session.Client{IP: "192.0.2.1", UserAgent: "test"}
	thiefClient = session.Client{IP: "203.0.113.66", UserAgent: "curl/8.11"}
)

// stolenChain registers the owner, then lets the thief rotate the owner's
// first refresh token n times, a second apart. It returns every pair of the
// chain, the owner's first.
func stolenChain(t *testing.T, e *env, n int) []identity.Tokens {
	t.Helper()
	chain := []identity.Tokens{e.register(t, "ada@example.com", "ada").Tokens}
	for range n {
		e.clock.Advance(time.Second)
		next, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: chain[len(chain)-1].RefreshToken, Client: thiefClient})
		if err != nil {
			t.Fatalf("thief's refresh %d: %v", len(chain), err)
		}
		chain = append(chain, next)
	}
	return chain
}

// wantReuseEnded checks that the session of chain ended for reuse: its live
// refresh token and its access tokens fail, and one user.security_violation
// and one user.logout (forced) were emitted.
func wantReuseEnded(t *testing.T, e *env, chain []identity.Tokens) {
	t.Helper()
	live := chain[len(chain)-1]
	if _, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: live.RefreshToken, Client: thiefClient}); !errors.Is(err, session.ErrInvalidRefreshToken) {
		t.Errorf("the live token of the reused session: %v, want ErrInvalidRefreshToken", err)
	}
	for i, p := range chain {
		if _, err := e.svc.Verify(t.Context(), p.AccessToken); !errors.Is(err, session.ErrRevoked) {
			t.Errorf("access token %d of the reused session: %v, want ErrRevoked", i, err)
		}
	}
	got := e.events(t)
	if n := countOf(got, event.TypeUserSecurityViolation); n != 1 {
		t.Fatalf("%d security violations in %v, want 1", n, got)
	}
	v := e.payload(t, event.TypeUserSecurityViolation)
	details, _ := v["details"].(map[string]any)
	if v["violationType"] != "refresh_token_reuse" || details["sessionId"] != string(live.SessionID) {
		t.Errorf("violation payload = %v", v)
	}
	if l := e.payload(t, event.TypeUserLogout); l["logoutType"] != "forced" || l["sessionId"] != string(live.SessionID) {
		t.Errorf("logout payload = %v", l)
	}
}

func countOf(types []string, typ string) int {
	n := 0
	for _, x := range types {
		if x == typ {
			n++
		}
	}
	return n
}

func TestRefresh_ReuseOfAnyGeneration_SE11(t *testing.T) {
	const rotations = 3
	for gen := range rotations {
		t.Run(fmt.Sprintf("generation %d", gen), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			chain := stolenChain(t, e, rotations)
			e.clock.Advance(time.Second)
			_, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: chain[gen].RefreshToken, Client: ownerClient})
			if !errors.Is(err, session.ErrInvalidRefreshToken) {
				t.Fatalf("replay of generation %d: %v, want ErrInvalidRefreshToken", gen, err)
			}
			wantReuseEnded(t, e, chain)
			// The session has ended: another stale token of it is merely
			// invalid, and reports nothing twice.
			e.clock.Advance(time.Second)
			if _, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: chain[0].RefreshToken}); !errors.Is(err, session.ErrInvalidRefreshToken) {
				t.Fatalf("stale token of an ended session: %v", err)
			}
			if n := countOf(e.events(t), event.TypeUserSecurityViolation); n != 1 {
				t.Errorf("%d security violations, want 1", n)
			}
		})
	}
}

func TestRefresh_ParallelLoserFromOtherClient_SE11(t *testing.T) {
	const window = 10 * time.Millisecond
	for _, tt := range []struct {
		name      string
		loser     session.Client
		after     time.Duration // loser's arrival after the winner's
		wantEnded bool
	}{
		{"same client inside the window loses the race", ownerClient, window / 2, false},
		{"other address inside the window is reuse", session.Client{IP: "198.51.100.4", UserAgent: ownerClient.UserAgent}, window / 2, true},
		{"other browser inside the window is reuse", session.Client{IP: ownerClient.IP, UserAgent: "other/1.0"}, window / 2, true},
		{"other client arriving with the winner is reuse", thiefClient, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *config) { c.Sessions.ConcurrentWindow = window })
			a := e.register(t, "ada@example.com", "ada")
			e.clock.Advance(time.Second)
			rotatedAt := e.clock.Now()
			b, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: a.RefreshToken, Client: ownerClient, ReceivedAt: rotatedAt})
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.svc.Refresh(t.Context(), identity.RefreshInput{Token: a.RefreshToken, Client: tt.loser, ReceivedAt: rotatedAt.Add(tt.after)})
			if !errors.Is(err, session.ErrInvalidRefreshToken) {
				t.Fatalf("loser: %v, want ErrInvalidRefreshToken", err)
			}
			if !tt.wantEnded {
				if _, err := e.svc.Verify(t.Context(), b.AccessToken); err != nil {
					t.Fatalf("a parallel loser from the same client ended the session: %v", err)
				}
				if slices.Contains(e.events(t), event.TypeUserSecurityViolation) {
					t.Fatal("a parallel loser from the same client was reported")
				}
				return
			}
			wantReuseEnded(t, e, []identity.Tokens{a.Tokens, b})
		})
	}
}

func TestRefresh_ReuseAnswersLikeUnknown_SE11(t *testing.T) {
	e := newEnv(t)
	chain := stolenChain(t, e, 1)
	e.clock.Advance(time.Second)
	_, unknown := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Client: ownerClient})
	_, reuse := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: chain[0].RefreshToken, Client: ownerClient})
	_, ended := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: chain[1].RefreshToken, Client: thiefClient})
	var want *errs.Error
	if !errors.As(unknown, &want) {
		t.Fatalf("unknown token: %v, want a domain error", unknown)
	}
	for name, err := range map[string]error{"reuse": reuse, "the thief's token after reuse": ended} {
		var got *errs.Error
		if !errors.As(err, &got) || got.Kind != want.Kind || got.Code != want.Code || got.Msg != want.Msg || err.Error() != unknown.Error() {
			t.Errorf("%s answers %v, want exactly what an unknown token gets: %v", name, err, unknown)
		}
	}
	// Answering alike must not cost the detection.
	wantReuseEnded(t, e, chain)
}

// TestRefresh_GraceOnlyForTheWinnersClient_SE11: the opt-in grace gives
// the successor again to the client that won the rotation (another tab),
// never to a copy of the parent elsewhere: that is theft.
func TestRefresh_GraceOnlyForTheWinnersClient_SE11(t *testing.T) {
	e := newEnv(t, func(c *config) { c.Sessions.ReuseGrace = 10 * time.Second })
	a := e.register(t, "ada@example.com", "ada")
	e.clock.Advance(time.Second)
	b, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: a.RefreshToken, Client: ownerClient})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(200 * time.Millisecond)
	if _, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: a.RefreshToken, Client: thiefClient}); !errors.Is(err, session.ErrInvalidRefreshToken) {
		t.Fatalf("a thief's replay inside the grace: %v", err)
	}
	if _, err := e.svc.Verify(t.Context(), b.AccessToken); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("the session outlived a replay from another client: %v", err)
	}
}

// TestRefresh_RefusalsTakeTheWindow_SE11: a refusal leaves no sooner than
// the concurrent window, like a success, so the time of an answer does not
// tell a thief whether it ended a family or met an unknown token.
func TestRefresh_RefusalsTakeTheWindow_SE11(t *testing.T) {
	const window = 30 * time.Millisecond
	e := newEnv(t, func(c *config) { c.Sessions.ConcurrentWindow = window })
	for _, tok := range []string{"not-even-well-formed", strings.Repeat("A", 43)} {
		start := time.Now()
		if _, err := e.svc.Refresh(t.Context(), identity.RefreshInput{Token: tok}); !errors.Is(err, session.ErrInvalidRefreshToken) {
			t.Fatalf("refresh %q: %v", tok, err)
		}
		// A lower bound on when the answer leaves, not a speed assertion.
		if waited := time.Since(start); waited < window {
			t.Fatalf("refused after %v, before the %v window", waited, window)
		}
	}
}
