package crypto_test

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/usermgmt/usermgmt/adapters/adaptertest"
	"github.com/usermgmt/usermgmt/adapters/crypto"
	"github.com/usermgmt/usermgmt/adapters/memory"
	"github.com/usermgmt/usermgmt/adapters/system"
	"github.com/usermgmt/usermgmt/ports"
)

func TestVerifierContract(t *testing.T) {
	adaptertest.TokenVerifier(t, func(t *testing.T, clock ports.Clock) adaptertest.VerifierRig {
		return verifierRig(t, clock, func(v *crypto.Verifier, _ *crypto.KeyRing) ports.TokenVerifier { return v })
	})
}

// TestCachingVerifierContract runs the suite against the verifier as the
// service wires it: the cache over the verifier, told of retired keys.
func TestCachingVerifierContract(t *testing.T) {
	adaptertest.TokenVerifier(t, func(t *testing.T, clock ports.Clock) adaptertest.VerifierRig {
		return verifierRig(t, clock, func(v *crypto.Verifier, ring *crypto.KeyRing) ports.TokenVerifier {
			c, err := crypto.NewCachingVerifier(v, clock, 100, crypto.DropOnRetirement(ring))
			if err != nil {
				t.Fatal(err)
			}
			return c
		})
	})
}

// verifierRig builds a key ring over an in-memory store and the verifier
// that wrap makes of the ring's plain verifier.
func verifierRig(t *testing.T, clock ports.Clock, wrap func(*crypto.Verifier, *crypto.KeyRing) ports.TokenVerifier) adaptertest.VerifierRig {
	t.Helper()
	box, err := crypto.NewSecretBox(bytes.Repeat([]byte{0x5e}, crypto.EncryptionKeySize))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := crypto.NewKeyRing(t.Context(), memory.NewSigningKeys(memory.New()), box, clock, system.IDs{},
		crypto.KeyRingConfig{RetainFor: adaptertest.VerifierTTL + crypto.Leeway})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := crypto.NewSigner(ring)
	if err != nil {
		t.Fatal(err)
	}
	v, err := crypto.NewVerifier(ring, adaptertest.VerifierIssuer, adaptertest.VerifierAudience, adaptertest.VerifierTTL, clock)
	if err != nil {
		t.Fatal(err)
	}
	return adaptertest.VerifierRig{
		Verifier:   wrap(v, ring),
		Signer:     signer,
		Rotator:    ring,
		SigningKey: func() (string, ed25519.PrivateKey) { return crypto.SigningKey(t, ring) },
		JWKS:       ring.JWKS,
		Leeway:     crypto.Leeway,
	}
}
