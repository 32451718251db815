package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usermgmt/usermgmt/pkg/usermgmt"
)

const testEncryptionKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// runQuiet runs the worker with empty standard input and discarded output.
func runQuiet(ctx context.Context, args []string, getenv func(string) string) error {
	var out, errs bytes.Buffer
	return run(ctx, args, getenv, console{in: strings.NewReader(""), out: &out, err: &errs})
}

// TestWorkerKeysRotate_SE12: `keys rotate` adds a signing key and leaves
// tokens of the old one valid; `keys rotate --now` retires every old key,
// so tokens issued before fail, and the service signs with the new key.
func TestWorkerKeysRotate_SE12(t *testing.T) {
	env := map[string]string{
		"USERMGMT_DATA_DIR":       t.TempDir(),
		"USERMGMT_ENCRYPTION_KEY": testEncryptionKey,
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

	if err := runQuiet(t.Context(), []string{"keys", "rotate"}, getenv); err != nil {
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

	if err := runQuiet(t.Context(), []string{"keys", "rotate", "--now"}, getenv); err != nil {
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

// TestWorkerUsage: arguments the worker does not understand are refused
// before the configuration is read (an empty environment would do).
func TestWorkerUsage(t *testing.T) {
	getenv := func(string) string { return "" }
	for _, args := range [][]string{nil, {"keys"}, {"keys", "turn"}, {"keys", "rotate", "--later"}, {"keys", "rotate", "now"},
		{"migrate", "extra"}, {"nope"}, {"users"}, {"users", "import"}, {"users", "import", "a.jsonl", "b.jsonl"},
		{"users", "import", "file.txt"}, {"users", "import", "-"}, {"users", "import", "--format", "xml", "a.csv"},
		{"users", "export", "a", "b"}, {"audit"}, {"audit", "verify", "now"}, {"prune", "--all"}, {"seed"}, {"seed", "0"},
		{"seed", "many"}, {"create-admin"}, {"create-admin", "a@example.com", "password"}} {
		if err := runQuiet(t.Context(), args, getenv); !errors.Is(err, errUsage) {
			t.Errorf("worker %q: %v, want the usage", args, err)
		}
	}
}

// TestWorkerHelp: help lists every command, and a command's --help its own.
func TestWorkerHelp(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"help"}, func(string) string { return "" }, console{in: strings.NewReader(""), out: &out, err: &out}); err != nil {
		t.Fatal(err)
	}
	for _, c := range commands {
		if !strings.Contains(out.String(), "worker "+c.name) {
			t.Errorf("help does not list %q", c.name)
		}
	}
	if !strings.Contains(out.String(), "run it again to resume") {
		t.Error("help does not say that an import resumes")
	}
	out.Reset()
	if err := run(t.Context(), []string{"users", "import", "--help"}, func(string) string { return "" }, console{in: strings.NewReader(""), out: &out, err: &out}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "--dry-run") || !strings.Contains(out.String(), "passwordHash") {
		t.Errorf("users import --help: %s", out.String())
	}
}

// The doc comment of main lists the commands too.
func TestWorkerDocListsCommands(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(".", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	doc, _, _ := strings.Cut(string(src), "package main")
	for _, c := range commands {
		if c.name != "help" && !strings.Contains(doc, "worker "+c.name) {
			t.Errorf("the doc comment of main does not list %q", c.name)
		}
	}
}
