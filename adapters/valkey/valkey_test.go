package valkey_test

import (
	"context"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/adaptertest"
	"github.com/usermgmt/usermgmt/adapters/valkey"
	"github.com/usermgmt/usermgmt/adapters/valkey/valkeytest"
)

func TestLimitsContract(t *testing.T) {
	adaptertest.Limits(t, func(t *testing.T) adaptertest.LimitStores {
		l := valkey.NewLimits(valkeytest.Open(t))
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
