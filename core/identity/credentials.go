package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// CredentialsDeps are what Credentials drives.
type CredentialsDeps struct {
	Users       ports.Users
	Credentials ports.Credentials
	Hasher      ports.PasswordHasher
	Blocklist   ports.PasswordBlocklist
	Throttle    *Throttle
	Alerts      *Alerts
}

// Credentials keeps accounts' passwords: the policy a new one must pass,
// its hash, the proof of a presented one and the mark a recovery leaves.
// A password is checked only here, so every check counts toward the same
// lockout and costs the same argon2 work whether or not the account
// exists (LG-01, LG-02, LG-05).
type Credentials struct {
	d CredentialsDeps
}

// NewCredentials returns Credentials over d.
func NewCredentials(d CredentialsDeps) (*Credentials, error) {
	if d.Users == nil || d.Credentials == nil || d.Hasher == nil || d.Blocklist == nil || d.Throttle == nil || d.Alerts == nil {
		return nil, missing("NewCredentials")
	}
	return &Credentials{d: d}, nil
}

// find returns the user named by identifier and their password hash.
// Where there is none it returns an empty hash and no error, so the caller
// verifies against the dummy hash and fails the same way.
func (cr *Credentials) find(ctx context.Context, identifier string) (user.User, credential.PasswordHash, error) {
	find := cr.d.Users.ByUsername
	if strings.Contains(identifier, "@") {
		find = cr.d.Users.ByEmail
	}
	u, err := find(ctx, identifier)
	if errors.Is(err, user.ErrNotFound) {
		return user.User{}, "", nil
	}
	if err != nil {
		return user.User{}, "", err
	}
	h, err := cr.d.Credentials.PasswordHash(ctx, u.ID())
	if errors.Is(err, credential.ErrNoPassword) {
		return user.User{}, "", nil
	}
	if err != nil {
		return user.User{}, "", err
	}
	return u, h, nil
}

// prove checks the password of a signed-in u, counting toward the
// account's lockout like a sign-in (LG-05), and answers wrong when it does
// not match.
func (cr *Credentials) prove(ctx context.Context, u user.User, password string, wrong error) error {
	h, err := cr.d.Credentials.PasswordHash(ctx, u.ID())
	if err != nil && !errors.Is(err, credential.ErrNoPassword) {
		return fmt.Errorf("check password: %w", err)
	}
	_, _, err = cr.verify(ctx, u, "", password, h, session.Client{}, false)
	if errors.Is(err, credential.ErrInvalidCredentials) {
		err = wrong
	}
	if err != nil {
		cr.d.Alerts.failed(ctx, "user.reauthenticate", u.ID(), event.MethodPassword, err, session.Client{})
	}
	return err
}

// errUnconfirmed is a right password of an account that may not sign in
// before its address is confirmed: to the throttle it is a failure, like
// the wrong password it must look like (LG-09).
var errUnconfirmed = fmt.Errorf("%w (address not confirmed)", credential.ErrInvalidCredentials)

// verify counts an attempt at u through identifier (empty: u itself,
// signed in) before the hash (LG-02, LG-04, LG-10), then checks password
// against hash; an empty hash verifies against the dummy, so unknown
// accounts cost the same (LG-01). A mismatch reports the limit when it
// reaches it and is credential.ErrInvalidCredentials; a match resets the
// counts, unless the account must confirm its address first
// (unconfirmed): then the match counts as a failure and is errUnconfirmed,
// so neither the answer nor the throttle tells it from a wrong password.
// It returns the attempt's place in the account's run of failures and
// whether to rehash.
func (cr *Credentials) verify(ctx context.Context, u user.User, identifier, password string, hash credential.PasswordHash, c session.Client, unconfirmed bool) (attempt int, rehash bool, err error) {
	account := "login:" + accountKey(u, identifier)
	paced := account
	if identifier != "" {
		paced = "login:" + identifierKey(identifier)
	}
	if attempt, err = cr.d.Throttle.reserveAttempt(ctx, account, paced); err != nil {
		return 0, false, err
	}
	ok := false
	if len(password) <= credential.MaxPasswordBytes {
		if ok, rehash, err = cr.d.Hasher.Verify(ctx, password, hash); err != nil {
			return 0, false, fmt.Errorf("check password: %w", err)
		}
	}
	if !ok || hash == "" || unconfirmed {
		if err := cr.d.Alerts.reportLimit(ctx, u, attempt, c, "password"); err != nil {
			return 0, false, err
		}
		if ok && hash != "" {
			return attempt, false, errUnconfirmed
		}
		return attempt, false, credential.ErrInvalidCredentials
	}
	return attempt, rehash, cr.proven(ctx, u)
}

// proven clears u's password lockout and the delays of its email and
// username, whichever was typed.
func (cr *Credentials) proven(ctx context.Context, u user.User) error {
	return cr.d.Throttle.succeeded(ctx, "login:"+accountKey(u, ""), "login:"+identifierKey(u.Email()), "login:"+identifierKey(u.Username()))
}

// checkPolicy applies the password policy: shape, context words, blocklist.
func (cr *Credentials) checkPolicy(ctx context.Context, password, email, username string) error {
	if err := credential.CheckShape(password); err != nil {
		return err
	}
	if err := credential.CheckContext(password, credential.ContextWords(email, username)...); err != nil {
		return err
	}
	blocked, err := cr.d.Blocklist.Blocked(ctx, password)
	if err != nil {
		return fmt.Errorf("password blocklist: %w", err)
	}
	if blocked {
		return credential.ErrCommon
	}
	return nil
}

// newHash applies the password policy to a new password of u (field
// newPassword) and hashes it.
func (cr *Credentials) newHash(ctx context.Context, u user.User, password string) (credential.PasswordHash, error) {
	var v errs.Validation
	if err := v.CheckInvalid("newPassword", cr.checkPolicy(ctx, password, u.Email(), u.Username())); err != nil {
		return "", err
	}
	if err := v.Err(); err != nil {
		return "", err
	}
	hash, err := cr.d.Hasher.Hash(ctx, password)
	if err != nil {
		return "", fmt.Errorf("hash new password: %w", err)
	}
	return hash, nil
}

// hash hashes a password the caller has already held to the policy.
func (cr *Credentials) hash(ctx context.Context, password string) (credential.PasswordHash, error) {
	return cr.d.Hasher.Hash(ctx, password)
}

// store sets uid's password hash, in the caller's transaction.
func (cr *Credentials) store(ctx context.Context, uid user.ID, hash credential.PasswordHash, now time.Time) error {
	return cr.d.Credentials.SetPasswordHash(ctx, uid, hash, now)
}

// recovered is when uid's password was last reset through the mailbox
// and no sign-in has completed since (zero: not so).
func (cr *Credentials) recovered(ctx context.Context, uid user.ID) (time.Time, error) {
	return cr.d.Credentials.Recovered(ctx, uid)
}

// setRecovered marks uid's password as reset through the mailbox at at,
// or, with the zero time, as no longer so.
func (cr *Credentials) setRecovered(ctx context.Context, uid user.ID, at time.Time) error {
	return cr.d.Credentials.SetRecovered(ctx, uid, at)
}
