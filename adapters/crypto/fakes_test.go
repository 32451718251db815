package crypto

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/token"
)

// fakeClock is a settable ports.Clock. It is lock-free so that benchmarks
// of the cache measure the cache, not the clock.
type fakeClock struct{ unixNano atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.unixNano.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time { return time.Unix(0, c.unixNano.Load()).UTC() }

func (c *fakeClock) Advance(d time.Duration) { c.unixNano.Add(int64(d)) }

// fakeIDs makes sequential ids and real random secrets.
type fakeIDs struct{ n atomic.Int64 }

func (f *fakeIDs) NewID() string { return fmt.Sprintf("id-%d", f.n.Add(1)) }

func (f *fakeIDs) NewSecret(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// keyStore is an in-memory ports.SigningKeys that counts reads, so tests
// can prove token checks never reach the store.
type keyStore struct {
	mu    sync.Mutex
	keys  []token.SigningKey
	reads atomic.Int64
}

func (s *keyStore) SigningKeys(context.Context) ([]token.SigningKey, error) {
	s.reads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.keys)
	slices.SortStableFunc(out, func(a, b token.SigningKey) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

func (s *keyStore) AddSigningKey(_ context.Context, k token.SigningKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k.SealedSeed = slices.Clone(k.SealedSeed)
	s.keys = append(s.keys, k)
	return nil
}

func (s *keyStore) ResealSigningKey(_ context.Context, kid string, old, sealed []byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.keys {
		if s.keys[i].Kid == kid && bytes.Equal(s.keys[i].SealedSeed, old) {
			s.keys[i].SealedSeed = slices.Clone(sealed)
			return true, nil
		}
	}
	return false, nil
}

func (s *keyStore) DeleteSigningKeys(_ context.Context, kids []string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.keys)
	s.keys = slices.DeleteFunc(s.keys, func(k token.SigningKey) bool { return slices.Contains(kids, k.Kid) })
	return n - len(s.keys), nil
}

// testBox seals the fake store's keys.
func testBox(t testing.TB) *SecretBox {
	t.Helper()
	b, err := NewSecretBox(bytes.Repeat([]byte{0x5e}, EncryptionKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
