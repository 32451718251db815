package crypto

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/usermgmt/usermgmt/core/token"
)

const (
	testIssuer   = "https://id.example.com"
	testAudience = "usermgmt-api"
	testTTL      = 15 * time.Minute
)

type jwtEnv struct {
	clock    *fakeClock
	store    *keyStore
	ring     *KeyRing
	signer   *Signer
	verifier *Verifier
}

func newJWTEnv(t testing.TB, cfg KeyRingConfig) *jwtEnv {
	t.Helper()
	e := &jwtEnv{clock: newFakeClock(), store: &keyStore{}}
	var err error
	if e.ring, err = NewKeyRing(t.Context(), e.store, testBox(t), e.clock, &fakeIDs{}, cfg); err != nil {
		t.Fatalf("NewKeyRing: %v", err)
	}
	if e.signer, err = NewSigner(e.ring); err != nil {
		t.Fatal(err)
	}
	if e.verifier, err = NewVerifier(e.ring, testIssuer, testAudience, testTTL, e.clock); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *jwtEnv) claims() token.Claims {
	now := e.clock.Now()
	return token.Claims{
		ID: "jti-1", Issuer: testIssuer, Audience: testAudience, Subject: "user-1", SessionID: "sess-1",
		Roles: []string{"admin"}, Org: "org-1", AMR: []string{token.MethodPassword, token.MethodOTP},
		IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(15 * time.Minute),
	}
}

func (e *jwtEnv) sign(t testing.TB, c token.Claims) string {
	t.Helper()
	raw, err := e.signer.Sign(t.Context(), c)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return raw
}

// currentKey returns the signing key, for crafting tokens in tests.
func (e *jwtEnv) currentKey(t testing.TB) *ringKey {
	t.Helper()
	k, ok := e.ring.state.Load().signer(e.clock.Now())
	if !ok {
		t.Fatal("no signing key")
	}
	return k
}

// mapClaims are the claims of a good token as a map, for editing.
func (e *jwtEnv) mapClaims() jwt.MapClaims {
	now := e.clock.Now().Unix()
	return jwt.MapClaims{
		"iss": testIssuer, "aud": testAudience, "sub": "user-1", "sid": "sess-1", "jti": "jti-x",
		"iat": now, "nbf": now, "exp": now + 900, "roles": []string{"admin"},
	}
}

// craft signs claims with header (which must carry alg) using method and key.
func craft(t testing.TB, method jwt.SigningMethod, header map[string]any, claims jwt.MapClaims, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header = header
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("craft: %v", err)
	}
	return raw
}

// TestSigner_TokenShape: the header carries alg, typ and kid only, and the
// payload an empty roles array and no org when there are none (the
// contract suite checks the round trip).
func TestSigner_TokenShape(t *testing.T) {
	e := newJWTEnv(t, KeyRingConfig{})
	// Minimal claims: no org, no roles.
	c := e.claims()
	c.Org, c.Roles, c.ID = "", nil, ""
	raw := e.sign(t, c)
	if _, err := e.verifier.Verify(t.Context(), raw); err != nil {
		t.Fatalf("Verify(minimal token): %v", err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
	if strings.Contains(string(payload), `"org"`) || !strings.Contains(string(payload), `"roles":[]`) {
		t.Fatalf("payload %s: want no org and an empty roles array", payload)
	}
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	var h map[string]string
	if err := json.Unmarshal(header, &h); err != nil {
		t.Fatal(err)
	}
	if h["typ"] != "at+jwt" || h["alg"] != "EdDSA" || h["kid"] != e.currentKey(t).kid || len(h) != 3 {
		t.Fatalf("header %s", header)
	}
}

// TestVerifier_KidIndexesMemoryOnly_SE01: a token's kid, good or not,
// never reaches the key store (RFC 8725 3.10); the contract suite holds
// the corpus of forgeries.
func TestVerifier_KidIndexesMemoryOnly_SE01(t *testing.T) {
	e := newJWTEnv(t, KeyRingConfig{})
	k := e.currentKey(t)
	reads := e.store.reads.Load()
	for _, kid := range []string{k.kid, "no-such-key", "../../etc/passwd", "' OR 1=1 --"} {
		raw := craft(t, jwt.SigningMethodEdDSA, map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": kid}, e.mapClaims(), k.priv.key)
		if _, err := e.verifier.Verify(t.Context(), raw); (err == nil) != (kid == k.kid) {
			t.Errorf("kid %q: %v", kid, err)
		}
	}
	if n := e.store.reads.Load() - reads; n != 0 {
		t.Fatalf("verification read the key store %d times", n)
	}
}

func TestSigner_RefusesIncompleteClaims(t *testing.T) {
	e := newJWTEnv(t, KeyRingConfig{})
	for name, edit := range map[string]func(*token.Claims){
		"no iss":         func(c *token.Claims) { c.Issuer = "" },
		"no aud":         func(c *token.Claims) { c.Audience = "" },
		"no sub":         func(c *token.Claims) { c.Subject = "" },
		"no sid":         func(c *token.Claims) { c.SessionID = "" },
		"no exp":         func(c *token.Claims) { c.ExpiresAt = time.Time{} },
		"no iat":         func(c *token.Claims) { c.IssuedAt = time.Time{} },
		"exp before iat": func(c *token.Claims) { c.ExpiresAt = c.IssuedAt.Add(-time.Second) },
	} {
		c := e.claims()
		edit(&c)
		if _, err := e.signer.Sign(t.Context(), c); err == nil {
			t.Errorf("%s: Sign succeeded", name)
		}
	}
}

func TestConstructors_Validate(t *testing.T) {
	e := newJWTEnv(t, KeyRingConfig{})
	if _, err := NewVerifier(e.ring, "", testAudience, testTTL, e.clock); err == nil {
		t.Error("NewVerifier accepted an empty issuer")
	}
	if _, err := NewVerifier(e.ring, testIssuer, "", testTTL, e.clock); err == nil {
		t.Error("NewVerifier accepted an empty audience")
	}
	if _, err := NewVerifier(nil, testIssuer, testAudience, testTTL, e.clock); err == nil {
		t.Error("NewVerifier accepted a nil ring")
	}
	if _, err := NewVerifier(e.ring, testIssuer, testAudience, 0, e.clock); err == nil {
		t.Error("NewVerifier accepted a zero lifetime")
	}
	if _, err := NewSigner(nil); err == nil {
		t.Error("NewSigner accepted a nil ring")
	}
	if _, err := NewKeyRing(t.Context(), nil, testBox(t), e.clock, &fakeIDs{}, KeyRingConfig{}); err == nil {
		t.Error("NewKeyRing accepted a nil store")
	}
	if _, err := NewKeyRing(t.Context(), &keyStore{}, nil, e.clock, &fakeIDs{}, KeyRingConfig{}); err == nil {
		t.Error("NewKeyRing accepted a nil secret box")
	}
	if _, err := NewKeyRing(t.Context(), &keyStore{}, testBox(t), e.clock, &fakeIDs{}, KeyRingConfig{RetainFor: -time.Hour}); err == nil {
		t.Error("NewKeyRing accepted a negative RetainFor")
	}
	bad := &keyStore{keys: []token.SigningKey{{Kid: "short", SealedSeed: []byte("too short"), CreatedAt: e.clock.Now()}}}
	if _, err := NewKeyRing(t.Context(), bad, testBox(t), e.clock, &fakeIDs{}, KeyRingConfig{}); err == nil {
		t.Error("NewKeyRing accepted a malformed stored key")
	}
}

// TestKeyRing_Rotation_SE10: after Rotate, tokens of the old key verify
// until RetainFor past the rotation, then fail; JWKS lists current and
// previous keys meanwhile, and only public material.
func TestKeyRing_Rotation_SE10(t *testing.T) {
	// A retention shorter than the tokens' life isolates it from exp.
	e := newJWTEnv(t, KeyRingConfig{RetainFor: 10 * time.Minute})
	oldTok := e.sign(t, e.claims())
	oldKid := e.currentKey(t).kid

	e.clock.Advance(time.Minute)
	if err := e.ring.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	newKid := e.currentKey(t).kid
	if newKid == oldKid {
		t.Fatal("Rotate kept the kid")
	}
	newTok := e.sign(t, e.claims())
	if kidOf(t, newTok) != newKid {
		t.Fatal("Sign does not use the newest key")
	}
	if got := jwksKids(t, e.ring.JWKS()); !slices.Equal(got, []string{newKid, oldKid}) {
		t.Fatalf("JWKS kids %v, want [%s %s]", got, newKid, oldKid)
	}

	e.clock.Advance(9 * time.Minute)
	for name, raw := range map[string]string{"old": oldTok, "new": newTok} {
		if _, err := e.verifier.Verify(t.Context(), raw); err != nil {
			t.Fatalf("%s-key token within retention: %v", name, err)
		}
	}
	e.clock.Advance(time.Minute)
	if _, err := e.verifier.Verify(t.Context(), oldTok); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("old-key token after retention: %v, want ErrInvalid", err)
	}
	if _, err := e.verifier.Verify(t.Context(), newTok); err != nil {
		t.Fatalf("new-key token: %v", err)
	}
	if got := jwksKids(t, e.ring.JWKS()); !slices.Equal(got, []string{newKid}) {
		t.Fatalf("JWKS kids after retention %v, want [%s]", got, newKid)
	}
}

// TestKeyRing_JWKS_SE10: RFC 7517 members, kid = RFC 7638 thumbprint, no
// private material anywhere in the document.
func TestKeyRing_JWKS_SE10(t *testing.T) {
	e := newJWTEnv(t, KeyRingConfig{})
	doc := e.ring.JWKS()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS %s: %v", doc, err)
	}
	k := e.currentKey(t)
	want := map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64url(k.pub), "kid": k.kid, "alg": "EdDSA", "use": "sig"}
	if !maps.Equal(set.Keys[0], want) {
		t.Fatalf("JWK %v, want %v", set.Keys[0], want)
	}
	// RFC 8037 A.3 thumbprint of the RFC 8037 A.1 key.
	pub, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if got := thumbprint(pub); got != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Fatalf("thumbprint = %s", got)
	}
	seed := k.priv.key.Seed()
	for _, enc := range []func([]byte) string{base64.RawURLEncoding.EncodeToString, base64.StdEncoding.EncodeToString, func(b []byte) string { return fmt.Sprintf("%x", b) }} {
		if strings.Contains(string(doc), enc(seed)) || strings.Contains(string(doc), enc(k.priv.key)) {
			t.Fatal("JWKS contains private key material")
		}
	}
	if strings.Contains(string(doc), `"d"`) {
		t.Fatal(`JWKS has a "d" member`)
	}
}

// TestKeyRing_NoSecretsInLogs_SE10: fmt verbs and slog never print a seed.
func TestKeyRing_NoSecretsInLogs_SE10(t *testing.T) {
	e := newJWTEnv(t, KeyRingConfig{})
	k := e.currentKey(t)
	var logged strings.Builder
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	log.Info("ring", "ring", e.ring, "key", k, "priv", k.priv, "signer", e.signer, "state", e.ring.state.Load())
	log.Info("ring", slog.Any("ring", e.ring), slog.Any("key", *k))
	out := logged.String()
	for _, v := range []any{e.ring, k, *k, k.priv, e.signer, e.verifier, e.ring.state.Load(), *e.ring.state.Load()} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q", "%d"} {
			out += fmt.Sprintf(verb, v)
		}
	}
	for _, enc := range []func([]byte) string{
		base64.RawURLEncoding.EncodeToString, base64.StdEncoding.EncodeToString,
		func(b []byte) string { return fmt.Sprintf("%x", b) }, func(b []byte) string { return fmt.Sprintf("%v", b) },
		func(b []byte) string { return fmt.Sprintf("%#v", b) }, func(b []byte) string { return string(b) },
	} {
		if strings.Contains(out, enc(k.priv.key.Seed())) {
			t.Fatalf("seed printed: %s", out)
		}
	}
}

// TestKeyRing_Bootstrap_SE10: a ring makes a key when the store has none or
// only stale ones, and reuses a fresh one.
func TestKeyRing_Bootstrap_SE10(t *testing.T) {
	clock, store := newFakeClock(), &keyStore{}
	r1, err := NewKeyRing(t.Context(), store, testBox(t), clock, &fakeIDs{}, KeyRingConfig{RotateAfter: 24 * time.Hour})
	if err != nil || len(store.keys) != 1 {
		t.Fatalf("empty store: %v, %d keys stored", err, len(store.keys))
	}
	if k := r1.state.Load().keys[0]; store.keys[0].Kid != k.kid || k.kid != thumbprint(k.pub) {
		t.Fatal("kid is not the key's thumbprint")
	}
	clock.Advance(23 * time.Hour)
	r2, err := NewKeyRing(t.Context(), store, testBox(t), clock, &fakeIDs{}, KeyRingConfig{RotateAfter: 24 * time.Hour})
	if err != nil || len(store.keys) != 1 {
		t.Fatalf("fresh key: %v, %d keys stored", err, len(store.keys))
	}
	clock.Advance(2 * time.Hour)
	r3, err := NewKeyRing(t.Context(), store, testBox(t), clock, &fakeIDs{}, KeyRingConfig{RotateAfter: 24 * time.Hour})
	if err != nil || len(store.keys) != 2 {
		t.Fatalf("stale key: %v, %d keys stored", err, len(store.keys))
	}
	// A replica that loaded before the rotation learns of it on Refresh.
	s1 := mustSigner(t, r1)
	v3, _ := NewVerifier(r3, testIssuer, testAudience, testTTL, clock)
	v2, _ := NewVerifier(r2, testIssuer, testAudience, testTTL, clock)
	e := &jwtEnv{clock: clock}
	raw3 := mustSign(t, mustSigner(t, r3), e.claims())
	if _, err := v2.Verify(t.Context(), raw3); err == nil {
		t.Fatal("a ring verified a kid it never loaded")
	}
	if err := r2.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := v2.Verify(t.Context(), raw3); err != nil {
		t.Fatalf("after Refresh: %v", err)
	}
	if _, err := v3.Verify(t.Context(), mustSign(t, s1, e.claims())); err != nil {
		t.Fatalf("old replica's token on the new ring: %v", err)
	}
}

// TestKeyRing_PublishAhead_SE10: a new key is in JWKS at once but signs only
// after PublishAhead, so replicas can load it first.
func TestKeyRing_PublishAhead_SE10(t *testing.T) {
	e := newJWTEnv(t, KeyRingConfig{PublishAhead: 10 * time.Minute, RetainFor: time.Hour})
	oldKid := e.currentKey(t).kid // the first key signs at once: nothing older exists
	e.clock.Advance(time.Minute)
	if err := e.ring.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	kids := jwksKids(t, e.ring.JWKS())
	if len(kids) != 2 {
		t.Fatalf("JWKS kids %v, want the next and the current", kids)
	}
	if kidOf(t, e.sign(t, e.claims())) != oldKid {
		t.Fatal("the new key signs before PublishAhead")
	}
	e.clock.Advance(10 * time.Minute)
	if kidOf(t, e.sign(t, e.claims())) != kids[0] {
		t.Fatal("the new key does not sign after PublishAhead")
	}
	e.clock.Advance(time.Hour)
	if got := jwksKids(t, e.ring.JWKS()); !slices.Equal(got, kids[:1]) {
		t.Fatalf("JWKS kids %v after retention, want %v", got, kids[:1])
	}
}

func mustSigner(t *testing.T, r *KeyRing) *Signer {
	t.Helper()
	s, err := NewSigner(r)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustSign(t *testing.T, s *Signer, c token.Claims) string {
	t.Helper()
	raw, err := s.Sign(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func kidOf(t *testing.T, raw string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}

func jwksKids(t *testing.T, doc []byte) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		if k.D != "" {
			t.Fatal("JWKS holds a private key")
		}
		kids = append(kids, k.Kid)
	}
	return kids
}

// FuzzVerify: no input panics the verifier, and the only token it accepts
// is the one we signed; any mutation of it is refused (IV-03).
func FuzzVerify(f *testing.F) {
	e := newJWTEnv(f, KeyRingConfig{})
	good := e.sign(f, e.claims())
	k := e.currentKey(f)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(good + "A")
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add(craft(f, jwt.SigningMethodHS256, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": k.kid}, e.mapClaims(), []byte(k.pub)))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := e.verifier.Verify(t.Context(), raw)
		if err == nil && raw != good {
			t.Fatalf("accepted a token we did not sign: %q", raw)
		}
		if err != nil && !errors.Is(err, token.ErrInvalid) {
			t.Fatalf("error %v is not token.ErrInvalid", err)
		}
	})
}

func BenchmarkVerifier(b *testing.B) {
	e := newJWTEnv(b, KeyRingConfig{})
	raw := e.sign(b, e.claims())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.verifier.Verify(b.Context(), raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSigner(b *testing.B) {
	e := newJWTEnv(b, KeyRingConfig{})
	c := e.claims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.signer.Sign(b.Context(), c); err != nil {
			b.Fatal(err)
		}
	}
}
