package crypto

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/ports"
)

// Limits of the verifier.
const (
	// Leeway absorbs clock skew between issuer and verifier for exp, nbf
	// and iat (SE-02 allows up to 60s).
	Leeway = 30 * time.Second
	// MaxTokenBytes bounds what is parsed at all; our tokens are well
	// under 1 KiB.
	MaxTokenBytes = 8 << 10
)

// accessClaims is the JSON payload of an access token (RFC 9068).
type accessClaims struct {
	jwt.RegisteredClaims
	SessionID string   `json:"sid"`
	Roles     []string `json:"roles"`
	Org       string   `json:"org,omitempty"`
	AMR       []string `json:"amr,omitempty"`
}

// Signer implements ports.TokenSigner with the KeyRing's current key.
type Signer struct{ ring *KeyRing }

var _ ports.TokenSigner = (*Signer)(nil)

// NewSigner returns a signer over ring.
func NewSigner(ring *KeyRing) (*Signer, error) {
	if ring == nil {
		return nil, errors.New("signer: nil key ring")
	}
	return &Signer{ring: ring}, nil
}

// Sign encodes c as an EdDSA JWT with typ at+jwt and the signing key's kid.
// It refuses claims that Verifier would reject anyway, so a bug in the
// caller fails here, loudly, rather than at every client.
func (s *Signer) Sign(_ context.Context, c token.Claims) (string, error) {
	switch {
	case c.Issuer == "" || c.Audience == "" || c.Subject == "" || c.SessionID == "":
		return "", errors.New("sign access token: iss, aud, sub and sid are required")
	case c.ExpiresAt.IsZero() || c.IssuedAt.IsZero():
		return "", errors.New("sign access token: exp and iat are required")
	case !c.ExpiresAt.After(c.IssuedAt):
		return "", errors.New("sign access token: exp is not after iat")
	}
	k, ok := s.ring.state.Load().signer(s.ring.clock.Now())
	if !ok {
		return "", errors.New("sign access token: key ring is empty")
	}
	claims := accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    c.Issuer,
			Subject:   c.Subject,
			Audience:  jwt.ClaimStrings{c.Audience},
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
			NotBefore: numericDate(c.NotBefore),
			IssuedAt:  numericDate(c.IssuedAt),
			ID:        c.ID,
		},
		SessionID: c.SessionID,
		Roles:     c.Roles,
		Org:       c.Org,
		AMR:       c.AMR,
	}
	if claims.Roles == nil {
		claims.Roles = []string{} // an empty array, not null, for clients
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["typ"] = token.TypeAccess
	t.Header["kid"] = k.kid
	raw, err := t.SignedString(k.priv.key)
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return raw, nil
}

func numericDate(t time.Time) *jwt.NumericDate {
	if t.IsZero() {
		return nil
	}
	return jwt.NewNumericDate(t)
}

// Verifier implements ports.TokenVerifier for tokens from Signer, following
// RFC 8725: one algorithm, explicit typing, exact iss and aud, exp required,
// keys only from the in-memory ring. Safe for concurrent use.
type Verifier struct {
	ring     *KeyRing
	audience string
	// maxLife bounds exp - iat: the access-token TTL plus Leeway (SE-12).
	maxLife time.Duration
	clock   ports.Clock
	parser  *jwt.Parser
}

var _ ports.TokenVerifier = (*Verifier)(nil)

// NewVerifier returns a verifier that accepts tokens for audience from
// issuer that live no longer than ttl (plus Leeway) from their iat. Issuer
// and audience are required: golang-jwt skips the check of an empty one.
// ttl is the access-token lifetime the issuer is configured with: a token
// claiming more was not made by our Signer, whatever its signature says.
func NewVerifier(ring *KeyRing, issuer, audience string, ttl time.Duration, clock ports.Clock) (*Verifier, error) {
	switch {
	case ring == nil || clock == nil:
		return nil, errors.New("verifier: missing dependency")
	case issuer == "" || audience == "":
		return nil, errors.New("verifier: issuer and audience are required")
	case ttl <= 0:
		return nil, errors.New("verifier: the access-token lifetime must be positive")
	}
	return &Verifier{
		ring:     ring,
		audience: audience,
		maxLife:  ttl + Leeway,
		clock:    clock,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{token.Algorithm}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(Leeway),
			jwt.WithTimeFunc(clock.Now),
			// Non-zero trailing bits would let several signature
			// encodings verify as one token (IV-03).
			jwt.WithStrictDecoding(),
		),
	}, nil
}

// Verify checks raw and returns its claims. Every failure is
// token.ErrInvalid wrapping the reason, which is for logs only.
func (v *Verifier) Verify(_ context.Context, raw string) (token.Claims, error) {
	if err := checkCompact(raw); err != nil {
		return token.Claims{}, token.ErrInvalid.Wrap(err)
	}
	var c accessClaims
	if _, err := v.parser.ParseWithClaims(raw, &c, v.key); err != nil {
		return token.Claims{}, token.ErrInvalid.Wrap(err)
	}
	// RFC 8725 3.8: a token must say whom it is about; sid ties it to a
	// session the caller checks for revocation (SE-03).
	if c.Subject == "" || c.SessionID == "" {
		return token.Claims{}, token.ErrInvalid.Wrap(errors.New("sub or sid missing"))
	}
	// A leaked seed must not mint tokens that outlive a rotation (SE-12):
	// exp is bounded by iat, so iat is required too.
	if err := v.checkLifetime(c.IssuedAt, c.ExpiresAt); err != nil {
		return token.Claims{}, token.ErrInvalid.Wrap(err)
	}
	return token.Claims{
		ID:        c.ID,
		Issuer:    c.Issuer,
		Audience:  v.audience,
		Subject:   c.Subject,
		SessionID: c.SessionID,
		Roles:     c.Roles,
		Org:       c.Org,
		AMR:       c.AMR,
		IssuedAt:  timeOf(c.IssuedAt),
		NotBefore: timeOf(c.NotBefore),
		ExpiresAt: timeOf(c.ExpiresAt),
	}, nil
}

func (v *Verifier) checkLifetime(iat, exp *jwt.NumericDate) error {
	if iat == nil {
		return errors.New("iat missing")
	}
	switch life := exp.Sub(iat.Time); {
	case life <= 0:
		return errors.New("exp is not after iat")
	case life > v.maxLife:
		return fmt.Errorf("lifetime %v exceeds %v", life, v.maxLife)
	}
	return nil
}

// key is the jwt.Keyfunc: it runs on the untrusted header before the
// signature is checked.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	if _, ok := t.Method.(*jwt.SigningMethodEd25519); !ok {
		return nil, fmt.Errorf("alg %v not allowed", t.Header["alg"])
	}
	// Our tokens carry alg, kid and typ only. An allowlist rather than a
	// denylist of jwk, jku, x5u, x5c and the like: any parameter we do not
	// set ourselves (crit included) marks a forgery (RFC 8725 2.9, SE-01).
	for name := range t.Header {
		switch name {
		case "alg", "kid", "typ":
		default:
			return nil, fmt.Errorf("header %q not allowed", name)
		}
	}
	// RFC 8725 3.11, RFC 9068 2.1: only access tokens pass, so refresh,
	// MFA-pending or ID tokens cannot be replayed as one (SE-02).
	if typ, _ := t.Header["typ"].(string); typ != token.TypeAccess {
		return nil, fmt.Errorf("typ %v, want %s", t.Header["typ"], token.TypeAccess)
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errors.New("kid missing")
	}
	pub, err := v.ring.publicKey(kid, v.clock.Now())
	if err != nil {
		return nil, err
	}
	return pub, nil
}

// checkCompact rejects what the JWT parser would let through unnoticed:
// base64 decoding skips CR and LF, so without this a token with a line
// break in its signature would verify as the original.
func checkCompact(raw string) error {
	if len(raw) > MaxTokenBytes {
		return fmt.Errorf("token of %d bytes exceeds %d", len(raw), MaxTokenBytes)
	}
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return fmt.Errorf("byte %d is outside base64url", i)
		}
	}
	return nil
}

func timeOf(d *jwt.NumericDate) time.Time {
	if d == nil {
		return time.Time{}
	}
	return d.UTC()
}
