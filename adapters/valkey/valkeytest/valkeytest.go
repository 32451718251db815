// Package valkeytest gives tests a connection to the real Valkey (or
// Redis) at USERMGMT_TEST_VALKEY_ADDR (default 127.0.0.1:6379), with a key
// prefix of its own so parallel tests never see each other's keys.
//
// Tests skip with a message naming the server when it is unreachable, and
// fail instead when CI=true.
package valkeytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/valkey"
)

// EnvAddr names the variable that points the tests at a server.
const EnvAddr = "USERMGMT_TEST_VALKEY_ADDR"

// Addr is the server the tests use.
func Addr() string {
	if a := os.Getenv(EnvAddr); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// Open connects to Addr with a fresh key prefix and closes the connection
// when t ends.
func Open(t testing.TB) *valkey.Store {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	return OpenAt(t, Addr(), "usermgmt-test:"+hex.EncodeToString(b[:])+":")
}

// Peer opens another connection with s's prefix: a second instance of the
// service sharing s's state.
func Peer(t testing.TB, s *valkey.Store) *valkey.Store {
	t.Helper()
	return OpenAt(t, Addr(), s.Prefix())
}

// OpenAt connects to addr (Addr, or a Proxy's) with prefix and closes the
// connection when t ends.
func OpenAt(t testing.TB, addr, prefix string) *valkey.Store {
	t.Helper()
	s, err := valkey.Open(addr, prefix)
	if err == nil {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		err = s.Ping(ctx)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Valkey/Redis at %s: %v", Addr(), err)
		}
		t.Skipf("Valkey/Redis at %s unreachable (set %s): %v", Addr(), EnvAddr, err)
	}
	t.Cleanup(s.Close)
	return s
}
