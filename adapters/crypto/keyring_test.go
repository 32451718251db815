package crypto

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/usermgmt/usermgmt/core/token"
)

// TestKeyRing_SealsSeeds_SE12: the store holds only sealed seeds, bound to
// their kid; a row an older release wrote in clear still loads (its tokens
// keep verifying) and is sealed in place; a ring with the wrong encryption
// key refuses to start rather than make a new key.
func TestKeyRing_SealsSeeds_SE12(t *testing.T) {
	e := newJWTEnv(t, KeyRingConfig{})
	k := e.currentKey(t)
	seed := k.priv.key.Seed()
	stored := e.store.keys[0].SealedSeed
	if len(stored) == seedSize || bytes.Contains(stored, seed) {
		t.Fatalf("the store holds the seed in clear: %d bytes", len(stored))
	}
	box := testBox(t)
	if got, err := box.Open(stored, keyContext(k.kid)); err != nil || !bytes.Equal(got, seed) {
		t.Fatalf("the stored value does not open to the seed: %v", err)
	}
	if _, err := box.Open(stored, keyContext("another-kid")); err == nil {
		t.Fatal("the sealed seed opens under another kid")
	}
	if _, err := NewKeyRing(t.Context(), e.store, mustBox(t, 0x77), e.clock, &fakeIDs{}, KeyRingConfig{}); err == nil {
		t.Fatal("a ring with another encryption key started")
	}

	t.Run("clear row from an older release", func(t *testing.T) {
		clock := newFakeClock()
		legacy := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x42}, seedSize))
		kid := thumbprint(legacy.Public().(ed25519.PublicKey))
		store := &keyStore{keys: []token.SigningKey{{Kid: kid, SealedSeed: legacy.Seed(), CreatedAt: clock.Now().Add(-time.Hour)}}}
		// A token the older release issued just before the upgrade.
		c := (&jwtEnv{clock: clock}).mapClaims()
		before := craft(t, jwt.SigningMethodEdDSA, map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": kid}, c, legacy)

		ring, err := NewKeyRing(t.Context(), store, testBox(t), clock, &fakeIDs{}, KeyRingConfig{})
		if err != nil {
			t.Fatal(err)
		}
		v, err := NewVerifier(ring, testIssuer, testAudience, testTTL, clock)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(t.Context(), before); err != nil {
			t.Fatalf("a token of the clear key after the upgrade: %v", err)
		}
		if got := store.keys[0].SealedSeed; len(got) == seedSize || bytes.Contains(got, legacy.Seed()) {
			t.Fatal("the clear row was not sealed")
		}
		// Loaded again, the row is sealed and still the same key.
		if err := ring.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(t.Context(), before); err != nil {
			t.Fatalf("after a reload: %v", err)
		}
	})
}

// TestKeyRing_RotateNow_SE12: RotateNow makes a key that signs at once and
// retires every older key at once: their tokens fail on this ring now,
// cached or not, and on a replica after its next Refresh.
func TestKeyRing_RotateNow_SE12(t *testing.T) {
	cfg := KeyRingConfig{PublishAhead: 2 * time.Minute, RetainFor: testTTL + Leeway}
	e := newJWTEnv(t, cfg)
	replica, err := NewKeyRing(t.Context(), e.store, testBox(t), e.clock, &fakeIDs{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cached := func(r *KeyRing) *CachingVerifier {
		v, err := NewVerifier(r, testIssuer, testAudience, testTTL, e.clock)
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewCachingVerifier(v, e.clock, 100, DropOnRetirement(r))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	here, there := cached(e.ring), cached(replica)
	e.clock.Advance(time.Minute)
	if err := e.ring.Rotate(t.Context()); err != nil { // a key in retention goes too
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	old := e.sign(t, e.claims())
	for name, v := range map[string]*CachingVerifier{"here": here, "replica": there} {
		if _, err := v.Verify(t.Context(), old); err != nil { // now cached
			t.Fatalf("%s: %v", name, err)
		}
	}

	if err := e.ring.RotateNow(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := here.Verify(t.Context(), old); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("a token of a retired key verified here: %v", err)
	}
	fresh := e.sign(t, e.claims())
	kid := kidOf(t, fresh)
	if kid == kidOf(t, old) || len(e.store.keys) != 1 || e.store.keys[0].Kid != kid {
		t.Fatalf("after RotateNow: signing kid %s, stored %v; want only the new key, signing at once", kid, e.store.keys)
	}
	if got := jwksKids(t, e.ring.JWKS()); !slices.Equal(got, []string{kid}) {
		t.Fatalf("JWKS kids %v, want [%s]", got, kid)
	}
	if _, err := here.Verify(t.Context(), fresh); err != nil {
		t.Fatalf("a token of the new key: %v", err)
	}

	// The replica learns of it on its next refresh, and not before.
	if _, err := there.Verify(t.Context(), old); err != nil {
		t.Fatalf("the replica dropped the key before refreshing: %v", err)
	}
	if err := replica.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := there.Verify(t.Context(), old); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("a token of a retired key verified on the replica after its refresh: %v", err)
	}
	if _, err := there.Verify(t.Context(), fresh); err != nil {
		t.Fatalf("the replica refuses the new key: %v", err)
	}
}

func mustBox(t *testing.T, b byte) *SecretBox {
	t.Helper()
	box, err := NewSecretBox(bytes.Repeat([]byte{b}, EncryptionKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return box
}
