package crypto

import (
	"crypto/ed25519"
	"testing"
)

// SigningKey returns r's current signing key, for the contract suite's
// forgeries.
func SigningKey(t *testing.T, r *KeyRing) (string, ed25519.PrivateKey) {
	t.Helper()
	k, ok := r.state.Load().signer(r.clock.Now())
	if !ok {
		t.Fatal("key ring: no signing key")
	}
	return k.kid, k.priv.key
}
