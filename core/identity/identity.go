// Package identity holds the account and token use cases: registration,
// sign-in with a password and a second factor, refresh-token rotation,
// logout, access-token verification for forward-auth, sessions, the
// caller's own profile, password change and reset, email verification,
// second factors and the first administrator. Every state change commits
// together with the events it causes, in one transaction (Ledger).
//
// The use cases come in groups, each a type built by its constructor from
// an XxxDeps struct that names only the ports and shared parts its flows
// drive, so what a flow can touch is visible where it is built:
//
//	Accounts    registration, email verification, the first administrator, the profile
//	Passwords   password change, and reset through a mailed link
//	SignIn      password sign-in
//	Challenges  the second step of a sign-in to an account with MFA
//	Sessions    refresh, logout, forward-auth, listing and ending sessions, forced logout
//	MFA         enrolment, removal, backup codes, an administrator's factor reset
//
// Rules that several groups must apply alike live in shared parts, each a
// type with its own constructor and the ports it needs:
//
//	Ledger           a change and its events in one transaction
//	Issuer           sessions under the session policy, and signed access tokens
//	Throttle         the budgets, lockout and delays that bound guessing
//	Mail             mailed one-time links, and security notices
//	Alerts           notices a new sign-in calls for; reports of guessing and replay
//	Credentials      passwords: policy, hashing, proof under the throttle, storage
//	Revoker          ending sessions, with their events and the revocation lookups
//	SecondFactors    factors, enrolments, codes and backup codes
//	Reauthenticator  the fresh proof a factor change needs
//
// A new capability gets a type of its own, composed from these parts,
// rather than more methods on one of the groups.
package identity

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// Tokens are what a successful sign-in or refresh returns.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
	SessionID    session.ID
}

// Auth is a signed-in user and their tokens, or, for an account with a
// second factor, the Challenge that stands before them (and no user).
type Auth struct {
	User user.User
	Tokens
	Challenge *Challenge
}

// missing is the error of a constructor called without a dependency.
func missing(constructor string) error {
	return errors.New("identity." + constructor + ": missing dependency")
}

// orDiscard is l, or a logger that drops everything when there is none.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// ErrStepUpRequired refuses a session without a second factor on an
// account that has one (MF-08); see mfa.StepUp.
var ErrStepUpRequired = mfa.ErrStepUpRequired

// stepUp loads the caller's account and refuses a session below the AAL
// the account needs (MF-08).
func stepUp(ctx context.Context, users ports.Users, uid user.ID, amr []string) (user.User, error) {
	u, err := users.ByID(ctx, uid)
	if err != nil {
		return user.User{}, err
	}
	if err := mfa.StepUp(u.MFAEnabled(), amr); err != nil {
		return user.User{}, err
	}
	return u, nil
}

// Gate decides administrative calls: nil when the caller of p holds every
// one of perms now and, when target is another account, outranks it
// (core/admin's Authorizer).
type Gate interface {
	Permit(ctx context.Context, p token.Claims, target user.ID, perms ...role.Permission) error
	// Audit records an administrative action no event records itself.
	Audit(ctx context.Context, p token.Claims, action, target string, details map[string]string) error
}
