package crypto

import (
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/ports"
)

// OTP is ports.OTP over github.com/pquerna/otp. The core picks the time
// steps (its window and replay rule live in core/mfa); this computes the
// RFC 4226 code of a step, a TOTP being the HOTP of its step (RFC 6238).
type OTP struct {
	opts hotp.ValidateOpts
}

var _ ports.OTP = OTP{}

// OTPAlgorithm names an HMAC of RFC 6238.
type OTPAlgorithm string

// The algorithms. Authenticator apps implement SHA1 reliably; the others
// exist for the RFC's vectors and for clients that ask for them.
const (
	OTPSHA1   OTPAlgorithm = "SHA1"
	OTPSHA256 OTPAlgorithm = "SHA256"
	OTPSHA512 OTPAlgorithm = "SHA512"
)

// NewOTP returns the authenticator-app TOTP: SHA-1, six digits.
func NewOTP() OTP {
	return OTP{opts: hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}}
}

// NewOTPWith returns a TOTP with another algorithm or 8 digits.
func NewOTPWith(alg OTPAlgorithm, digits int) (OTP, error) {
	o := OTP{}
	switch alg {
	case OTPSHA1:
		o.opts.Algorithm = otp.AlgorithmSHA1
	case OTPSHA256:
		o.opts.Algorithm = otp.AlgorithmSHA256
	case OTPSHA512:
		o.opts.Algorithm = otp.AlgorithmSHA512
	default:
		return OTP{}, fmt.Errorf("crypto: unknown OTP algorithm %q", alg)
	}
	switch digits {
	case 6:
		o.opts.Digits = otp.DigitsSix
	case 8:
		o.opts.Digits = otp.DigitsEight
	default:
		return OTP{}, fmt.Errorf("crypto: OTP digits must be 6 or 8, got %d", digits)
	}
	return o, nil
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// HOTP returns the RFC 4226 code of secret for counter.
func (o OTP) HOTP(secret []byte, counter uint64) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("crypto: empty OTP secret")
	}
	code, err := hotp.GenerateCodeCustom(b32.EncodeToString(secret), counter, o.opts)
	if err != nil {
		return "", fmt.Errorf("crypto: hotp: %w", err)
	}
	return code, nil
}

// TOTP returns the code of secret for the RFC 6238 time step.
func (o OTP) TOTP(secret []byte, step int64) (string, error) {
	if step < 0 {
		return "", errors.New("crypto: negative time step")
	}
	return o.HOTP(secret, uint64(step))
}

// KeyURI returns the otpauth://totp URI of secret for account at issuer.
func (o OTP) KeyURI(issuer, account string, secret []byte) (string, error) {
	if len(secret) < 16 {
		return "", errors.New("crypto: a TOTP secret must be at least 128 bits (RFC 4226)")
	}
	// The label's colon separates issuer and account: neither may hold one.
	issuer = strings.ReplaceAll(issuer, ":", "")
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: strings.ReplaceAll(account, ":", ""),
		Period: uint(mfa.TOTPPeriod.Seconds()), Secret: secret, Digits: o.opts.Digits, Algorithm: o.opts.Algorithm})
	if err != nil {
		return "", fmt.Errorf("crypto: otpauth uri: %w", err)
	}
	return key.URL(), nil
}

// CodeAt returns the code at t of a secret in the base32 form an
// enrollment shows: what an authenticator app would display. Tests of
// programs that embed usermgmt use it to answer challenges.
func (o OTP) CodeAt(secret string, t time.Time) (string, error) {
	seed, err := b32.DecodeString(strings.ToUpper(strings.TrimSpace(secret)))
	if err != nil {
		return "", errors.New("crypto: the secret is not base32")
	}
	return o.TOTP(seed, mfa.Step(t))
}
