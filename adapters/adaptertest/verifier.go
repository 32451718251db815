package adaptertest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/ports"
)

// What a VerifierSetup's verifier accepts: tokens from VerifierIssuer for
// VerifierAudience that live at most VerifierTTL.
const (
	VerifierIssuer   = "https://id.example.test"
	VerifierAudience = "https://api.example.test"
	VerifierTTL      = 15 * time.Minute
)

// VerifierRig is one ports.TokenVerifier under test and the key ring
// behind it, built over the suite's clock.
type VerifierRig struct {
	Verifier ports.TokenVerifier
	Signer   ports.TokenSigner // signs with the ring's current key, as the service does
	Rotator  ports.KeyRotator  // the ring
	// SigningKey returns the ring's current key. The suite forges tokens
	// with it: a forgery signed by any other key only proves that the
	// signature is checked, not the header and claims.
	SigningKey func() (kid string, key ed25519.PrivateKey)
	// JWKS returns the public keys as served, which a forger may try as
	// an HMAC secret.
	JWKS func() []byte
	// Leeway is the verifier's allowance for clock skew on exp, nbf and
	// iat; SE-02 allows at most a minute.
	Leeway time.Duration
}

// VerifierSetup returns a fresh rig over clock for one test; cleanup goes
// to t.Cleanup. Subtests call t.Parallel.
type VerifierSetup func(t *testing.T, clock ports.Clock) VerifierRig

// TokenVerifier is the contract of ports.TokenVerifier. Every answer is
// asked for twice, so a verifier that remembers tokens (a cache) must give
// the same answer from memory as it gave from the checks.
func TokenVerifier(t *testing.T, setup VerifierSetup) {
	runVerifier(t, setup, "a signed token verifies with its claims", func(t *testing.T, v *verifierEnv) {
		want := v.claims()
		raw, err := v.Signer.Sign(t.Context(), want)
		mustNotFail(t, "Sign", err)
		// JWT times are whole seconds.
		want.IssuedAt, want.NotBefore, want.ExpiresAt = want.IssuedAt.Truncate(time.Second),
			want.NotBefore.Truncate(time.Second), want.ExpiresAt.Truncate(time.Second)
		if got := v.accepted(t, raw); !reflect.DeepEqual(got, want) {
			t.Fatalf("claims:\n got %+v\nwant %+v", got, want)
		}
	})

	runVerifier(t, setup, "exp holds to the leeway and no further, remembered or not (SE-02)", func(t *testing.T, v *verifierEnv) {
		if v.Leeway < 0 || v.Leeway > time.Minute {
			t.Fatalf("leeway %v, SE-02 allows 0 to 1m", v.Leeway)
		}
		raw := v.sign(t)
		v.accepted(t, raw)
		v.clock.Advance(VerifierTTL + v.Leeway - time.Second)
		v.accepted(t, raw)
		v.clock.Advance(2 * time.Second)
		v.refused(t, raw)
	})

	runVerifier(t, setup, "nbf holds to the leeway (SE-02)", func(t *testing.T, v *verifierEnv) {
		now := v.clock.Now().Unix()
		leeway := int64(v.Leeway / time.Second)
		raw := v.forge(t, nil, v.mapClaims(func(c jwt.MapClaims) { c["nbf"] = now + leeway + 2 }))
		v.refused(t, raw)
		v.clock.Advance(2 * time.Second)
		v.accepted(t, raw)
	})

	runVerifier(t, setup, "a forged header or signature fails (SE-01)", func(t *testing.T, v *verifierEnv) {
		good := v.sign(t)
		v.accepted(t, good) // remembered, so no forgery may pass as it
		kid, key := v.SigningKey()
		pub := key.Public().(ed25519.PublicKey)
		_, otherKey, err := ed25519.GenerateKey(rand.Reader)
		mustNotFail(t, "GenerateKey", err)
		parts := strings.Split(good, ".")
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		mustNotFail(t, "decode signature", err)
		sig[0] ^= 1
		header := func(alg string) string {
			return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + alg + `","kid":"` + kid + `","typ":"at+jwt"}`))
		}
		ours := func(h map[string]any) string { return v.forge(t, h, v.mapClaims(nil)) }
		// Non-canonical base64: flip the unused low bits of the last
		// character, which a lax decoder maps to the same bytes (IV-03).
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		last := strings.IndexByte(alphabet, parts[2][len(parts[2])-1])
		v.refuseAll(t, map[string]string{
			"alg none":                               forge(t, jwt.SigningMethodNone, map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}, v.mapClaims(nil), jwt.UnsafeAllowNoneSignatureType),
			"alg none, no signature part":            parts[0] + "." + parts[1] + ".",
			"HS256 with the public key as secret":    forge(t, jwt.SigningMethodHS256, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid}, v.mapClaims(nil), []byte(pub)),
			"HS256 with the JWKS as secret":          forge(t, jwt.SigningMethodHS256, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid}, v.mapClaims(nil), v.JWKS()),
			"ES256 header on an EdDSA signature":     header("ES256") + "." + parts[1] + "." + parts[2],
			"Ed25519 alg spelled differently":        header("Ed25519") + "." + parts[1] + "." + parts[2],
			"unknown kid":                            ours(map[string]any{"kid": "no-such-key"}),
			"kid path traversal":                     ours(map[string]any{"kid": "../../etc/passwd"}),
			"kid SQL injection":                      ours(map[string]any{"kid": "' OR 1=1 --"}),
			"kid not a string":                       ours(map[string]any{"kid": 7}),
			"kid missing":                            ours(map[string]any{"kid": nil}),
			"jku header":                             ours(map[string]any{"jku": "https://evil.example/jwks.json"}),
			"jwk header":                             ours(map[string]any{"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(pub)}}),
			"x5u header":                             ours(map[string]any{"x5u": "https://evil.example/cert.pem"}),
			"x5c header":                             ours(map[string]any{"x5c": []string{"MIIB"}}),
			"crit header":                            ours(map[string]any{"crit": []string{"exp"}}),
			"signed by another key with a known kid": forge(t, jwt.SigningMethodEdDSA, map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": kid}, v.mapClaims(nil), otherKey),
			"tampered payload":                       parts[0] + "." + v.encodeClaims(t, v.mapClaims(func(c jwt.MapClaims) { c["sub"] = "admin" })) + "." + parts[2],
			"flipped signature bit":                  parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig),
			"signature stripped":                     parts[0] + "." + parts[1] + ".",
			"non-canonical signature encoding":       parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + string(alphabet[last^1]),
			"line break in signature":                parts[0] + "." + parts[1] + "." + parts[2][:10] + "\n" + parts[2][10:],
			"padded signature":                       good + "==",
			"trailing space":                         good + " ",
			"four segments":                          good + ".e30",
			"JWE-shaped":                             "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d",
			"empty":                                  "",
			"not base64":                             "!!!.???.***",
			"huge":                                   parts[0] + "." + strings.Repeat("A", 64<<10) + "." + parts[2],
		})
	})

	runVerifier(t, setup, "a token of another kind or for another party fails (SE-02)", func(t *testing.T, v *verifierEnv) {
		now := v.clock.Now().Unix()
		leeway := int64(v.Leeway / time.Second)
		with := func(edit func(jwt.MapClaims)) string { return v.forge(t, nil, v.mapClaims(edit)) }
		typ := func(typ any) string { return v.forge(t, map[string]any{"typ": typ}, v.mapClaims(nil)) }
		v.refuseAll(t, map[string]string{
			"typ JWT":                         typ("JWT"),
			"typ AT+JWT":                      typ("AT+JWT"),
			"typ application/at+jwt":          typ("application/at+jwt"),
			"typ refresh+jwt":                 typ("refresh+jwt"),
			"typ missing":                     typ(nil),
			"wrong iss":                       with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }),
			"iss missing":                     with(func(c jwt.MapClaims) { delete(c, "iss") }),
			"wrong aud":                       with(func(c jwt.MapClaims) { c["aud"] = "https://another-api.example.test" }),
			"aud with a suffix":               with(func(c jwt.MapClaims) { c["aud"] = VerifierAudience + "/admin" }),
			"aud missing":                     with(func(c jwt.MapClaims) { delete(c, "aud") }),
			"expired":                         with(func(c jwt.MapClaims) { c["iat"], c["nbf"], c["exp"] = now-600, now-600, now-leeway-1 }),
			"exp missing":                     with(func(c jwt.MapClaims) { delete(c, "exp") }),
			"exp not a number":                with(func(c jwt.MapClaims) { c["exp"] = "tomorrow" }),
			"nbf in the future beyond leeway": with(func(c jwt.MapClaims) { c["nbf"] = now + leeway + 1 }),
			"iat in the future beyond leeway": with(func(c jwt.MapClaims) { c["iat"] = now + leeway + 1 }),
			"sub missing":                     with(func(c jwt.MapClaims) { delete(c, "sub") }),
			"sid missing":                     with(func(c jwt.MapClaims) { delete(c, "sid") }),
		})
	})

	runVerifier(t, setup, "a lifetime beyond the TTL fails, though signed by the ring (SE-12)", func(t *testing.T, v *verifierEnv) {
		now := v.clock.Now().Unix()
		ttl, leeway := int64(VerifierTTL/time.Second), int64(v.Leeway/time.Second)
		with := func(edit func(jwt.MapClaims)) string { return v.forge(t, nil, v.mapClaims(edit)) }
		v.accepted(t, with(func(c jwt.MapClaims) { c["exp"] = now + ttl + leeway }))
		v.refuseAll(t, map[string]string{
			"the TTL plus the leeway plus a second": with(func(c jwt.MapClaims) { c["exp"] = now + ttl + leeway + 1 }),
			"a day":                                 with(func(c jwt.MapClaims) { c["exp"] = now + 24*3600 }),
			"ten years":                             with(func(c jwt.MapClaims) { c["exp"] = now + 10*365*24*3600 }),
			"iat missing":                           with(func(c jwt.MapClaims) { delete(c, "iat") }),
			"iat back-dated an hour":                with(func(c jwt.MapClaims) { c["iat"], c["nbf"] = now-3600, now-3600 }),
			"iat not a number":                      with(func(c jwt.MapClaims) { c["iat"] = "yesterday" }),
			"exp before iat":                        with(func(c jwt.MapClaims) { c["exp"] = now - 1 }),
		})
	})

	runVerifier(t, setup, "a token of a key retired at once fails, remembered or not (SE-12)", func(t *testing.T, v *verifierEnv) {
		seen, unseen := v.sign(t), v.sign(t)
		v.accepted(t, seen)
		mustNotFail(t, "RotateNow", v.Rotator.RotateNow(t.Context()))
		v.refused(t, seen)
		v.refused(t, unseen)
		v.accepted(t, v.sign(t))
	})
}

// verifierEnv is a rig and the clock it runs on.
type verifierEnv struct {
	VerifierRig
	clock *testClock
}

func runVerifier(t *testing.T, setup VerifierSetup, name string, fn func(t *testing.T, v *verifierEnv)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		clock := &testClock{now: t0}
		fn(t, &verifierEnv{VerifierRig: setup(t, clock), clock: clock})
	})
}

// claims are a full set of good claims, issued now.
func (v *verifierEnv) claims() token.Claims {
	now := v.clock.Now()
	return token.Claims{ID: "jti-1", Issuer: VerifierIssuer, Audience: VerifierAudience, Subject: "user-1", SessionID: "sess-1",
		Roles: []string{"admin"}, Org: "org-1", AMR: []string{token.MethodPassword, token.MethodOTP},
		IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(VerifierTTL)}
}

func (v *verifierEnv) sign(t *testing.T) string {
	t.Helper()
	raw, err := v.Signer.Sign(t.Context(), v.claims())
	mustNotFail(t, "Sign", err)
	return raw
}

// mapClaims are good claims as a map, changed by edit (if any).
func (v *verifierEnv) mapClaims(edit func(jwt.MapClaims)) jwt.MapClaims {
	now := v.clock.Now().Unix()
	c := jwt.MapClaims{"iss": VerifierIssuer, "aud": VerifierAudience, "sub": "user-1", "sid": "sess-1", "jti": "jti-x",
		"iat": now, "nbf": now, "exp": now + int64(VerifierTTL/time.Second), "roles": []string{"admin"}}
	if edit != nil {
		edit(c)
	}
	return c
}

// forge signs claims with the ring's current key under a good header
// changed by edits (a nil value removes a parameter).
func (v *verifierEnv) forge(t *testing.T, edits map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	kid, key := v.SigningKey()
	h := map[string]any{"alg": token.Algorithm, "typ": token.TypeAccess, "kid": kid}
	for name, val := range edits {
		if val == nil {
			delete(h, name)
		} else {
			h[name] = val
		}
	}
	return forge(t, jwt.SigningMethodEdDSA, h, claims, key)
}

func (v *verifierEnv) encodeClaims(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	seg, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SigningString()
	mustNotFail(t, "encode claims", err)
	return strings.Split(seg, ".")[1]
}

// forge signs claims with header (which must carry alg) using method and key.
func forge(t *testing.T, method jwt.SigningMethod, header map[string]any, claims jwt.MapClaims, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header = header
	raw, err := tok.SignedString(key)
	mustNotFail(t, "forge", err)
	return raw
}

// accepted verifies raw twice and returns its claims: both answers must
// be the same success.
func (v *verifierEnv) accepted(t *testing.T, raw string) token.Claims {
	t.Helper()
	first, err := v.Verifier.Verify(t.Context(), raw)
	mustNotFail(t, "Verify", err)
	again, err := v.Verifier.Verify(t.Context(), raw)
	mustNotFail(t, "Verify again", err)
	if !reflect.DeepEqual(first, again) {
		t.Fatalf("claims differ the second time:\n%+v\n%+v", first, again)
	}
	return first
}

// refused verifies raw twice: both answers must be token.ErrInvalid (a
// 401) without claims.
func (v *verifierEnv) refused(t *testing.T, raw string) {
	t.Helper()
	for _, attempt := range []string{"Verify", "Verify again"} {
		c, err := v.Verifier.Verify(t.Context(), raw)
		if !errors.Is(err, token.ErrInvalid) || errs.KindOf(err) != errs.Unauthenticated {
			t.Fatalf("%s = %+v, %v; want token.ErrInvalid", attempt, c, err)
		}
		if !reflect.DeepEqual(c, token.Claims{}) {
			t.Fatalf("%s returned claims with its error: %+v", attempt, c)
		}
	}
}

func (v *verifierEnv) refuseAll(t *testing.T, corpus map[string]string) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(corpus)) {
		t.Run(name, func(t *testing.T) { v.refused(t, corpus[name]) })
	}
}

// testClock is a ports.Clock the suite moves.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
