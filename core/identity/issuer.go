package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// IssuerConfig holds the token and session settings.
type IssuerConfig struct {
	Issuer    string
	Audience  string
	AccessTTL time.Duration
	// Sessions is the policy every session is opened, renewed and ended
	// under; the Sessions use cases read it from the Issuer, so one policy
	// holds for all.
	Sessions session.Policy
}

// Issuer opens sessions and signs the access tokens that stand for them.
// Every sign-in path goes through it, so no path can open a session under
// another policy or sign a token with other claims.
type Issuer struct {
	signer ports.TokenSigner
	ids    ports.IDs
	cfg    IssuerConfig
}

// NewIssuer validates the token and session settings and returns an Issuer.
func NewIssuer(signer ports.TokenSigner, ids ports.IDs, cfg IssuerConfig) (*Issuer, error) {
	if signer == nil || ids == nil {
		return nil, missing("NewIssuer")
	}
	switch {
	case cfg.Issuer == "" || cfg.Audience == "":
		return nil, errors.New("identity.NewIssuer: issuer and audience are required")
	case cfg.AccessTTL <= 0 || cfg.AccessTTL > 15*time.Minute:
		return nil, errors.New("identity.NewIssuer: access-token lifetime must be in (0, 15m] (SE-03)")
	case cfg.Sessions.AbsoluteLifetime <= 0 || cfg.Sessions.IdleTimeout <= 0:
		return nil, errors.New("identity.NewIssuer: session lifetime and idle timeout must be positive (SE-06)")
	case cfg.Sessions.ReuseGrace < 0 || cfg.Sessions.ConcurrentWindow < 0:
		return nil, errors.New("identity.NewIssuer: refresh reuse grace and concurrent window must not be negative")
	case cfg.Sessions.ConcurrentWindow > time.Second:
		return nil, errors.New("identity.NewIssuer: the concurrent refresh window must be at most 1s: every refresh waits for it")
	}
	return &Issuer{signer: signer, ids: ids, cfg: cfg}, nil
}

// policy is the session policy of every session the Issuer opens.
func (i *Issuer) policy() session.Policy { return i.cfg.Sessions }

// open starts a session of uid (not yet stored) and returns its refresh token.
func (i *Issuer) open(uid user.ID, c session.Client, amr []string, now time.Time) (session.Session, string) {
	return session.New(session.ID(i.ids.NewID()), uid, i.ids.NewSecret(32), c, amr, i.cfg.Sessions, now)
}

// rotation plans the rotation of the presented refresh token and returns
// its successor.
func (i *Issuer) rotation(presented string, c session.Client, started time.Time) (session.Rotation, string) {
	return session.PlanRotation(presented, i.ids.NewSecret(32), c, i.cfg.Sessions, started)
}

// tokens issues an access token for a session of u whose refresh token
// is refresh, after checking u may still sign in, and at the session's AAL:
// a session without a second factor cannot refresh into an account that
// has one (MF-08).
func (i *Issuer) tokens(ctx context.Context, u user.User, sess session.Session, refresh string, now time.Time) (Tokens, error) {
	if !u.CanSignIn() {
		return Tokens{}, session.ErrInvalidRefreshToken
	}
	if err := mfa.StepUp(u.MFAEnabled(), sess.AMR); err != nil {
		return Tokens{}, err
	}
	a, err := i.auth(ctx, u, sess, refresh, now)
	return a.Tokens, err
}

// auth signs u in to sess: an access token for it, with refresh.
func (i *Issuer) auth(ctx context.Context, u user.User, sess session.Session, refresh string, now time.Time) (Auth, error) {
	access, err := i.signer.Sign(ctx, token.Claims{
		ID: i.ids.NewID(), Issuer: i.cfg.Issuer, Audience: i.cfg.Audience, Subject: string(u.ID()),
		SessionID: string(sess.ID), Roles: u.Roles(), AMR: sess.AMR,
		IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(i.cfg.AccessTTL),
	})
	if err != nil {
		return Auth{}, fmt.Errorf("sign access token: %w", err)
	}
	return Auth{User: u, Tokens: Tokens{AccessToken: access, RefreshToken: refresh, ExpiresIn: i.cfg.AccessTTL, SessionID: sess.ID}}, nil
}
