package httpapi

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/identity"
	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/token"
)

// MFA request bodies. A code is a six-digit code or a backup code
// ("abcd-efgh-..."): 64 characters is room for either with spaces.
type loginMFARequest struct {
	MFAToken string `json:"mfaToken" validate:"required,max=128"`
	Code     string `json:"code" validate:"required,max=64"`
	Method   string `json:"method,omitempty" validate:"max=16"`
}

type sendCodeRequest struct {
	MFAToken string `json:"mfaToken" validate:"required,max=128"`
	Method   string `json:"method" validate:"required,max=16"`
}

// reauthRequest is the fresh proof of a factor change (MF-05): the
// password and, on an account with MFA, a code of a current factor.
type reauthRequest struct {
	Password string `json:"password" validate:"required,max=1024" text:"secret"`
	Code     string `json:"code,omitempty" validate:"max=64"`
}

type smsFactorRequest struct {
	reauthRequest
	Phone string `json:"phone" validate:"required,max=32"`
}

type confirmFactorRequest struct {
	Code string `json:"code" validate:"required,max=64"`
}

type reauthCodeRequest struct {
	Method string `json:"method" validate:"required,max=16"`
}

// MFA responses.
type challengeResponse struct {
	MFARequired bool     `json:"mfaRequired"`
	MFAToken    string   `json:"mfaToken"`
	Methods     []string `json:"methods"`
	ExpiresIn   int      `json:"expiresIn"`
}

type totpSetupResponse struct {
	Secret     string    `json:"secret"`
	OtpauthURL string    `json:"otpauthUrl"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

type sentCodeResponse struct {
	Method    string `json:"method"`
	SentTo    string `json:"sentTo"`
	ExpiresIn int    `json:"expiresIn"`
}

type enabledResponse struct {
	Method      string   `json:"method"`
	BackupCodes []string `json:"backupCodes,omitempty"`
	// The tokens of the session that replaces the confirming one, which
	// has ended: it proved the factor.
	tokenResponse
}

type backupCodesResponse struct {
	BackupCodes []string `json:"backupCodes"`
}

type factorResponse struct {
	Method    string    `json:"method"`
	Phone     string    `json:"phone,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

type mfaStatusResponse struct {
	Enabled              bool             `json:"enabled"`
	Factors              []factorResponse `json:"factors"`
	BackupCodesRemaining int              `json:"backupCodesRemaining"`
	Available            []string         `json:"available"`
}

func methodNames(ms []mfa.Method) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.String()
	}
	return out
}

func toChallengeResponse(c *identity.Challenge) challengeResponse {
	return challengeResponse{MFARequired: true, MFAToken: c.Token, Methods: methodNames(c.Methods), ExpiresIn: int(c.ExpiresIn.Seconds())}
}

func toSentCodeResponse(s identity.SentCode, now time.Time) sentCodeResponse {
	return sentCodeResponse{Method: s.Method.String(), SentTo: s.SentTo, ExpiresIn: max(0, int(s.ExpiresAt.Sub(now).Seconds()))}
}

func (a *API) reauth(c *fiber.Ctx, in reauthRequest) identity.Reauth {
	return identity.Reauth{Password: in.Password, Code: in.Code, Client: a.client(c)}
}

// factorParam is the :method of a factor route; anything else is not found.
// methodField parses the method field of a body with the domain's one
// list of names; which methods a route takes is the use case's rule.
func methodField(s string) (mfa.Method, error) {
	m, err := mfa.ParseMethod(s)
	if err != nil {
		return mfa.Method{}, errs.ErrValidation.WithFields(errs.FieldError{Field: "method", Message: mfa.ErrUnknownMethod.Msg})
	}
	return m, nil
}

func factorParam(c *fiber.Ctx) (mfa.Method, error) {
	m, err := mfa.ParseMethod(c.Params("method"))
	if err != nil || m == mfa.MethodBackup {
		return mfa.Method{}, errNotFound
	}
	return m, nil
}

func (a *API) loginMFA(c *fiber.Ctx) error {
	var in loginMFARequest
	err := a.dec.decode(c, &in, false)
	if err != nil {
		return err
	}
	var m mfa.Method
	if in.Method != "" {
		if m, err = methodField(in.Method); err != nil {
			return err
		}
	}
	res, err := a.uc.Challenges.LoginMFA(c.UserContext(), identity.LoginMFAInput{Token: in.MFAToken, Code: in.Code, Method: m, Client: a.client(c)})
	if err != nil {
		return err
	}
	return c.JSON(toAuthResponse(res))
}

func (a *API) sendChallengeCode(c *fiber.Ctx) error {
	var in sendCodeRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	m, err := methodField(in.Method)
	if err != nil {
		return err
	}
	sent, err := a.uc.Challenges.SendChallengeCode(c.UserContext(), in.MFAToken, m)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(toSentCodeResponse(sent, time.Now()))
}

func (a *API) myMFA(c *fiber.Ctx, p token.Claims) error {
	st, err := a.uc.MFA.MyMFA(c.UserContext(), p)
	if err != nil {
		return err
	}
	out := mfaStatusResponse{Enabled: st.Enabled, BackupCodesRemaining: st.BackupCodesRemaining,
		Factors: make([]factorResponse, len(st.Factors)), Available: methodNames(st.Available)}
	for i, f := range st.Factors {
		out.Factors[i] = factorResponse{Method: f.Method.String(), Phone: f.Phone, CreatedAt: f.CreatedAt}
	}
	return c.JSON(out)
}

func (a *API) beginTOTP(c *fiber.Ctx, p token.Claims) error {
	var in reauthRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	setup, err := a.uc.MFA.BeginTOTP(c.UserContext(), p, a.reauth(c, in))
	if err != nil {
		return err
	}
	return c.JSON(totpSetupResponse{Secret: setup.Secret, OtpauthURL: setup.URI, ExpiresAt: setup.ExpiresAt})
}

func (a *API) beginEmailFactor(c *fiber.Ctx, p token.Claims) error {
	var in reauthRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	sent, err := a.uc.MFA.BeginCodeFactor(c.UserContext(), p, mfa.MethodEmail, "", a.reauth(c, in))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(toSentCodeResponse(sent, time.Now()))
}

func (a *API) beginSMSFactor(c *fiber.Ctx, p token.Claims) error {
	var in smsFactorRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	sent, err := a.uc.MFA.BeginCodeFactor(c.UserContext(), p, mfa.MethodSMS, in.Phone, a.reauth(c, in.reauthRequest))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(toSentCodeResponse(sent, time.Now()))
}

func (a *API) confirmFactor(c *fiber.Ctx, p token.Claims) error {
	m, err := factorParam(c)
	if err != nil {
		return err
	}
	var in confirmFactorRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	en, err := a.uc.MFA.ConfirmFactor(c.UserContext(), p, m, in.Code)
	if err != nil {
		return err
	}
	return c.JSON(enabledResponse{Method: en.Method.String(), BackupCodes: en.BackupCodes, tokenResponse: toTokenResponse(en.Tokens)})
}

func (a *API) disableFactor(c *fiber.Ctx, p token.Claims) error {
	m, err := factorParam(c)
	if err != nil {
		return err
	}
	var in reauthRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	if err := a.uc.MFA.DisableFactor(c.UserContext(), p, m, a.reauth(c, in)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *API) regenerateBackupCodes(c *fiber.Ctx, p token.Claims) error {
	var in reauthRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	codes, err := a.uc.MFA.RegenerateBackupCodes(c.UserContext(), p, a.reauth(c, in))
	if err != nil {
		return err
	}
	return c.JSON(backupCodesResponse{BackupCodes: codes})
}

func (a *API) requestReauthCode(c *fiber.Ctx, p token.Claims) error {
	var in reauthCodeRequest
	if err := a.dec.decode(c, &in, false); err != nil {
		return err
	}
	m, err := methodField(in.Method)
	if err != nil {
		return err
	}
	sent, err := a.uc.MFA.RequestReauthCode(c.UserContext(), p, m)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(toSentCodeResponse(sent, time.Now()))
}
