package token_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/usermgmt/usermgmt/core/token"
)

func TestSigningKey_SeedNeverPrinted_SE10(t *testing.T) {
	k := token.SigningKey{Kid: "k1", SealedSeed: []byte("THIS-IS-A-SECRET-SEED-0123456789")}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("key", "k", k)
	for _, out := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %x %q", k, k, k, k, k, k), logs.String()} {
		if strings.Contains(out, "SECRET") || strings.Contains(out, fmt.Sprintf("%x", k.SealedSeed)) {
			t.Fatalf("seed printed: %s", out)
		}
		if !strings.Contains(out, "k1") {
			t.Fatalf("kid missing: %s", out)
		}
	}
}
