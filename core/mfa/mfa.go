// Package mfa holds the second factors and their rules: TOTP (RFC 6238) with
// its time-step window and single use, one-time codes sent by email or SMS,
// backup codes, and the sign-in challenge that stands between a proven
// password and a session. It decides; adapters compute HMACs, seal secrets
// and store rows.
package mfa

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
)

// Method is a second factor.
type Method struct{ s string }

// The methods. Backup codes prove the account at sign-in but are not a
// factor of their own: they come with the first factor and go with the last.
var (
	MethodTOTP   = Method{"totp"}
	MethodEmail  = Method{"email"}
	MethodSMS    = Method{"sms"}
	MethodBackup = Method{"backup"}
)

// Factors are the methods a user can enrol, in the order they are offered.
var Factors = []Method{MethodTOTP, MethodSMS, MethodEmail}

func (m Method) String() string { return m.s }

// IsZero reports whether m is the invalid zero Method.
func (m Method) IsZero() bool { return m.s == "" }

// OutOfBand reports whether the method sends a code to the user (email, SMS).
func (m Method) OutOfBand() bool { return m == MethodEmail || m == MethodSMS }

// AMR is the RFC 8176 authentication-method reference the method adds to a
// session ("email" is not registered there, and names the channel).
func (m Method) AMR() string {
	switch m {
	case MethodSMS:
		return "sms"
	case MethodEmail:
		return "email"
	default:
		return "otp"
	}
}

// AMRMulti marks a session signed in with a second factor (RFC 8176 "mfa").
const AMRMulti = "mfa"

// SecondFactor reports whether amr records a second factor: the session is
// at AAL2 (MF-08).
func SecondFactor(amr []string) bool { return slices.Contains(amr, AMRMulti) }

// ErrStepUpRequired refuses a session without a second factor on an
// account that has one (MF-08): such a session can only predate the
// factor, and every endpoint that acts on the account needs AAL2.
var ErrStepUpRequired = errs.New(errs.Forbidden, "auth.mfa_required", "sign in with your second factor to do this")

// StepUp returns ErrStepUpRequired when an account with a second factor
// (enabled) is acted on by a session whose amr records none.
func StepUp(enabled bool, amr []string) error {
	if enabled && !SecondFactor(amr) {
		return ErrStepUpRequired
	}
	return nil
}

// AAL names the NIST assurance level that amr reaches: "aal2" with a
// second factor, "aal1" with a password alone. Gateways read it from
// forward-auth to guard their own sensitive routes.
func AAL(amr []string) string {
	if SecondFactor(amr) {
		return "aal2"
	}
	return "aal1"
}

// ParseMethod returns the method named s.
func ParseMethod(s string) (Method, error) {
	for _, m := range []Method{MethodTOTP, MethodEmail, MethodSMS, MethodBackup} {
		if m.s == s {
			return m, nil
		}
	}
	return Method{}, ErrUnknownMethod
}

// Errors of the second factors.
var (
	ErrUnknownMethod    = errs.New(errs.Invalid, "mfa.unknown_method", "must be totp, sms, email or backup")
	ErrInvalidCode      = errs.New(errs.Unauthenticated, "mfa.invalid_code", "the code is wrong or has expired")
	ErrMalformedCode    = errs.New(errs.Invalid, "mfa.malformed_code", "must be a 6-digit code or a backup code")
	ErrInvalidPhone     = errs.New(errs.Invalid, "mfa.invalid_phone", "must be a phone number in E.164 form, such as +14155550123")
	ErrNoEnrollment     = errs.New(errs.NotFound, "mfa.no_enrollment", "no enrollment of that method is pending; start it again")
	ErrNotEnrolled      = errs.New(errs.NotFound, "mfa.not_enrolled", "that second factor is not enabled")
	ErrAlreadyEnrolled  = errs.New(errs.Conflict, "mfa.already_enrolled", "that second factor is already enabled; disable it first")
	ErrUnavailable      = errs.New(errs.Precondition, "mfa.method_unavailable", "that method is not available for this account")
	ErrInvalidChallenge = errs.New(errs.Unauthenticated, "mfa.invalid_challenge",
		"the sign-in has expired or had too many wrong codes; sign in with your password again")
	ErrCorrupt = errs.New(errs.Internal, "mfa.corrupt", "stored second factor is invalid")
)

// TOTP parameters (RFC 6238 as authenticator apps implement it: SHA-1, six
// digits, 30-second steps) and the accepted clock skew: one step either way
// (MF-03), never the client's idea of the time.
const (
	TOTPPeriod     = 30 * time.Second
	TOTPDigits     = 6
	TOTPSkewSteps  = 1
	TOTPSecretSize = 20 // bytes: 160 bits, RFC 4226's recommendation (MF-04)
)

// Step is the RFC 6238 time step of t: floor(unix time / 30 s).
func Step(t time.Time) int64 { return t.Unix() / int64(TOTPPeriod/time.Second) }

// MatchTOTP compares code with the codes of the steps around now and returns
// the step it matches. Every candidate is compared in constant time, so the
// answer's timing says nothing about which step (if any) matched. codeAt
// computes the code of a step.
func MatchTOTP(code string, now time.Time, codeAt func(step int64) (string, error)) (step int64, ok bool, err error) {
	cur := Step(now)
	found := int64(0)
	match := 0
	for s := cur - TOTPSkewSteps; s <= cur+TOTPSkewSteps; s++ {
		want, err := codeAt(s)
		if err != nil {
			return 0, false, err
		}
		eq := subtle.ConstantTimeCompare([]byte(want), []byte(code))
		// Keep the latest matching step without branching on the secret.
		found = int64(subtle.ConstantTimeSelect(eq, int(s), int(found)))
		match |= eq
	}
	return found, match == 1, nil
}

// NormalizeDigits returns a six-digit code with spaces and dashes removed,
// or false when it is not one.
func NormalizeDigits(code string) (string, bool) {
	c := strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(code))
	if len(c) != TOTPDigits {
		return "", false
	}
	for i := 0; i < len(c); i++ {
		if c[i] < '0' || c[i] > '9' {
			return "", false
		}
	}
	return c, true
}

// Factor is an enrolled, confirmed second factor.
type Factor struct {
	UserID user.ID
	Method Method
	// Secret is the sealed TOTP seed (ports.SecretBox); empty for email and SMS.
	Secret []byte
	// Phone is the E.164 number of an SMS factor.
	Phone string
	// LastUsedStep is the highest TOTP step accepted so far: a code of that
	// step or any earlier one is a replay (MF-02).
	LastUsedStep int64
	CreatedAt    time.Time
}

// Enrollment is a factor being set up: its secret (a sealed TOTP seed, or a
// sealed code sent by email or SMS) waits for one valid code (MF-05).
type Enrollment struct {
	UserID    user.ID
	Method    Method
	Secret    []byte
	Phone     string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// EnrollmentTTL is how long a started enrollment can be confirmed.
const EnrollmentTTL = 15 * time.Minute

// CodeTTL is how long a code sent by email or SMS works (LG-07: ≤ 10 min).
const CodeTTL = 5 * time.Minute

// NormalizePhone validates an E.164 number ("+" and 8 to 15 digits, no
// leading zero) after dropping spaces, dashes, dots and brackets.
func NormalizePhone(s string) (string, error) {
	p := strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "").Replace(strings.TrimSpace(s))
	if len(p) < 9 || len(p) > 16 || p[0] != '+' || p[1] == '0' {
		return "", ErrInvalidPhone
	}
	for i := 1; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return "", ErrInvalidPhone
		}
	}
	return p, nil
}

// MaskPhone shows a number's country part and last two digits only.
func MaskPhone(p string) string {
	if len(p) < 6 {
		return strings.Repeat("•", len(p))
	}
	return p[:2] + strings.Repeat("•", len(p)-4) + p[len(p)-2:]
}

// Backup codes: 120 bits each, ten to a set. At ≥ 112 bits a code cannot be
// guessed from its SHA-256, so no salted KDF is needed (MF-07) and a code is
// found by its hash in one indexed look-up.
const (
	BackupCodeCount = 10
	BackupCodeBytes = 15 // 120 bits: 24 base32 characters
)

var backupEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// FormatBackupCode renders 15 random bytes as six groups of four lower-case
// base32 characters: "abcd-efgh-ijkl-mnop-qrst-uvwx".
func FormatBackupCode(random []byte) string {
	s := strings.ToLower(backupEncoding.EncodeToString(random))
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// NormalizeBackupCode returns the canonical form of a typed backup code
// (groups joined, lower case), or false when it cannot be one.
func NormalizeBackupCode(code string) (string, bool) {
	c := strings.ToLower(strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(code)))
	if len(c) != backupEncoding.EncodedLen(BackupCodeBytes) {
		return "", false
	}
	if _, err := backupEncoding.DecodeString(strings.ToUpper(c)); err != nil {
		return "", false
	}
	return c, true
}

// HashBackupCode returns the storage form of a normalised backup code.
func HashBackupCode(normalized string) string {
	h := sha256.Sum256([]byte("usermgmt-backup-code:" + normalized))
	return hex.EncodeToString(h[:])
}

// Challenge is a sign-in whose password was proven and whose second factor
// is due. Its token is opaque and stored only as a hash: it is not a JWT, so
// it can never pass as an access token (MF-08, SE-02).
type Challenge struct {
	Hash    session.TokenHash
	UserID  user.ID
	Methods []Method // what the user may answer with
	Client  session.Client
	// Attempts counts the codes tried; at MaxAttempts the challenge is gone.
	Attempts int
	// PriorFailures is how many failed sign-ins preceded the proven
	// password, for the notice the completed sign-in sends (LG-06).
	PriorFailures int
	CreatedAt     time.Time
	ExpiresAt     time.Time
	// A code sent by email or SMS for this challenge, sealed, and its expiry.
	CodeMethod    Method
	Code          []byte
	CodeExpiresAt time.Time
}

// Sign-in challenge limits (MF-06): five wrong codes destroy it, and it
// lasts five minutes.
const (
	MaxAttempts  = 5
	ChallengeTTL = 5 * time.Minute
)

// Offers reports whether the challenge accepts method m.
func (c Challenge) Offers(m Method) bool { return slices.Contains(c.Methods, m) }

// Live reports whether the challenge can still be answered at now.
func (c Challenge) Live(now time.Time) bool {
	return now.Before(c.ExpiresAt) && c.Attempts < MaxAttempts
}

// SessionAMR is the AMR of a session whose first factor gave firstFactor
// and that passed the challenge with m.
func SessionAMR(firstFactor []string, m Method) []string {
	amr := slices.Clone(firstFactor)
	for _, v := range []string{m.AMR(), AMRMulti} {
		if !slices.Contains(amr, v) {
			amr = append(amr, v)
		}
	}
	return amr
}
