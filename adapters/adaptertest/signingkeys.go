package adaptertest

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/token"
)

// SigningKeys is the contract of ports.SigningKeys.
func SigningKeys(t *testing.T, setup Setup) {
	sealed := func(b byte) []byte { return bytes.Repeat([]byte{b}, 65) }
	newKey := func(name string, b byte, at time.Time) token.SigningKey {
		return token.SigningKey{Kid: name + "-" + unique(), SealedSeed: sealed(b), CreatedAt: at}
	}
	add := func(t *testing.T, s Stores, keys ...token.SigningKey) {
		t.Helper()
		for _, k := range keys {
			mustNotFail(t, "AddSigningKey "+k.Kid, s.Keys.AddSigningKey(t.Context(), k))
		}
	}
	// stored returns the kids and sealed seeds in the store, newest first.
	stored := func(t *testing.T, s Stores) ([]string, [][]byte) {
		t.Helper()
		keys, err := s.Keys.SigningKeys(t.Context())
		mustNotFail(t, "SigningKeys", err)
		var kids []string
		var seeds [][]byte
		for _, k := range keys {
			kids, seeds = append(kids, k.Kid), append(seeds, k.SealedSeed)
		}
		return kids, seeds
	}

	run(t, setup, "no keys", func(t *testing.T, s Stores) {
		if kids, _ := stored(t, s); len(kids) != 0 {
			t.Fatalf("SigningKeys of an empty store = %d keys", len(kids))
		}
	})

	run(t, setup, "keys are listed newest first", func(t *testing.T, s Stores) {
		k1 := newKey("k1", 1, t0)
		k2 := newKey("k2", 2, t0.Add(24*time.Hour))
		k3 := newKey("k3", 3, t0.Add(48*time.Hour+time.Microsecond))
		add(t, s, k2, k1, k3)
		got, err := s.Keys.SigningKeys(t.Context())
		mustNotFail(t, "SigningKeys", err)
		want := []token.SigningKey{k3, k2, k1}
		if len(got) != len(want) {
			t.Fatalf("SigningKeys = %d keys, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i].Kid != want[i].Kid || !bytes.Equal(got[i].SealedSeed, want[i].SealedSeed) || !sameTime(got[i].CreatedAt, want[i].CreatedAt) {
				t.Errorf("key %d = {%s %x %v}, want {%s %x %v}", i, got[i].Kid, got[i].SealedSeed, got[i].CreatedAt,
					want[i].Kid, want[i].SealedSeed, want[i].CreatedAt)
			}
		}
	})

	run(t, setup, "a kid is stored once", func(t *testing.T, s Stores) {
		k := newKey("k", 1, t0)
		add(t, s, k)
		k.SealedSeed, k.CreatedAt = sealed(2), t0.Add(time.Hour)
		if err := s.Keys.AddSigningKey(t.Context(), k); err == nil {
			t.Fatal("AddSigningKey stored a kid twice")
		}
		if _, seeds := stored(t, s); len(seeds) != 1 || !bytes.Equal(seeds[0], sealed(1)) {
			t.Fatalf("stored seeds %x, want the first only", seeds)
		}
	})

	run(t, setup, "reseal replaces only the value it expects", func(t *testing.T, s Stores) {
		ctx := t.Context()
		k, other := newKey("k", 1, t0), newKey("other", 9, t0.Add(time.Hour))
		add(t, s, k, other)
		ok, err := s.Keys.ResealSigningKey(ctx, k.Kid, sealed(7), sealed(2))
		mustNotFail(t, "ResealSigningKey", err)
		if ok {
			t.Fatal("ResealSigningKey replaced a value it did not expect")
		}
		if ok, err = s.Keys.ResealSigningKey(ctx, "no-such-kid", sealed(1), sealed(2)); err != nil || ok {
			t.Fatalf("ResealSigningKey of an unknown kid = %v, %v", ok, err)
		}
		ok, err = s.Keys.ResealSigningKey(ctx, k.Kid, sealed(1), sealed(2))
		mustNotFail(t, "ResealSigningKey", err)
		if !ok {
			t.Fatal("ResealSigningKey did not replace the value it expected")
		}
		// A second instance that read the old value loses.
		if ok, err = s.Keys.ResealSigningKey(ctx, k.Kid, sealed(1), sealed(3)); err != nil || ok {
			t.Fatalf("a second reseal from the same old value = %v, %v", ok, err)
		}
		_, seeds := stored(t, s)
		if len(seeds) != 2 || !bytes.Equal(seeds[0], sealed(9)) || !bytes.Equal(seeds[1], sealed(2)) {
			t.Fatalf("stored seeds %x, want [other's, resealed]", seeds)
		}
	})

	run(t, setup, "delete removes only the named keys", func(t *testing.T, s Stores) {
		k1, k2, k3 := newKey("k1", 1, t0), newKey("k2", 2, t0.Add(time.Hour)), newKey("k3", 3, t0.Add(2*time.Hour))
		add(t, s, k1, k2, k3)
		n, err := s.Keys.DeleteSigningKeys(t.Context(), []string{k1.Kid, k3.Kid, "no-such-kid"})
		mustNotFail(t, "DeleteSigningKeys", err)
		if n != 2 {
			t.Errorf("DeleteSigningKeys = %d, want 2", n)
		}
		if n, err := s.Keys.DeleteSigningKeys(t.Context(), nil); err != nil || n != 0 {
			t.Errorf("DeleteSigningKeys(none) = %d, %v", n, err)
		}
		if kids, _ := stored(t, s); !slices.Equal(kids, []string{k2.Kid}) {
			t.Fatalf("kids left %v, want [%s]", kids, k2.Kid)
		}
	})

	run(t, setup, "rollback keeps the keys as they were", func(t *testing.T, s Stores) {
		k1, k2 := newKey("k1", 1, t0), newKey("k2", 2, t0.Add(time.Hour))
		add(t, s, k1, k2)
		err := s.Tx.WithinTx(t.Context(), func(ctx context.Context) error {
			if ok, err := s.Keys.ResealSigningKey(ctx, k2.Kid, sealed(2), sealed(5)); err != nil || !ok {
				t.Errorf("ResealSigningKey in a transaction = %v, %v", ok, err)
			}
			if n, err := s.Keys.DeleteSigningKeys(ctx, []string{k1.Kid}); err != nil || n != 1 {
				t.Errorf("DeleteSigningKeys in a transaction = %d, %v", n, err)
			}
			mustNotFail(t, "AddSigningKey", s.Keys.AddSigningKey(ctx, newKey("k3", 3, t0.Add(2*time.Hour))))
			return errBoom
		})
		wantErr(t, "WithinTx", err, errBoom)
		kids, seeds := stored(t, s)
		if !slices.Equal(kids, []string{k2.Kid, k1.Kid}) || !bytes.Equal(seeds[0], sealed(2)) || !bytes.Equal(seeds[1], sealed(1)) {
			t.Fatalf("after a rollback: kids %v, seeds %x", kids, seeds)
		}
	})
}
