package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// target is one running server with the users the bench drives it with:
// one chain per worker (an account, an access token presented again and
// again, and a refresh token rotated by that worker only).
type target struct {
	srv    *server
	c      *client
	acc    *accounts
	chains []*chain
	regSeq atomic.Int64 // accounts made by the register route

	mu      sync.Mutex
	harvest []string // access tokens from refreshes, never presented yet
}

type chain struct {
	acct    account
	access  string
	refresh string
}

func newTarget(srv *server, acc *accounts, maxWorkers int) *target {
	return &target{srv: srv, c: newClient(srv.base, maxWorkers), acc: acc}
}

// setup registers n accounts, one per worker. It runs one registration
// per core and retries a 503: the server sheds sign-ins beyond its hashing
// slots by design, and setup is not what is measured.
func (t *target) setup(ctx context.Context, n int) error {
	t.chains = make([]*chain, n)
	s, err := t.drive(ctx, load{workers: min(n, cores()), count: n, want: http.StatusCreated}, func(ctx context.Context, _, seq int) (int, error) {
		a := t.acc.make("w", int64(seq))
		for range 50 {
			tok, st, err := t.c.register(ctx, a)
			if err != nil || st != http.StatusServiceUnavailable {
				if err == nil && st == http.StatusCreated {
					t.chains[seq] = &chain{acct: a, access: tok.AccessToken, refresh: tok.RefreshToken}
				}
				return st, err
			}
			time.Sleep(100 * time.Millisecond)
		}
		return http.StatusServiceUnavailable, nil
	})
	if err != nil {
		return err
	}
	if s.ops != n {
		return fmt.Errorf("setup on %s: registered %d of %d accounts (errors %s)\n%s", t.srv.name, s.ops, n, s.errorSummary(), t.srv.logTail(10))
	}
	return nil
}

// drive runs fn against the server, metering the server's CPU and, to
// show what the load generator takes from the shared cores, its own.
func (t *target) drive(ctx context.Context, l load, fn op) (sample, error) {
	gen0, err := selfCPU()
	if err != nil {
		return sample{}, err
	}
	s, err := drive(ctx, l, t.srv.cpu, fn)
	if err != nil {
		return sample{}, err
	}
	gen1, err := selfCPU()
	s.genCPU = gen1 - gen0
	return s, err
}

func (t *target) chainOf(w int) *chain { return t.chains[w%len(t.chains)] }

// The route operations. Each worker w uses chain w (modulo the chains).

func (t *target) register(ctx context.Context, _, _ int) (int, error) {
	_, st, err := t.c.register(ctx, t.acc.make("r", t.regSeq.Add(1)))
	return st, err
}

func (t *target) login(ctx context.Context, w, _ int) (int, error) {
	_, st, err := t.c.login(ctx, t.chainOf(w).acct)
	return st, err
}

// refresh rotates worker w's chain and keeps the new access token, unseen,
// for the first-seen verify run. Only worker w touches chain w, so a chain
// never sees two refreshes at once (which reuse detection would punish).
func (t *target) refresh(ctx context.Context, w, _ int) (int, error) {
	ch := t.chains[w]
	tok, st, err := t.c.refresh(ctx, ch.refresh)
	if err != nil || st != http.StatusOK {
		// The chain may be broken; sign in again so the next op has one.
		if re, st2, err2 := t.c.login(ctx, ch.acct); err2 == nil && st2 == http.StatusOK {
			ch.refresh = re.RefreshToken
		}
		return st, err
	}
	ch.refresh = tok.RefreshToken
	t.mu.Lock()
	t.harvest = append(t.harvest, tok.AccessToken)
	t.mu.Unlock()
	return st, nil
}

// verifyReused presents worker w's one access token every time: after the
// first, the server's verified-token cache answers.
func (t *target) verifyReused(ctx context.Context, w, _ int) (int, error) {
	return t.c.verify(ctx, t.chainOf(w).access)
}

// verifyFresh presents each token of toks once (op seq gets toks[seq]).
func (t *target) verifyFresh(toks []string) op {
	return func(ctx context.Context, _, seq int) (int, error) {
		return t.c.verify(ctx, toks[seq])
	}
}

func (t *target) healthz(ctx context.Context, _, _ int) (int, error) {
	return t.c.healthz(ctx)
}

// takeFresh removes n unseen access tokens from the harvest, topping it up
// by refreshing for at most limit when it holds fewer. It may return fewer
// than n when the server refreshes slowly.
func (t *target) takeFresh(ctx context.Context, n, workers int, limit time.Duration) ([]string, error) {
	t.mu.Lock()
	missing := n - len(t.harvest)
	t.mu.Unlock()
	if missing > 0 {
		if _, err := t.drive(ctx, load{workers: workers, count: missing, dur: limit, want: http.StatusOK}, t.refresh); err != nil {
			return nil, err
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n = min(n, len(t.harvest))
	toks := t.harvest[:n:n]
	t.harvest = t.harvest[n:]
	return toks, nil
}
