// Package token defines access-token claims and signing keys. Access tokens
// are JWTs (RFC 9068, typ at+jwt) signed with Ed25519; this package knows
// their meaning, adapters/crypto their encoding.
package token

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
)

// Access-token type header value (RFC 9068) and the only algorithm accepted.
const (
	TypeAccess = "at+jwt"
	Algorithm  = "EdDSA"
)

// Authentication methods (RFC 8176) recorded in the amr claim.
const (
	MethodPassword = "pwd"
	MethodOTP      = "otp"
)

// Claims are what an access token asserts.
type Claims struct {
	ID        string // jti
	Issuer    string
	Audience  string
	Subject   string // user id
	SessionID string // sid: the session the token belongs to
	Roles     []string
	Org       string
	AMR       []string
	IssuedAt  time.Time
	NotBefore time.Time
	ExpiresAt time.Time
}

// SigningKey is a stored Ed25519 key pair identified by Kid. SealedSeed is
// its 32-byte private seed sealed by the key ring (SE-12), so a store never
// holds a usable key; in rows written before keys were sealed it is the
// seed itself, which the key ring seals when it loads them.
type SigningKey struct {
	Kid        string
	SealedSeed []byte
	CreatedAt  time.Time
}

// String redacts the seed, so a key can never reach a log or an error
// message by accident (SE-10).
func (k SigningKey) String() string { return "SigningKey{kid=" + k.Kid + ", seed=REDACTED}" }

// GoString redacts the seed for %#v.
func (k SigningKey) GoString() string { return k.String() }

// Format redacts the seed for every fmt verb.
func (k SigningKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue redacts the seed for log/slog.
func (k SigningKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// ErrInvalid is the one answer to any token that fails a check: the reason
// goes to logs, never to the client.
var ErrInvalid = errs.New(errs.Unauthenticated, "auth.invalid_token", "access token is invalid or expired")
