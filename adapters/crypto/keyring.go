package crypto

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/ports"
)

// KeyRingConfig sets the signing-key lifecycle (SE-10).
type KeyRingConfig struct {
	// RotateAfter is the age at which NewKeyRing and Refresh make a new key
	// (default 30 days).
	RotateAfter time.Duration
	// RetainFor is how long a retired key still verifies. It must be at
	// least the access-token TTL, or tokens die before they expire
	// (default 24h).
	RetainFor time.Duration
	// PublishAhead is how long a new key is only published (in JWKS, and to
	// other replicas that Refresh) before it signs. With several replicas set
	// it above their Refresh interval, so no replica meets a token whose kid
	// it has not loaded yet. Zero (the default) signs with a key at once.
	PublishAhead time.Duration
}

const (
	defaultRotateAfter = 30 * 24 * time.Hour
	defaultRetainFor   = 24 * time.Hour
	seedSize           = ed25519.SeedSize
)

// KeyRing holds the Ed25519 access-token keys loaded from ports.SigningKeys:
// the newest signs, older ones verify until RetainFor after their
// retirement, or until RotateNow deletes them. Seeds are stored sealed with
// a ports.SecretBox (SE-12), so the store alone yields no key. Lookups read
// an immutable snapshot through an atomic pointer, so Sign and Verify take
// no lock; Rotate, Refresh and JWKS rebuilds serialise on mu. Safe for
// concurrent use.
type KeyRing struct {
	store ports.SigningKeys
	box   ports.SecretBox
	clock ports.Clock
	ids   ports.IDs
	cfg   KeyRingConfig

	mu    sync.Mutex
	state atomic.Pointer[ringState]
	// generation counts loads that dropped a key before its retention
	// ended, so caches of verified tokens know to check them again.
	generation atomic.Uint64
}

var _ ports.KeyRotator = (*KeyRing)(nil)

// ringKey is one loaded key with its lifecycle precomputed.
type ringKey struct {
	kid         string
	pub         ed25519.PublicKey
	priv        privateKey
	created     time.Time
	signFrom    time.Time // created + PublishAhead
	verifyUntil time.Time // retirement + RetainFor; zero while no newer key signs
}

// ringState is an immutable snapshot of the ring.
type ringState struct {
	keys  []*ringKey // newest first
	byKid map[string]*ringKey
	jwks  []byte
	// jwksUntil is when the first key in jwks stops verifying and the
	// document must be rebuilt; zero when no key in it expires.
	jwksUntil time.Time
}

// NewKeyRing loads the stored keys, opening their seeds with box, and,
// when there are none or the newest is older than cfg.RotateAfter, makes
// and stores a new one.
func NewKeyRing(ctx context.Context, store ports.SigningKeys, box ports.SecretBox, clock ports.Clock, ids ports.IDs, cfg KeyRingConfig) (*KeyRing, error) {
	if store == nil || box == nil || clock == nil || ids == nil {
		return nil, errors.New("key ring: missing dependency")
	}
	if cfg.RotateAfter == 0 {
		cfg.RotateAfter = defaultRotateAfter
	}
	if cfg.RetainFor == 0 {
		cfg.RetainFor = defaultRetainFor
	}
	if cfg.RotateAfter < 0 || cfg.RetainFor < 0 || cfg.PublishAhead < 0 {
		return nil, errors.New("key ring: negative duration in config")
	}
	r := &KeyRing{store: store, box: box, clock: clock, ids: ids, cfg: cfg}
	if err := r.Refresh(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Refresh reloads the keys from the store, picking up keys other replicas
// made and dropping keys RotateNow deleted, and rotates when the newest key
// is due. Call it periodically on every replica: its interval bounds how
// long a key retired elsewhere still verifies here. Token checks never
// touch the store.
func (r *KeyRing) Refresh(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.load(ctx); err != nil {
		return err
	}
	s := r.state.Load()
	if len(s.keys) > 0 && r.clock.Now().Sub(s.keys[0].created) < r.cfg.RotateAfter {
		return nil
	}
	return r.rotate(ctx)
}

// Rotate makes, stores and loads a new key. With PublishAhead zero it signs
// from now on; older keys keep verifying for RetainFor.
func (r *KeyRing) Rotate(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rotate(ctx)
}

// RotateNow makes a new key that signs at once and deletes every older key
// from the store, for a seed that may have leaked (SE-12). Tokens of the
// old keys fail on this ring at once and on other replicas after their
// next Refresh; a replica that has not refreshed yet still signs with an
// old key meanwhile, and those tokens fail with it.
func (r *KeyRing) RotateNow(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, err := r.add(ctx)
	if err != nil {
		return fmt.Errorf("key ring: rotate now: %w", err)
	}
	stored, err := r.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("key ring: rotate now: %w", err)
	}
	// Only older keys: a key another replica made meanwhile is as fresh
	// as this one.
	var old []string
	for _, sk := range stored {
		if sk.Kid != k.Kid && sk.CreatedAt.Before(k.CreatedAt) {
			old = append(old, sk.Kid)
		}
	}
	if _, err := r.store.DeleteSigningKeys(ctx, old); err != nil {
		return fmt.Errorf("key ring: rotate now: retire old keys: %w", err)
	}
	return r.load(ctx)
}

func (r *KeyRing) rotate(ctx context.Context) error {
	if _, err := r.add(ctx); err != nil {
		return fmt.Errorf("key ring: rotate: %w", err)
	}
	return r.load(ctx)
}

// add makes a key, seals its seed and stores it. Callers hold mu.
func (r *KeyRing) add(ctx context.Context) (token.SigningKey, error) {
	seed := r.ids.NewSecret(seedSize)
	if len(seed) != seedSize {
		return token.SigningKey{}, fmt.Errorf("got a %d-byte seed, want %d", len(seed), seedSize)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	created := r.clock.Now()
	// Keys are ordered by creation time alone, so a new key must be
	// strictly newer than the newest, even within one clock tick.
	if s := r.state.Load(); s != nil && len(s.keys) > 0 && !created.After(s.keys[0].created) {
		created = s.keys[0].created.Add(time.Microsecond)
	}
	kid := thumbprint(pub)
	sealed, err := r.box.Seal(seed, keyContext(kid))
	if err != nil {
		return token.SigningKey{}, fmt.Errorf("seal key: %w", err)
	}
	k := token.SigningKey{Kid: kid, SealedSeed: sealed, CreatedAt: created}
	if err := r.store.AddSigningKey(ctx, k); err != nil {
		return token.SigningKey{}, fmt.Errorf("store key: %w", err)
	}
	return k, nil
}

// keyContext binds a sealed seed to its kid and use: a sealed value copied
// to another key's row, or taken for another kind of secret, does not open.
func keyContext(kid string) []byte { return []byte("signing-key:" + kid) }

// openSeed returns the seed sealed in sk. A row written before keys were
// sealed holds the seed itself, which authenticated encryption can never
// produce (it adds a tag), so its length tells it apart: clear reports it.
func (r *KeyRing) openSeed(sk token.SigningKey) (seed []byte, clear bool, err error) {
	if len(sk.SealedSeed) == seedSize {
		return sk.SealedSeed, true, nil
	}
	seed, err = r.box.Open(sk.SealedSeed, keyContext(sk.Kid))
	if err != nil {
		return nil, false, fmt.Errorf("key ring: stored key %q does not open with the configured encryption keys: %w", sk.Kid, err)
	}
	return seed, false, nil
}

// reseal replaces the clear seed of an older release's row with its sealed
// form, so a deployment upgraded in place keeps its keys (and the tokens
// they signed) without them staying readable in the store. Callers hold mu.
func (r *KeyRing) reseal(ctx context.Context, kid string, seed []byte) error {
	sealed, err := r.box.Seal(seed, keyContext(kid))
	if err != nil {
		return fmt.Errorf("key ring: seal stored key %q: %w", kid, err)
	}
	// false means another replica resealed it first: as good.
	if _, err := r.store.ResealSigningKey(ctx, kid, seed, sealed); err != nil {
		return fmt.Errorf("key ring: seal stored key %q: %w", kid, err)
	}
	return nil
}

// load rebuilds the snapshot from the store. Callers hold mu.
func (r *KeyRing) load(ctx context.Context) error {
	stored, err := r.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("key ring: load keys: %w", err)
	}
	// The port promises newest first; sorting again costs nothing and keeps
	// retirement times right if a store ever gets it wrong.
	slices.SortStableFunc(stored, func(a, b token.SigningKey) int { return b.CreatedAt.Compare(a.CreatedAt) })
	keys := make([]*ringKey, 0, len(stored))
	for i, sk := range stored {
		seed, clear, err := r.openSeed(sk)
		if err != nil {
			return err
		}
		if len(seed) != seedSize || sk.Kid == "" {
			return fmt.Errorf("key ring: stored key %d (kid %q) is malformed", i, sk.Kid)
		}
		if clear {
			if err := r.reseal(ctx, sk.Kid, seed); err != nil {
				return err
			}
		}
		priv := ed25519.NewKeyFromSeed(seed)
		k := &ringKey{
			kid:      sk.Kid,
			pub:      priv.Public().(ed25519.PublicKey),
			priv:     privateKey{priv},
			created:  sk.CreatedAt,
			signFrom: sk.CreatedAt.Add(r.cfg.PublishAhead),
		}
		if i > 0 {
			// A key retires when the next newer one starts signing.
			k.verifyUntil = keys[i-1].signFrom.Add(r.cfg.RetainFor)
		}
		keys = append(keys, k)
	}
	prev := r.state.Load()
	r.state.Store(r.snapshot(keys, r.clock.Now()))
	// After the store: a cache that reads the new generation verifies
	// against the new keys.
	if prev != nil && dropped(prev, keys) {
		r.generation.Add(1)
	}
	return nil
}

// dropped reports whether a key that verified in prev is no longer stored.
func dropped(prev *ringState, stored []*ringKey) bool {
	for kid := range prev.byKid {
		if !slices.ContainsFunc(stored, func(k *ringKey) bool { return k.kid == kid }) {
			return true
		}
	}
	return false
}

// Generation changes whenever a key stops verifying before its retention
// ends (RotateNow deleted it, here or on another replica). A token verified
// under an older generation must be verified again.
func (r *KeyRing) Generation() uint64 { return r.generation.Load() }

// snapshot keeps the keys that still verify at now and precomputes JWKS.
func (r *KeyRing) snapshot(all []*ringKey, now time.Time) *ringState {
	s := &ringState{byKid: make(map[string]*ringKey, len(all))}
	jwks := jwkSet{Keys: []jwk{}}
	for _, k := range all {
		if !k.verifies(now) {
			continue
		}
		if _, dup := s.byKid[k.kid]; dup {
			continue // the same key stored twice: the newer row wins
		}
		s.keys = append(s.keys, k)
		s.byKid[k.kid] = k
		jwks.Keys = append(jwks.Keys, jwk{Kty: "OKP", Crv: "Ed25519", X: b64url(k.pub), Kid: k.kid, Alg: token.Algorithm, Use: "sig"})
		if !k.verifyUntil.IsZero() && (s.jwksUntil.IsZero() || k.verifyUntil.Before(s.jwksUntil)) {
			s.jwksUntil = k.verifyUntil
		}
	}
	s.jwks, _ = json.Marshal(jwks) // strings only: cannot fail
	return s
}

func (k *ringKey) verifies(now time.Time) bool {
	return k.verifyUntil.IsZero() || now.Before(k.verifyUntil)
}

// signer returns the newest key that may sign at now: one past its
// PublishAhead, or, while every key is still being published (a fresh
// deployment), the oldest, which has been published longest.
func (s *ringState) signer(now time.Time) (*ringKey, bool) {
	for _, k := range s.keys {
		if !now.Before(k.signFrom) {
			return k, true
		}
	}
	if len(s.keys) == 0 {
		return nil, false
	}
	return s.keys[len(s.keys)-1], true
}

// publicKey returns the verification key for kid if it is still valid at
// now. kid is untrusted input (RFC 8725 3.10): it only indexes this map.
func (r *KeyRing) publicKey(kid string, now time.Time) (ed25519.PublicKey, error) {
	k, ok := r.state.Load().byKid[kid]
	if !ok {
		return nil, errors.New("unknown kid")
	}
	if !k.verifies(now) {
		return nil, errors.New("kid retired")
	}
	return k.pub, nil
}

// JWKS returns the RFC 7517 key set of the keys that verify now: the signing
// key, its predecessors within RetainFor and any key being published ahead.
// It holds public keys only. The document is precomputed; the caller gets
// its own copy, free to modify.
func (r *KeyRing) JWKS() []byte {
	now := r.clock.Now()
	s := r.state.Load()
	if !s.jwksUntil.IsZero() && !now.Before(s.jwksUntil) {
		r.mu.Lock()
		s = r.state.Load() // another caller may have rebuilt it
		if !s.jwksUntil.IsZero() && !now.Before(s.jwksUntil) {
			s = r.snapshot(s.keys, now)
			r.state.Store(s)
		}
		r.mu.Unlock()
	}
	return slices.Clone(s.jwks)
}

type jwkSet struct {
	Keys []jwk `json:"keys"`
}

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 key (RFC 8037
// 2): base64url SHA-256 of the required members in lexicographic order.
// A kid derived from the key itself cannot name two different keys.
func thumbprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + b64url(pub) + `"}`))
	return b64url(sum[:])
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

const redacted = "[REDACTED]"

// privateKey wraps an Ed25519 private key so that no fmt verb or slog
// handler can print it (SE-10: keys never appear in logs). fmt does not call
// methods on unexported fields, so every struct that holds one redacts
// itself too.
type privateKey struct{ key ed25519.PrivateKey }

// Value receivers throughout: a copied struct must redact as well as a
// pointer to it.
func (privateKey) String() string             { return redacted }
func (privateKey) GoString() string           { return redacted }
func (privateKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }
func (privateKey) LogValue() slog.Value       { return slog.StringValue(redacted) }

func (k ringKey) String() string {
	return "crypto.ringKey{kid: " + k.kid + ", private key: " + redacted + "}"
}
func (k ringKey) GoString() string           { return k.String() }
func (k ringKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }
func (k ringKey) LogValue() slog.Value       { return slog.StringValue(k.String()) }

func (s ringState) String() string {
	kids := make([]string, len(s.keys))
	for i, k := range s.keys {
		kids[i] = k.kid
	}
	return fmt.Sprintf("crypto.ringState{kids: %q}", kids)
}
func (s ringState) GoString() string           { return s.String() }
func (s ringState) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }
func (s ringState) LogValue() slog.Value       { return slog.StringValue(s.String()) }

// String names the ring's keys by kid only.
func (r *KeyRing) String() string {
	return "crypto.KeyRing" + strings.TrimPrefix(r.state.Load().String(), "crypto.ringState")
}
func (r *KeyRing) GoString() string           { return r.String() }
func (r *KeyRing) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.String()) }
func (r *KeyRing) LogValue() slog.Value       { return slog.StringValue(r.String()) }
