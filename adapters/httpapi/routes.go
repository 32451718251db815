package httpapi

import (
	"context"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/identity"
	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
)

// route is one endpoint: how it is served and how it is documented. The
// OpenAPI document is built from this table, so a route cannot be served
// without being documented. Access is part of the handler's type (AC-01):
// a route has either a public handler or an authed one, which only runs
// with the claims of a verified access token.
type route struct {
	method, path string
	summary, tag string
	body         any // request DTO, nil when the route takes no body
	bodyOptional bool
	status       int // success status
	resp         any // success body, nil for none
	altResp      any // another success body of the same status (documented as oneOf)
	rawResp      rawBody
	// fails are the error kinds the use case answers, beyond those every
	// route of its shape can (see errorStatuses): each is a documented
	// problem status.
	fails []errs.Kind
	// query is the DTO of the query parameters, nil when the route takes
	// none (any parameter is then refused).
	query  any
	public fiber.Handler
	authed func(*fiber.Ctx, token.Claims) error
	// An authed route declares who may call it (AC-01): the owner of the
	// account the token names (self-service), or a holder of perm. The
	// use case checks again; the declaration documents the route and
	// lets a test refuse a route that declares nothing.
	owner bool
	perm  role.Permission
}

// rawBody is a success body served as bytes from elsewhere: its media type
// (the handler sets the same) and what it is.
type rawBody struct{ mediaType, description string }

// Media types of the raw bodies.
const (
	mimeJWKSet = "application/jwk-set+json"
	mimeSchema = "application/schema+json"
)

func (a *API) routeTable() []route {
	return append(a.identityRoutes(), a.adminRoutes()...)
}

func (a *API) identityRoutes() []route {
	return []route{
		{method: fiber.MethodPost, path: "/v1/auth/register", summary: "Register an account with a password and sign in", tag: "auth",
			body: registerRequest{}, status: fiber.StatusCreated, resp: authResponse{}, fails: []errs.Kind{errs.Conflict, errs.RateLimited, errs.Unavailable}, public: a.registerAccount},
		{method: fiber.MethodPost, path: "/v1/auth/login", summary: "Sign in with email or username and password; an account with a second factor gets a challenge instead of tokens", tag: "auth",
			body: loginRequest{}, status: fiber.StatusOK, resp: authResponse{}, altResp: challengeResponse{}, fails: []errs.Kind{errs.Unauthenticated, errs.Forbidden, errs.RateLimited, errs.Unavailable}, public: a.login},
		{method: fiber.MethodPost, path: "/v1/auth/login/mfa", summary: "Answer a sign-in challenge with a TOTP, emailed, texted or backup code", tag: "auth",
			body: loginMFARequest{}, status: fiber.StatusOK, resp: authResponse{}, fails: []errs.Kind{errs.Unauthenticated, errs.Forbidden, errs.RateLimited, errs.Unavailable}, public: a.loginMFA},
		{method: fiber.MethodPost, path: "/v1/auth/login/mfa/send", summary: "Send a code for a sign-in challenge by email or SMS", tag: "auth",
			body: sendCodeRequest{}, status: fiber.StatusAccepted, resp: sentCodeResponse{}, fails: []errs.Kind{errs.Unauthenticated, errs.Precondition, errs.RateLimited, errs.Unavailable}, public: a.sendChallengeCode},
		{method: fiber.MethodPost, path: "/v1/auth/refresh", summary: "Rotate a refresh token for a new token pair", tag: "auth",
			body: refreshRequest{}, status: fiber.StatusOK, resp: tokenResponse{}, fails: []errs.Kind{errs.Unauthenticated, errs.Forbidden, errs.RateLimited, errs.Unavailable}, public: a.refresh},
		{method: fiber.MethodPost, path: "/v1/auth/logout", summary: "End the current session (and the one of the given refresh token)", tag: "auth",
			body: logoutRequest{}, bodyOptional: true, status: fiber.StatusNoContent, owner: true, authed: a.logout},
		{method: fiber.MethodPost, path: "/v1/auth/password/change", summary: "Change the password; other sessions end", tag: "auth",
			body: changePasswordRequest{}, status: fiber.StatusNoContent, fails: []errs.Kind{errs.Forbidden, errs.RateLimited, errs.Unavailable}, owner: true, authed: a.changePassword},
		{method: fiber.MethodPost, path: "/v1/auth/password/forgot", summary: "Mail a password-reset link; 202 for any address", tag: "auth",
			body: forgotPasswordRequest{}, status: fiber.StatusAccepted, resp: acceptedResponse{}, fails: []errs.Kind{errs.RateLimited, errs.Unavailable}, public: a.forgotPassword},
		{method: fiber.MethodPost, path: "/v1/auth/password/reset", summary: "Set a new password with a reset token; every session ends", tag: "auth",
			body: resetPasswordRequest{}, status: fiber.StatusNoContent, fails: []errs.Kind{errs.Unavailable}, public: a.resetPassword},
		{method: fiber.MethodPost, path: "/v1/auth/email/verify", summary: "Confirm the email address with the token from the mailed link", tag: "auth",
			body: verifyEmailRequest{}, status: fiber.StatusNoContent, public: a.verifyEmail},
		{method: fiber.MethodPost, path: "/v1/auth/email/resend", summary: "Mail a new verification link; 202 for any address", tag: "auth",
			body: forgotPasswordRequest{}, status: fiber.StatusAccepted, resp: acceptedResponse{}, fails: []errs.Kind{errs.RateLimited, errs.Unavailable}, public: a.resendVerification},
		{method: fiber.MethodGet, path: "/v1/auth/verify", summary: "Forward-auth: check an access token; X-User-Id, X-User-Roles and X-User-Aal on success", tag: "auth",
			status: fiber.StatusOK, resp: verifyResponse{}, owner: true, authed: a.verify},
		{method: fiber.MethodGet, path: "/v1/users/me", summary: "The caller's account", tag: "users",
			status: fiber.StatusOK, resp: userResponse{}, fails: []errs.Kind{errs.Forbidden}, owner: true, authed: a.me},
		{method: fiber.MethodPatch, path: "/v1/users/me", summary: "Update the caller's profile and preferences", tag: "users",
			body: updateMeRequest{}, status: fiber.StatusOK, resp: userResponse{}, fails: []errs.Kind{errs.Forbidden}, owner: true, authed: a.updateMe},
		{method: fiber.MethodGet, path: "/v1/users/me/sessions", summary: "The caller's live sessions, newest first", tag: "users",
			status: fiber.StatusOK, resp: sessionsResponse{}, fails: []errs.Kind{errs.Forbidden}, owner: true, authed: a.mySessions},
		{method: fiber.MethodDelete, path: "/v1/users/me/sessions", summary: "End every session of the caller but the current one", tag: "users",
			status: fiber.StatusOK, resp: endedResponse{}, fails: []errs.Kind{errs.Forbidden}, owner: true, authed: a.endOtherSessions},
		{method: fiber.MethodDelete, path: "/v1/users/me/sessions/:id", summary: "End one of the caller's sessions", tag: "users",
			status: fiber.StatusNoContent, fails: []errs.Kind{errs.Forbidden}, owner: true, authed: a.endMySession},
		{method: fiber.MethodGet, path: "/v1/users/me/mfa", summary: "The caller's second factors and remaining backup codes", tag: "mfa",
			status: fiber.StatusOK, resp: mfaStatusResponse{}, fails: []errs.Kind{errs.Forbidden}, owner: true, authed: a.myMFA},
		{method: fiber.MethodPost, path: "/v1/users/me/mfa/totp", summary: "Start enrolling an authenticator app (password, and a current factor's code when MFA is on)", tag: "mfa",
			body: reauthRequest{}, status: fiber.StatusOK, resp: totpSetupResponse{}, fails: []errs.Kind{errs.Forbidden, errs.Conflict, errs.Precondition, errs.RateLimited, errs.Unavailable}, owner: true, authed: a.beginTOTP},
		{method: fiber.MethodPost, path: "/v1/users/me/mfa/email", summary: "Start enrolling the verified email address: a code is mailed", tag: "mfa",
			body: reauthRequest{}, status: fiber.StatusAccepted, resp: sentCodeResponse{}, fails: []errs.Kind{errs.Forbidden, errs.Conflict, errs.Precondition, errs.RateLimited, errs.Unavailable}, owner: true, authed: a.beginEmailFactor},
		{method: fiber.MethodPost, path: "/v1/users/me/mfa/sms", summary: "Start enrolling a phone number: a code is texted", tag: "mfa",
			body: smsFactorRequest{}, status: fiber.StatusAccepted, resp: sentCodeResponse{}, fails: []errs.Kind{errs.Forbidden, errs.Conflict, errs.Precondition, errs.RateLimited, errs.Unavailable}, owner: true, authed: a.beginSMSFactor},
		{method: fiber.MethodPost, path: "/v1/users/me/mfa/:method/confirm", summary: "Enable a factor with a code from it; other sessions end", tag: "mfa",
			body: confirmFactorRequest{}, status: fiber.StatusOK, resp: enabledResponse{}, fails: []errs.Kind{errs.Forbidden, errs.Conflict, errs.RateLimited, errs.Unavailable}, owner: true, authed: a.confirmFactor},
		{method: fiber.MethodPost, path: "/v1/users/me/mfa/:method/disable", summary: "Remove a factor (password and a current factor's code); other sessions end", tag: "mfa",
			body: reauthRequest{}, status: fiber.StatusNoContent, fails: []errs.Kind{errs.Forbidden, errs.Precondition, errs.RateLimited, errs.Unavailable}, owner: true, authed: a.disableFactor},
		{method: fiber.MethodPost, path: "/v1/users/me/mfa/backup-codes", summary: "Replace the backup codes (password and a current factor's code)", tag: "mfa",
			body: reauthRequest{}, status: fiber.StatusOK, resp: backupCodesResponse{}, fails: []errs.Kind{errs.Forbidden, errs.Precondition, errs.RateLimited, errs.Unavailable}, owner: true, authed: a.regenerateBackupCodes},
		{method: fiber.MethodPost, path: "/v1/users/me/mfa/reauth-code", summary: "Send a code by an email or SMS factor, to re-authenticate a factor change", tag: "mfa",
			body: reauthCodeRequest{}, status: fiber.StatusAccepted, resp: sentCodeResponse{}, fails: []errs.Kind{errs.Forbidden, errs.Precondition, errs.RateLimited, errs.Unavailable}, owner: true, authed: a.requestReauthCode},
		{method: fiber.MethodDelete, path: "/v1/admin/users/:id/sessions", summary: "Administrators: end every session of a user (logoutType forced)", tag: "admin",
			status: fiber.StatusOK, resp: endedResponse{}, fails: []errs.Kind{errs.Forbidden}, perm: role.SessionsRevoke, authed: a.endUserSessions},
		{method: fiber.MethodPost, path: "/v1/admin/users/:id/mfa/reset", summary: "Administrators: remove every second factor of a user who lost them; their sessions end", tag: "admin",
			status: fiber.StatusNoContent, fails: []errs.Kind{errs.Forbidden}, perm: role.UsersWrite, authed: a.resetUserMFA},
		{method: fiber.MethodDelete, path: "/v1/admin/sessions", summary: "Administrators: end every session of every user (logoutType forced)", tag: "admin",
			status: fiber.StatusOK, resp: endedResponse{}, fails: []errs.Kind{errs.Forbidden}, perm: role.KeysRotate, authed: a.endAllSessions},
		{method: fiber.MethodGet, path: "/healthz", summary: "Liveness", tag: "operations",
			status: fiber.StatusOK, resp: healthResponse{}, public: a.healthz},
		{method: fiber.MethodGet, path: "/readyz", summary: "Readiness: dependencies reachable", tag: "operations",
			status: fiber.StatusOK, resp: healthResponse{}, fails: []errs.Kind{errs.Unavailable}, public: a.readyz},
		{method: fiber.MethodGet, path: "/.well-known/jwks.json", summary: "Public keys that verify access tokens (RFC 7517)", tag: "operations",
			status: fiber.StatusOK, rawResp: rawBody{mimeJWKSet, "JWK Set"}, public: a.jwks},
		{method: fiber.MethodGet, path: "/schemas/events/:name", summary: "JSON Schema of an event type (the dataschema of published events)", tag: "operations",
			status: fiber.StatusOK, rawResp: rawBody{mimeSchema, "JSON Schema"}, public: a.eventSchema},
		{method: fiber.MethodGet, path: "/openapi.json", summary: "This document (OpenAPI 3.1)", tag: "operations",
			status: fiber.StatusOK, rawResp: rawBody{fiber.MIMEApplicationJSON, "OpenAPI document"}, public: a.openAPI},
	}
}

func (a *API) client(c *fiber.Ctx) session.Client {
	return session.Client{IP: a.clientIP(c), UserAgent: c.Get(fiber.HeaderUserAgent)}
}

func (a *API) registerAccount(c *fiber.Ctx) error {
	var in registerRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	var display string
	if in.DisplayName != nil {
		display = *in.DisplayName
	}
	res, err := a.uc.Accounts.Register(c.UserContext(), identity.RegisterInput{Email: in.Email, Username: in.Username,
		Password: in.Password, DisplayName: display, Client: a.client(c)})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(toAuthResponse(res))
}

func (a *API) login(c *fiber.Ctx) error {
	var in loginRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	res, err := a.uc.SignIn.Login(c.UserContext(), identity.LoginInput{Identifier: in.Identifier, Password: in.Password, Client: a.client(c)})
	if err != nil {
		return err
	}
	if res.Challenge != nil {
		return c.JSON(toChallengeResponse(res.Challenge))
	}
	return c.JSON(toAuthResponse(res))
}

func (a *API) refresh(c *fiber.Ctx) error {
	var in refreshRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	t, err := a.uc.Sessions.Refresh(c.UserContext(), identity.RefreshInput{Token: in.RefreshToken, Client: a.client(c),
		ReceivedAt: c.Context().Time()}) // stamped when the request was read: see session.Policy.ConcurrentWindow
	if err != nil {
		return err
	}
	return c.JSON(toTokenResponse(t))
}

func (a *API) logout(c *fiber.Ctx, p token.Claims) error {
	var in logoutRequest
	if err := a.dec.decode(c, &in, true); err != nil {
		return err
	}
	if err := a.uc.Sessions.Logout(c.UserContext(), p, in.RefreshToken); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *API) changePassword(c *fiber.Ctx, p token.Claims) error {
	var in changePasswordRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	if err := a.uc.Passwords.ChangePassword(c.UserContext(), p, in.CurrentPassword, in.NewPassword); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// verify is forward-auth. A token reaches it only if its session lives, and
// an account's sessions without a second factor end when it gains one, so
// the assurance reported here is the account's rule applied (SE-13).
func (a *API) verify(c *fiber.Ctx, p token.Claims) error {
	aal, amr := mfa.AAL(p.AMR), p.AMR
	if amr == nil {
		amr = []string{}
	}
	c.Set("X-User-Id", p.Subject)
	c.Set("X-User-Roles", strings.Join(p.Roles, ","))
	c.Set("X-Session-Id", p.SessionID)
	c.Set("X-User-Aal", aal)
	return c.JSON(verifyResponse{Sub: p.Subject, Sid: p.SessionID, Roles: p.Roles, Org: p.Org, Exp: p.ExpiresAt.Unix(), AMR: amr, AAL: aal})
}

func (a *API) me(c *fiber.Ctx, p token.Claims) error {
	u, err := a.uc.Accounts.Me(c.UserContext(), p)
	if err != nil {
		return err
	}
	return c.JSON(toUserResponse(u))
}

func (a *API) updateMe(c *fiber.Ctx, p token.Claims) error {
	var in updateMeRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	u, err := a.uc.Accounts.UpdateMe(c.UserContext(), p, user.ProfileUpdate{DisplayName: in.DisplayName,
		AvatarURL: in.AvatarURL, Locale: in.Locale, TimeZone: in.TimeZone, Preferences: in.Preferences})
	if err != nil {
		return err
	}
	return c.JSON(toUserResponse(u))
}

func (a *API) mySessions(c *fiber.Ctx, p token.Claims) error {
	list, err := a.uc.Sessions.MySessions(c.UserContext(), p)
	if err != nil {
		return err
	}
	out := sessionsResponse{Items: make([]sessionResponse, len(list))}
	for i, s := range list {
		out.Items[i] = sessionResponse{ID: string(s.ID), IPAddress: s.Client.IP, UserAgent: s.Client.UserAgent,
			CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, ExpiresAt: s.ExpiresAt, Current: s.Current}
	}
	return c.JSON(out)
}

func (a *API) endMySession(c *fiber.Ctx, p token.Claims) error {
	id := c.Params("id")
	if id == "" || len(id) > 64 {
		return session.ErrNotFound
	}
	if err := a.uc.Sessions.EndMySession(c.UserContext(), p, session.ID(id)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *API) endOtherSessions(c *fiber.Ctx, p token.Claims) error {
	n, err := a.uc.Sessions.EndOtherSessions(c.UserContext(), p)
	if err != nil {
		return err
	}
	return c.JSON(endedResponse{Ended: n})
}

func (a *API) endUserSessions(c *fiber.Ctx, p token.Claims) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	n, err := a.uc.Admin.Users.EndSessions(c.UserContext(), p, id)
	if err != nil {
		return err
	}
	return c.JSON(endedResponse{Ended: n})
}

func (a *API) resetUserMFA(c *fiber.Ctx, p token.Claims) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	if err := a.uc.MFA.ResetUserMFA(c.UserContext(), p, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *API) endAllSessions(c *fiber.Ctx, p token.Claims) error {
	n, err := a.uc.Sessions.EndAllSessions(c.UserContext(), p)
	if err != nil {
		return err
	}
	return c.JSON(endedResponse{Ended: n})
}

func (a *API) verifyEmail(c *fiber.Ctx) error {
	var in verifyEmailRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	if err := a.uc.Accounts.VerifyEmail(c.UserContext(), in.Token); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *API) resendVerification(c *fiber.Ctx) error {
	return a.mailedLink(c, a.uc.Accounts.ResendVerification)
}

func (a *API) forgotPassword(c *fiber.Ctx) error {
	return a.mailedLink(c, a.uc.Passwords.RequestPasswordReset)
}

// mailedLink answers 202, the same for every address: the use case spends
// the client's budget and does the work after the answer (LG-01).
func (a *API) mailedLink(c *fiber.Ctx, request func(context.Context, string, session.Client) error) error {
	var in forgotPasswordRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	if err := request(c.UserContext(), in.Email, a.client(c)); err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(acceptedResponse{Status: "accepted"})
}

func (a *API) resetPassword(c *fiber.Ctx) error {
	var in resetPasswordRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	if err := a.uc.Passwords.ResetPassword(c.UserContext(), in.Token, in.NewPassword); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *API) healthz(c *fiber.Ctx) error {
	return c.JSON(healthResponse{Status: "ok"})
}

func (a *API) readyz(c *fiber.Ctx) error {
	if a.opt.Ready != nil {
		if err := a.opt.Ready(c.UserContext()); err != nil {
			a.opt.Logger.WarnContext(c.UserContext(), "not ready", "err", err)
			return errNotReady
		}
	}
	return c.JSON(healthResponse{Status: "ok"})
}

func (a *API) jwks(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, mimeJWKSet)
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.Send(a.opt.JWKS())
}

func (a *API) eventSchema(c *fiber.Ctx) error {
	name, ok := strings.CutSuffix(c.Params("name"), ".json")
	if !ok || a.opt.EventSchema == nil {
		return errNotFound
	}
	doc, ok := a.opt.EventSchema(name)
	if !ok {
		return errNotFound
	}
	c.Set(fiber.HeaderContentType, mimeSchema)
	c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	return c.Send(doc)
}

func (a *API) openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(a.openapi)
}

// withClaims authenticates the bearer token of the request and passes its
// claims to h: an ended session's token fails here at once (SE-03).
func (a *API) withClaims(h func(*fiber.Ctx, token.Claims) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		raw, ok := bearerToken(c.Get(fiber.HeaderAuthorization))
		if !ok {
			return errUnauthenticated
		}
		p, err := a.uc.Sessions.Verify(c.UserContext(), raw)
		if err != nil {
			return err
		}
		if c.Method() != fiber.MethodGet {
			c.SetUserContext(audit.WithActor(c.UserContext(), audit.Actor{Kind: audit.ActorUser, ID: p.Subject}))
		}
		return h(c, p)
	}
}

func bearerToken(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	t := strings.TrimSpace(h[len(prefix):])
	return t, t != "" && len(t) <= 4096
}

// checkAccess refuses a route whose access is not declared exactly once:
// public, or authed for the owner or for a permission (AC-01).
func (rt route) checkAccess() error {
	switch {
	case (rt.public == nil) == (rt.authed == nil):
		return fmt.Errorf("%s %s must have exactly one of a public or an authed handler", rt.method, rt.path)
	case rt.public != nil && (rt.owner || rt.perm != ""):
		return fmt.Errorf("%s %s is public: it cannot declare an owner or a permission", rt.method, rt.path)
	case rt.authed != nil && rt.owner == (rt.perm != ""):
		return fmt.Errorf("%s %s must declare exactly one of owner or a permission", rt.method, rt.path)
	case rt.perm != "" && !role.Known(rt.perm):
		return fmt.Errorf("%s %s declares the unknown permission %q", rt.method, rt.path, rt.perm)
	}
	return nil
}
