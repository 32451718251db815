package main

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/usermgmt/usermgmt/pkg/usermgmt"
)

// TestWorkerKeysRotate_SE12: `keys rotate` adds a signing key and leaves
// tokens of the old one valid; `keys rotate --now` retires every old key,
// so tokens issued before fail, and the service signs with the new key.
func TestWorkerKeysRotate_SE12(t *testing.T) {
	env := map[string]string{
		"USERMGMT_DATA_DIR":       t.TempDir(),
		"USERMGMT_ENCRYPTION_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"USERMGMT_LOG_LEVEL":      "error",
	}
	getenv := func(k string) string { return env[k] }
	cfg, err := usermgmt.FromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	// Each check starts the service afresh: it loads the keys at start.
	service := func(t *testing.T) *usermgmt.Service {
		t.Helper()
		svc, err := usermgmt.New(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = svc.Close() })
		return svc
	}
	kids := func(svc *usermgmt.Service) int {
		var set struct{ Keys []struct{ Kid string } }
		if err := json.Unmarshal(svc.JWKS(), &set); err != nil {
			t.Fatal(err)
		}
		return len(set.Keys)
	}
	svc := service(t)
	_, before, err := svc.Register(t.Context(), "ada@example.com", "ada", "correct horse battery staple", "", usermgmt.Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	_ = svc.Close()

	if err := run(t.Context(), []string{"keys", "rotate"}, getenv); err != nil {
		t.Fatalf("keys rotate: %v", err)
	}
	svc = service(t)
	if _, err := svc.Verify(t.Context(), before.AccessToken); err != nil {
		t.Fatalf("after keys rotate, a token of the old key: %v (it must verify for a token lifetime)", err)
	}
	if n := kids(svc); n != 2 {
		t.Fatalf("after keys rotate, JWKS has %d keys, want the new and the old", n)
	}
	_ = svc.Close()

	if err := run(t.Context(), []string{"keys", "rotate", "--now"}, getenv); err != nil {
		t.Fatalf("keys rotate --now: %v", err)
	}
	svc = service(t)
	if _, err := svc.Verify(t.Context(), before.AccessToken); !usermgmt.IsUnauthenticated(err) {
		t.Fatalf("after keys rotate --now, a token of a retired key: %v, want unauthenticated", err)
	}
	if n := kids(svc); n != 1 {
		t.Fatalf("after keys rotate --now, JWKS has %d keys, want 1", n)
	}
	_, after, err := svc.Login(t.Context(), "ada", "correct horse battery staple", usermgmt.Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Verify(t.Context(), after.AccessToken); err != nil {
		t.Fatalf("a token of the new key: %v", err)
	}
}

func TestWorkerUsage(t *testing.T) {
	getenv := func(string) string { return "" }
	for _, args := range [][]string{nil, {"keys"}, {"keys", "turn"}, {"keys", "rotate", "--later"}, {"keys", "rotate", "now"}, {"migrate", "extra"}, {"nope"}} {
		if err := run(t.Context(), args, getenv); !errors.Is(err, errUsage) {
			t.Errorf("worker %q: %v, want the usage", args, err)
		}
	}
}
