package adaptertest

import (
	"bytes"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/token"
)

// SigningKeys is the contract of ports.SigningKeys.
func SigningKeys(t *testing.T, setup Setup) {
	run(t, setup, "no keys", func(t *testing.T, s Stores) {
		keys, err := s.Keys.SigningKeys(t.Context())
		mustNotFail(t, "SigningKeys", err)
		if len(keys) != 0 {
			t.Fatalf("SigningKeys of an empty store = %d keys", len(keys))
		}
	})

	run(t, setup, "keys are listed newest first", func(t *testing.T, s Stores) {
		ctx := t.Context()
		seed := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
		k1 := token.SigningKey{Kid: "k1-" + unique(), Seed: seed(1), CreatedAt: t0}
		k2 := token.SigningKey{Kid: "k2-" + unique(), Seed: seed(2), CreatedAt: t0.Add(24 * time.Hour)}
		k3 := token.SigningKey{Kid: "k3-" + unique(), Seed: seed(3), CreatedAt: t0.Add(48*time.Hour + time.Microsecond)}
		for _, k := range []token.SigningKey{k2, k1, k3} {
			mustNotFail(t, "AddSigningKey "+k.Kid, s.Keys.AddSigningKey(ctx, k))
		}
		got, err := s.Keys.SigningKeys(ctx)
		mustNotFail(t, "SigningKeys", err)
		want := []token.SigningKey{k3, k2, k1}
		if len(got) != len(want) {
			t.Fatalf("SigningKeys = %d keys, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i].Kid != want[i].Kid || !bytes.Equal(got[i].Seed, want[i].Seed) || !sameTime(got[i].CreatedAt, want[i].CreatedAt) {
				t.Errorf("key %d = {%s %x %v}, want {%s %x %v}", i, got[i].Kid, got[i].Seed, got[i].CreatedAt,
					want[i].Kid, want[i].Seed, want[i].CreatedAt)
			}
		}
	})
}
