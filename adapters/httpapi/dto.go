package httpapi

import (
	"time"

	"github.com/usermgmt/usermgmt/core/identity"
	"github.com/usermgmt/usermgmt/core/user"
)

// Request bodies. Each is strict: unknown fields are rejected, so a client
// cannot set what the endpoint does not offer (AC-03). Bounds here are the
// transport's; the domain applies its own rules after.
type registerRequest struct {
	Email       string  `json:"email" validate:"required,max=254"`
	Username    string  `json:"username" validate:"required,max=32"`
	Password    string  `json:"password" validate:"required,max=1024" text:"secret"`
	DisplayName *string `json:"displayName,omitempty" validate:"omitempty,max=400"`
}

type loginRequest struct {
	Identifier string `json:"identifier" validate:"required,max=254"`
	Password   string `json:"password" validate:"required,max=1024" text:"secret"`
}

type refreshRequest struct {
	RefreshToken string `json:"refreshToken" validate:"required,max=128"`
}

type forgotPasswordRequest struct {
	Email string `json:"email" validate:"required,max=254"`
}

type verifyEmailRequest struct {
	Token string `json:"token" validate:"required,max=128"`
}

type resetPasswordRequest struct {
	Token       string `json:"token" validate:"required,max=128"`
	NewPassword string `json:"newPassword" validate:"required,max=1024" text:"secret"`
}

type acceptedResponse struct {
	Status string `json:"status"`
}

type logoutRequest struct {
	RefreshToken string `json:"refreshToken,omitempty" validate:"max=128"`
}

type changePasswordRequest struct {
	CurrentPassword string `json:"currentPassword" validate:"required,max=1024" text:"secret"`
	NewPassword     string `json:"newPassword" validate:"required,max=1024" text:"secret"`
}

// updateMeRequest is the owner's profile change: an absent field stays as
// it is, an empty avatarUrl, locale or timeZone clears it.
type updateMeRequest struct {
	DisplayName *string        `json:"displayName,omitempty" validate:"omitempty,max=400"`
	AvatarURL   *string        `json:"avatarUrl,omitempty" validate:"omitempty,max=2048"`
	Locale      *string        `json:"locale,omitempty" validate:"omitempty,max=64"`
	TimeZone    *string        `json:"timeZone,omitempty" validate:"omitempty,max=64"`
	Preferences map[string]any `json:"preferences,omitempty"`
}

// Response bodies.

// userResponse is an account as the owner and administrators see it; the
// optional profile fields are absent while unset.
type userResponse struct {
	ID            string         `json:"id"`
	Email         string         `json:"email"`
	Username      string         `json:"username"`
	DisplayName   string         `json:"displayName"`
	Role          string         `json:"role"`
	Roles         []string       `json:"roles"`
	Status        string         `json:"status"`
	EmailVerified bool           `json:"emailVerified"`
	MFAEnabled    bool           `json:"mfaEnabled"`
	Preferences   map[string]any `json:"preferences"`
	AvatarURL     string         `json:"avatarUrl,omitempty"`
	Locale        string         `json:"locale,omitempty"`
	TimeZone      string         `json:"timeZone,omitempty"`
	CreatedAt     time.Time      `json:"createdAt"`
	UpdatedAt     time.Time      `json:"updatedAt"`
}

// tokenResponse is empty (and its fields absent) when no session was
// opened: a registration that waits for email verification.
type tokenResponse struct {
	AccessToken  string `json:"accessToken,omitempty"`
	RefreshToken string `json:"refreshToken,omitempty"`
	TokenType    string `json:"tokenType,omitempty"`
	ExpiresIn    int    `json:"expiresIn,omitempty"`
}

type authResponse struct {
	User userResponse `json:"user"`
	tokenResponse
}

type verifyResponse struct {
	Sub   string   `json:"sub"`
	Sid   string   `json:"sid"`
	Roles []string `json:"roles"`
	Org   string   `json:"org"`
	Exp   int64    `json:"exp"`
	AMR   []string `json:"amr"`
	AAL   string   `json:"aal"`
}

type sessionResponse struct {
	ID         string    `json:"id"`
	IPAddress  string    `json:"ipAddress"`
	UserAgent  string    `json:"userAgent"`
	CreatedAt  time.Time `json:"createdAt"`
	LastSeenAt time.Time `json:"lastSeenAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
	Current    bool      `json:"current"`
}

type sessionsResponse struct {
	Items []sessionResponse `json:"items"`
}

type endedResponse struct {
	Ended int `json:"ended"`
}

type healthResponse struct {
	Status string `json:"status"`
}

func toUserResponse(u user.User) userResponse {
	return userResponse{ID: string(u.ID()), Email: u.Email(), Username: u.Username(), DisplayName: u.DisplayName(),
		Role: u.Role(), Roles: u.Roles(), Status: u.Status().String(), EmailVerified: u.EmailVerified(),
		MFAEnabled: u.MFAEnabled(), Preferences: u.Preferences(), AvatarURL: u.AvatarURL(), Locale: u.Locale(),
		TimeZone: u.TimeZone(), CreatedAt: u.CreatedAt(), UpdatedAt: u.UpdatedAt()}
}

func toTokenResponse(t identity.Tokens) tokenResponse {
	if t.AccessToken == "" {
		return tokenResponse{}
	}
	return tokenResponse{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: "Bearer", ExpiresIn: int(t.ExpiresIn.Seconds())}
}

func toAuthResponse(a identity.Auth) authResponse {
	return authResponse{User: toUserResponse(a.User), tokenResponse: toTokenResponse(a.Tokens)}
}
