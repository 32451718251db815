package usermgmt

import (
	"context"
	"errors"
	"time"

	"github.com/usermgmt/usermgmt/adapters/crypto"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/identity"
	"github.com/usermgmt/usermgmt/core/mfa"
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
	AvatarURL     string // "" when unset, as are Locale and TimeZone
	Locale        string // a BCP 47 tag in its canonical case
	TimeZone      string // an IANA name
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
	// AMR lists how the session authenticated (RFC 8176); AAL is "aal2"
	// when that includes a second factor, else "aal1".
	AMR       []string
	AAL       string
	ExpiresAt time.Time
	claims    token.Claims
}

// Client describes the device of a request, for sessions and events.
type Client struct{ IP, UserAgent string }

func fromUser(u user.User) User {
	return User{ID: string(u.ID()), Email: u.Email(), Username: u.Username(), DisplayName: u.DisplayName(),
		Role: u.Role(), Roles: u.Roles(), Status: u.Status().String(), EmailVerified: u.EmailVerified(),
		MFAEnabled: u.MFAEnabled(), Preferences: u.Preferences(), AvatarURL: u.AvatarURL(), Locale: u.Locale(),
		TimeZone: u.TimeZone(), CreatedAt: u.CreatedAt(), UpdatedAt: u.UpdatedAt()}
}

func fromTokens(t identity.Tokens) Tokens {
	return Tokens{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, ExpiresIn: t.ExpiresIn, SessionID: string(t.SessionID)}
}

// Register creates an account with a password and signs it in.
func (s *Service) Register(ctx context.Context, email, username, password, displayName string, c Client) (User, Tokens, error) {
	a, err := s.id.Accounts.Register(ctx, identity.RegisterInput{Email: email, Username: username, Password: password,
		DisplayName: displayName, Client: session.Client(c)})
	if err != nil {
		return User{}, Tokens{}, err
	}
	return fromUser(a.User), fromTokens(a.Tokens), nil
}

// Login signs in with an email or username and a password. For an account
// with a second factor it returns an *MFARequired error (see AsMFARequired).
func (s *Service) Login(ctx context.Context, identifier, password string, c Client) (User, Tokens, error) {
	return signIn(s.id.SignIn.Login(ctx, identity.LoginInput{Identifier: identifier, Password: password, Client: session.Client(c)}))
}

// Refresh rotates a refresh token.
func (s *Service) Refresh(ctx context.Context, refreshToken string, c Client) (Tokens, error) {
	t, err := s.id.Sessions.Refresh(ctx, identity.RefreshInput{Token: refreshToken, Client: session.Client(c)})
	if err != nil {
		return Tokens{}, err
	}
	return fromTokens(t), nil
}

// Verify checks an access token, including that its session has not ended.
func (s *Service) Verify(ctx context.Context, accessToken string) (Principal, error) {
	c, err := s.id.Sessions.Verify(ctx, accessToken)
	if err != nil {
		return Principal{}, err
	}
	return Principal{UserID: c.Subject, SessionID: c.SessionID, Roles: c.Roles, Org: c.Org, AMR: c.AMR, AAL: mfa.AAL(c.AMR),
		ExpiresAt: c.ExpiresAt, claims: c}, nil
}

// Logout ends the principal's session (and the one of refreshToken, if given and theirs).
func (s *Service) Logout(ctx context.Context, p Principal, refreshToken string) error {
	return s.id.Sessions.Logout(ctx, p.claims, refreshToken)
}

// Me returns the principal's account.
func (s *Service) Me(ctx context.Context, p Principal) (User, error) {
	u, err := s.id.Accounts.Me(ctx, p.claims)
	if err != nil {
		return User{}, err
	}
	return fromUser(u), nil
}

// ProfileUpdate changes a profile; nil fields stay as they are, an empty
// AvatarURL, Locale or TimeZone clears it, and a nil preference value
// removes that key.
type ProfileUpdate struct {
	DisplayName *string
	AvatarURL   *string // an absolute https URL
	Locale      *string // a BCP 47 tag, stored in its canonical case
	TimeZone    *string // an IANA name, such as Europe/Paris
	Preferences map[string]any
}

// UpdateMe changes the principal's profile.
func (s *Service) UpdateMe(ctx context.Context, p Principal, upd ProfileUpdate) (User, error) {
	u, err := s.id.Accounts.UpdateMe(ctx, p.claims, user.ProfileUpdate{DisplayName: upd.DisplayName,
		AvatarURL: upd.AvatarURL, Locale: upd.Locale, TimeZone: upd.TimeZone, Preferences: upd.Preferences})
	if err != nil {
		return User{}, err
	}
	return fromUser(u), nil
}

// ChangePassword changes the principal's password; their other sessions end.
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next string) error {
	return s.id.Passwords.ChangePassword(ctx, p.claims, current, next)
}

// RequestPasswordReset asks for a reset link for the account with email.
// It answers the same, at once, whether or not there is one: it spends the
// client's budget of mailed-link requests, and the mail goes out in the
// background (Close waits for it).
func (s *Service) RequestPasswordReset(ctx context.Context, email string, c Client) error {
	return s.id.Passwords.RequestPasswordReset(ctx, email, session.Client(c))
}

// ResetPassword sets a new password with the token from a reset link;
// every session of the account ends.
func (s *Service) ResetPassword(ctx context.Context, token, newPassword string) error {
	return s.id.Passwords.ResetPassword(ctx, token, newPassword)
}

// VerifyEmail confirms an address with the token from a verification link.
func (s *Service) VerifyEmail(ctx context.Context, token string) error {
	return s.id.Accounts.VerifyEmail(ctx, token)
}

// ResendVerification asks for a new verification link for the address;
// like RequestPasswordReset it answers the same, at once, either way.
func (s *Service) ResendVerification(ctx context.Context, email string, c Client) error {
	return s.id.Accounts.ResendVerification(ctx, email, session.Client(c))
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
func IsRateLimited(err error) bool     { return errs.KindOf(err) == errs.RateLimited }

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

// MFARequired is the error Login returns for an account with a second
// factor: the password was right, and the sign-in continues with LoginMFA
// and the challenge's Token. A host that does not handle it sees a failed
// sign-in (IsUnauthenticated), never a session.
type MFARequired struct {
	Token     string
	Methods   []string // "totp", "sms", "email", "backup"
	ExpiresIn time.Duration
}

func (e *MFARequired) Error() string { return errMFARequired.Error() }

// Unwrap makes the error unauthenticated for the predicates.
func (e *MFARequired) Unwrap() error { return errMFARequired }

var errMFARequired = errs.New(errs.Unauthenticated, "auth.second_factor_required", "a second factor is required to finish signing in")

// AsMFARequired returns the challenge of an error from Login.
func AsMFARequired(err error) (*MFARequired, bool) {
	var m *MFARequired
	ok := errors.As(err, &m)
	return m, ok
}

func signIn(a identity.Auth, err error) (User, Tokens, error) {
	if err != nil {
		return User{}, Tokens{}, err
	}
	if c := a.Challenge; c != nil {
		ms := make([]string, len(c.Methods))
		for i, m := range c.Methods {
			ms[i] = m.String()
		}
		return User{}, Tokens{}, &MFARequired{Token: c.Token, Methods: ms, ExpiresIn: c.ExpiresIn}
	}
	return fromUser(a.User), fromTokens(a.Tokens), nil
}

// LoginMFA finishes a sign-in with a TOTP, emailed, texted or backup code.
func (s *Service) LoginMFA(ctx context.Context, mfaToken, code string, c Client) (User, Tokens, error) {
	return signIn(s.id.Challenges.LoginMFA(ctx, identity.LoginMFAInput{Token: mfaToken, Code: code, Client: session.Client(c)}))
}

// SendMFACode sends a code for a pending sign-in by "email" or "sms".
func (s *Service) SendMFACode(ctx context.Context, mfaToken, method string) error {
	m, err := mfa.ParseMethod(method)
	if err != nil {
		return err
	}
	_, err = s.id.Challenges.SendChallengeCode(ctx, mfaToken, m)
	return err
}

// TOTPSetup is a started authenticator enrollment; the secret is shown once.
type TOTPSetup struct {
	Secret, OtpauthURL string
	ExpiresAt          time.Time
}

// BeginTOTP starts enrolling an authenticator app for the principal: the
// password and, when the account has MFA, a current factor's code.
func (s *Service) BeginTOTP(ctx context.Context, p Principal, password, code string) (TOTPSetup, error) {
	t, err := s.id.MFA.BeginTOTP(ctx, p.claims, identity.Reauth{Password: password, Code: code})
	if err != nil {
		return TOTPSetup{}, err
	}
	return TOTPSetup{Secret: t.Secret, OtpauthURL: t.URI, ExpiresAt: t.ExpiresAt}, nil
}

// ConfirmMFA enables a pending factor ("totp", "email", "sms") with a code
// from it. It returns the new backup codes (when a set was made) and the
// tokens of a new session at AAL2 that replaces the principal's, which
// has ended: tokens issued before the factor existed stop working.
func (s *Service) ConfirmMFA(ctx context.Context, p Principal, method, code string) (backupCodes []string, tokens Tokens, err error) {
	m, err := mfa.ParseMethod(method)
	if err != nil {
		return nil, Tokens{}, err
	}
	en, err := s.id.MFA.ConfirmFactor(ctx, p.claims, m, code)
	if err != nil {
		return nil, Tokens{}, err
	}
	return en.BackupCodes, fromTokens(en.Tokens), nil
}

// DisableMFA removes a factor after the password and a current factor's code.
func (s *Service) DisableMFA(ctx context.Context, p Principal, method, password, code string) error {
	m, err := mfa.ParseMethod(method)
	if err != nil {
		return err
	}
	return s.id.MFA.DisableFactor(ctx, p.claims, m, identity.Reauth{Password: password, Code: code})
}

// ResetUserMFA is an administrator removing every second factor of a user
// who lost them; the user's sessions end and the user is told by mail.
func (s *Service) ResetUserMFA(ctx context.Context, admin Principal, userID string) error {
	return s.id.MFA.ResetUserMFA(ctx, admin.claims, user.ID(userID))
}

// EndUserSessions is an administrator ending every session of a user.
func (s *Service) EndUserSessions(ctx context.Context, admin Principal, userID string) (int, error) {
	return s.id.Admin.Users.EndSessions(ctx, admin.claims, user.ID(userID))
}

// TOTPCode returns the code an authenticator app would show at t for a
// secret from BeginTOTP (or POST /v1/users/me/mfa/totp): for tests of
// programs that embed usermgmt.
func TOTPCode(secret string, at time.Time) (string, error) { return crypto.NewOTP().CodeAt(secret, at) }
