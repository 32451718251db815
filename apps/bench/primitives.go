package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/argon2"
)

// The bare primitives run in the bench process with the production
// parameters: what the server cannot do faster than, whatever it does.

// argonVerifier checks a password against a stored argon2id key, as a
// login does after loading the credential.
type argonVerifier struct {
	password, salt, key []byte
}

func newArgonVerifier() (*argonVerifier, error) {
	v := &argonVerifier{password: []byte("bench-pass-amber-falcon-quartz"), salt: make([]byte, 16)}
	if _, err := rand.Read(v.salt); err != nil {
		return nil, err
	}
	v.key = v.derive()
	return v, nil
}

func (v *argonVerifier) derive() []byte {
	return argon2.IDKey(v.password, v.salt, argonIterations, argonMemoryKiB, argonParallelism, argonKeyLen)
}

// op verifies the password once.
func (v *argonVerifier) op(context.Context, int, int) (int, error) {
	if subtle.ConstantTimeCompare(v.derive(), v.key) != 1 {
		return 0, errors.New("argon2id: key mismatch")
	}
	return http.StatusOK, nil
}

// accessClaims mirrors the payload of the server's access tokens
// (adapters/crypto), so the bare parse decodes the same fields.
type accessClaims struct {
	jwt.RegisteredClaims
	SessionID string   `json:"sid"`
	Roles     []string `json:"roles"`
	Org       string   `json:"org,omitempty"`
	AMR       []string `json:"amr,omitempty"`
}

// jwtBench signs and verifies tokens shaped like the server's: EdDSA
// (Ed25519), header alg, kid and typ at+jwt, and the claims of a real
// access token from the server under test, re-signed with a key of ours.
type jwtBench struct {
	priv   ed25519.PrivateKey
	pub    ed25519.PublicKey
	claims accessClaims
	raw    string
	parser *jwt.Parser
}

const (
	benchKID  = "bench-key"
	typAccess = "at+jwt"
)

// newJWTBench builds the bench from sample, an access token the server
// issued; its claims are copied (the signature is not needed).
func newJWTBench(sample string) (*jwtBench, error) {
	claims, err := payloadOf(sample)
	if err != nil {
		return nil, fmt.Errorf("access token from the server: %w", err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	aud := ""
	if len(claims.Audience) > 0 {
		aud = claims.Audience[0]
	}
	// The server's verifier options (adapters/crypto.NewVerifier).
	b := &jwtBench{priv: priv, pub: pub, claims: claims, parser: jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(claims.Issuer),
		jwt.WithAudience(aud),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(30*time.Second),
		jwt.WithStrictDecoding(),
	)}
	if b.raw, err = b.sign(); err != nil {
		return nil, err
	}
	if _, err := b.verify(); err != nil {
		return nil, fmt.Errorf("bare JWT does not verify: %w", err)
	}
	return b, nil
}

// payloadOf decodes a compact JWT's claims without checking them.
func payloadOf(raw string) (accessClaims, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return accessClaims{}, errors.New("not a compact JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return accessClaims{}, err
	}
	var c accessClaims
	return c, json.Unmarshal(b, &c)
}

func (b *jwtBench) sign() (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, b.claims)
	t.Header["typ"] = typAccess
	t.Header["kid"] = benchKID
	return t.SignedString(b.priv)
}

// verify parses and checks b.raw with the checks the server's key function
// makes on the header (allowlist, typ, kid), then the signature and claims.
func (b *jwtBench) verify() (accessClaims, error) {
	var c accessClaims
	_, err := b.parser.ParseWithClaims(b.raw, &c, func(t *jwt.Token) (any, error) {
		for name := range t.Header {
			if name != "alg" && name != "kid" && name != "typ" {
				return nil, fmt.Errorf("header %q not allowed", name)
			}
		}
		if typ, _ := t.Header["typ"].(string); typ != typAccess {
			return nil, errors.New("wrong typ")
		}
		if kid, _ := t.Header["kid"].(string); kid != benchKID {
			return nil, errors.New("unknown kid")
		}
		return b.pub, nil
	})
	return c, err
}

func (b *jwtBench) verifyOp(context.Context, int, int) (int, error) {
	if _, err := b.verify(); err != nil {
		return 0, err
	}
	return http.StatusOK, nil
}

func (b *jwtBench) signOp(context.Context, int, int) (int, error) {
	if _, err := b.sign(); err != nil {
		return 0, err
	}
	return http.StatusOK, nil
}
