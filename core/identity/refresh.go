package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
)

// RefreshInput presents a refresh token.
type RefreshInput struct {
	Token  string
	Client session.Client
	// ReceivedAt is when the transport received the request (zero: now). A
	// token rotated after that instant was rotated by a concurrent request,
	// not replayed, so the earlier the transport stamps it the fewer
	// parallel refreshes are mistaken for reuse.
	ReceivedAt time.Time
}

// maxRequestAge bounds how far back ReceivedAt is believed.
const maxRequestAge = 30 * time.Second

// Refresh rotates a refresh token (SE-04, SE-05, SE-11). Exactly one of any
// number of concurrent refreshes with one token from one client succeeds;
// the others fail without harming the family. Any token of the chain that
// had been rotated before the request began, or that another client is
// refreshing at the same time, is reuse: its whole session ends, the end
// commits even though the caller gets an error, and
// user.security_violation is emitted.
func (s *Sessions) Refresh(ctx context.Context, in RefreshInput) (Tokens, error) {
	in.Client = in.Client.Normalized()
	now := s.d.Clock.Now()
	started := now
	if r := in.ReceivedAt.UTC().Truncate(time.Microsecond); r.Before(now) && now.Sub(r) < maxRequestAge {
		started = r
	}
	if err := s.d.Throttle.take(ctx, "refresh:ip:"+ipBudgetKey(in.Client.IP), s.d.Throttle.limits.RefreshPerIP, time.Minute); err != nil {
		return Tokens{}, err
	}
	t, err := s.rotate(ctx, in, started)
	// Every answer, a new pair or a refusal, leaves no sooner than the
	// concurrent window after arrival: no client can hold the successor
	// and replay the parent inside it, and a refusal takes as long whether
	// or not it has just ended a stolen family (SE-11).
	if werr := s.waitUntil(ctx, started.Add(s.d.Issuer.policy().ConcurrentWindow)); werr != nil {
		return Tokens{}, werr
	}
	return t, err
}

// rotate is Refresh past the client's budget: rotate the token, or judge
// why it could not be rotated.
func (s *Sessions) rotate(ctx context.Context, in RefreshInput, started time.Time) (Tokens, error) {
	now := s.d.Clock.Now()
	if !session.WellFormed(in.Token) {
		return Tokens{}, session.ErrInvalidRefreshToken
	}
	rot, next := s.d.Issuer.rotation(in.Token, in.Client, started)
	sess, u, err := s.d.Sessions.Rotate(ctx, rot)
	if err == nil {
		a, err := s.d.Issuer.tokens(ctx, u, sess, next, now)
		if err != nil {
			return Tokens{}, fmt.Errorf("refresh: %w", err)
		}
		return a, nil
	}
	if !errors.Is(err, session.ErrNotRotated) {
		return Tokens{}, fmt.Errorf("refresh: %w", err)
	}
	sess, err = s.d.Sessions.ByRefreshHash(ctx, rot.Presented)
	if errors.Is(err, session.ErrNotFound) {
		return Tokens{}, session.ErrInvalidRefreshToken
	}
	if err != nil {
		return Tokens{}, fmt.Errorf("refresh: %w", err)
	}
	now = s.d.Clock.Now()
	switch session.Judge(sess, rot.Presented, in.Client, s.d.Issuer.policy(), started, now) {
	case session.Grace:
		successor := session.NextToken(in.Token, sess.RotationNonce)
		if session.Hash(successor) != sess.RefreshHash {
			return Tokens{}, session.ErrInvalidRefreshToken
		}
		u, err := s.d.Users.ByID(ctx, sess.UserID)
		if err != nil {
			return Tokens{}, fmt.Errorf("refresh: %w", err)
		}
		return s.d.Issuer.tokens(ctx, u, sess, successor, now)
	case session.Timeout:
		if err := s.d.Revoker.end(ctx, sess.UserID, []session.ID{sess.ID}, session.ReasonTimeout, now); err != nil {
			return Tokens{}, fmt.Errorf("refresh: %w", err)
		}
		return Tokens{}, session.ErrInvalidRefreshToken
	case session.Reuse:
		if err := s.d.Revoker.endReused(ctx, sess, in.Client, now); err != nil {
			return Tokens{}, fmt.Errorf("refresh: %w", err)
		}
		// Answered like any invalid token, so a thief does not learn that
		// the session it holds has just ended (SE-11).
		return Tokens{}, session.ErrInvalidRefreshToken
	case session.LostRace, session.Unknown:
		return Tokens{}, session.ErrInvalidRefreshToken
	}
	return Tokens{}, session.ErrInvalidRefreshToken
}

// waitUntil sleeps until the clock reaches t or ctx ends.
func (s *Sessions) waitUntil(ctx context.Context, t time.Time) error {
	d := t.Sub(s.d.Clock.Now())
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// Verify checks an access token for forward-auth and every authenticated
// request: signature and claims, then that its session has not ended. Any
// failure to decide, such as the revocation lookup failing, denies (LO-06).
func (s *Sessions) Verify(ctx context.Context, raw string) (token.Claims, error) {
	c, err := s.d.Verifier.Verify(ctx, raw)
	if err != nil {
		return token.Claims{}, err
	}
	revoked, err := s.d.Revoked.IsRevoked(ctx, session.ID(c.SessionID))
	if err != nil {
		return token.Claims{}, fmt.Errorf("verify: revocation lookup: %w", err)
	}
	if revoked {
		return token.Claims{}, session.ErrRevoked
	}
	return c, nil
}
