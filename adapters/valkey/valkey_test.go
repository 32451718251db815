package valkey_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/adaptertest"
	"github.com/usermgmt/usermgmt/adapters/valkey"
)

// addr is the real server the tests use (USERMGMT_TEST_VALKEY_ADDR).
func addr() string {
	if a := os.Getenv("USERMGMT_TEST_VALKEY_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// open connects with a key prefix of its own, so tests never see each
// other's keys; without a server it skips, but fails under CI=true.
func open(t *testing.T) *valkey.Store {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	s, err := valkey.Open(addr(), "usermgmt-test:"+hex.EncodeToString(b[:])+":")
	if err == nil {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		err = s.Ping(ctx)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Valkey/Redis at %s: %v", addr(), err)
		}
		t.Skipf("Valkey/Redis at %s unreachable (set USERMGMT_TEST_VALKEY_ADDR): %v", addr(), err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestLimitsContract(t *testing.T) {
	adaptertest.Limits(t, func(t *testing.T) adaptertest.LimitStores {
		l := valkey.NewLimits(open(t))
		return adaptertest.LimitStores{Limiter: l, Failures: l}
	})
}

// TestUnreachableFailsFast_LO06: with the server gone every call errors
// quickly, so callers can fail closed instead of hanging or allowing.
func TestUnreachableFailsFast_LO06(t *testing.T) {
	s, err := valkey.Open("127.0.0.1:1", "x:")
	if err == nil {
		defer s.Close()
		l := valkey.NewLimits(s)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if ok, _, err := l.Take(ctx, "k", 10, time.Minute); err == nil || ok {
			t.Fatalf("Take without a server: ok=%v err=%v, want an error", ok, err)
		}
	}
}
