package usermgmt

import (
	"context"
	"errors"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/identity"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
)

// User is an account as the facade shows it.
type User struct {
	ID            string
	Email         string
	Username      string
	DisplayName   string
	Role          string
	Roles         []string
	Status        string
	EmailVerified bool
	MFAEnabled    bool
	Preferences   map[string]any
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Tokens are an access token, the refresh token that renews it, and the session they belong to.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
	SessionID    string
}

// Principal is who an access token speaks for.
type Principal struct {
	UserID    string
	SessionID string
	Roles     []string
	Org       string
	ExpiresAt time.Time
	claims    token.Claims
}

// Client describes the device of a request, for sessions and events.
type Client struct{ IP, UserAgent string }

func fromUser(u user.User) User {
	return User{ID: string(u.ID()), Email: u.Email(), Username: u.Username(), DisplayName: u.DisplayName(),
		Role: u.Role(), Roles: u.Roles(), Status: u.Status().String(), EmailVerified: u.EmailVerified(),
		MFAEnabled: u.MFAEnabled(), Preferences: u.Preferences(), CreatedAt: u.CreatedAt(), UpdatedAt: u.UpdatedAt()}
}

func fromTokens(t identity.Tokens) Tokens {
	return Tokens{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, ExpiresIn: t.ExpiresIn, SessionID: string(t.SessionID)}
}

// Register creates an account with a password and signs it in.
func (s *Service) Register(ctx context.Context, email, username, password, displayName string, c Client) (User, Tokens, error) {
	a, err := s.id.Register(ctx, identity.RegisterInput{Email: email, Username: username, Password: password,
		DisplayName: displayName, Client: session.Client(c)})
	if err != nil {
		return User{}, Tokens{}, err
	}
	return fromUser(a.User), fromTokens(a.Tokens), nil
}

// Login signs in with an email or username and a password.
func (s *Service) Login(ctx context.Context, identifier, password string, c Client) (User, Tokens, error) {
	a, err := s.id.Login(ctx, identity.LoginInput{Identifier: identifier, Password: password, Client: session.Client(c)})
	if err != nil {
		return User{}, Tokens{}, err
	}
	return fromUser(a.User), fromTokens(a.Tokens), nil
}

// Refresh rotates a refresh token.
func (s *Service) Refresh(ctx context.Context, refreshToken string, c Client) (Tokens, error) {
	t, err := s.id.Refresh(ctx, identity.RefreshInput{Token: refreshToken, Client: session.Client(c)})
	if err != nil {
		return Tokens{}, err
	}
	return fromTokens(t), nil
}

// Verify checks an access token, including that its session has not ended.
func (s *Service) Verify(ctx context.Context, accessToken string) (Principal, error) {
	c, err := s.id.Verify(ctx, accessToken)
	if err != nil {
		return Principal{}, err
	}
	return Principal{UserID: c.Subject, SessionID: c.SessionID, Roles: c.Roles, Org: c.Org, ExpiresAt: c.ExpiresAt, claims: c}, nil
}

// Logout ends the principal's session (and the one of refreshToken, if given and theirs).
func (s *Service) Logout(ctx context.Context, p Principal, refreshToken string) error {
	return s.id.Logout(ctx, p.claims, refreshToken)
}

// Me returns the principal's account.
func (s *Service) Me(ctx context.Context, p Principal) (User, error) {
	u, err := s.id.Me(ctx, p.claims)
	if err != nil {
		return User{}, err
	}
	return fromUser(u), nil
}

// ProfileUpdate changes a profile; nil fields stay as they are, and a nil
// preference value removes that key.
type ProfileUpdate struct {
	DisplayName *string
	Preferences map[string]any
}

// UpdateMe changes the principal's profile.
func (s *Service) UpdateMe(ctx context.Context, p Principal, upd ProfileUpdate) (User, error) {
	u, err := s.id.UpdateMe(ctx, p.claims, user.ProfileUpdate{DisplayName: upd.DisplayName, Preferences: upd.Preferences})
	if err != nil {
		return User{}, err
	}
	return fromUser(u), nil
}

// ChangePassword changes the principal's password; their other sessions end.
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next string) error {
	return s.id.ChangePassword(ctx, p.claims, current, next)
}

// RequestPasswordReset mails a reset link to the account with email, if
// there is one; it answers the same either way.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) error {
	return s.id.RequestPasswordReset(ctx, email)
}

// ResetPassword sets a new password with the token from a reset link;
// every session of the account ends.
func (s *Service) ResetPassword(ctx context.Context, token, newPassword string) error {
	return s.id.ResetPassword(ctx, token, newPassword)
}

// VerifyEmail confirms an address with the token from a verification link.
func (s *Service) VerifyEmail(ctx context.Context, token string) error {
	return s.id.VerifyEmail(ctx, token)
}

// ResendVerification mails a new verification link, if the address has an
// unverified account; it answers the same either way.
func (s *Service) ResendVerification(ctx context.Context, email string) error {
	return s.id.ResendVerification(ctx, email)
}

// JWKS returns the JSON Web Key Set that verifies access tokens.
func (s *Service) JWKS() []byte { return s.ring.JWKS() }

// Error predicates, so hosts never import core/errs.
func IsInvalid(err error) bool         { return errs.KindOf(err) == errs.Invalid }
func IsNotFound(err error) bool        { return errs.KindOf(err) == errs.NotFound }
func IsConflict(err error) bool        { return errs.KindOf(err) == errs.Conflict }
func IsUnauthenticated(err error) bool { return errs.KindOf(err) == errs.Unauthenticated }
func IsForbidden(err error) bool       { return errs.KindOf(err) == errs.Forbidden }
func IsUnavailable(err error) bool     { return errs.KindOf(err) == errs.Unavailable }

// FieldErrors returns the invalid fields named by err, field to message.
func FieldErrors(err error) map[string]string {
	out := map[string]string{}
	var e *errs.Error
	if errors.As(err, &e) {
		for _, f := range e.Fields {
			out[f.Field] = f.Message
		}
	}
	return out
}
