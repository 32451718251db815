package crypto_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/usermgmt/usermgmt/adapters/crypto"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, crypto.EncryptionKeySize) }

func newBox(t *testing.T, keys ...[]byte) *crypto.SecretBox {
	t.Helper()
	b, err := crypto.NewSecretBox(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSecretBox_AtRest_MF04: sealed seeds open only under the context they
// were sealed for, and any change to a sealed value is detected.
func TestSecretBox_AtRest_MF04(t *testing.T) {
	box := newBox(t, key(1))
	secret := []byte("12345678901234567890")
	ctxA, ctxB := []byte("totp:user-a"), []byte("totp:user-b")
	sealed, err := box.Seal(secret, ctxA)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatal("the sealed value contains the secret")
	}
	again, _ := box.Seal(secret, ctxA)
	if bytes.Equal(sealed, again) {
		t.Error("two seals of one secret are equal: the nonce is not fresh")
	}
	got, err := box.Open(sealed, ctxA)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := box.Open(sealed, ctxB); err == nil {
		t.Error("a value sealed for user a opened for user b")
	}
	for i := range sealed {
		tampered := bytes.Clone(sealed)
		tampered[i] ^= 0x01
		if _, err := box.Open(tampered, ctxA); err == nil {
			t.Fatalf("flipping a bit of byte %d went unnoticed", i)
		}
	}
	for _, short := range [][]byte{nil, {1}, sealed[:20]} {
		if _, err := box.Open(short, ctxA); err == nil {
			t.Errorf("a %d-byte value opened", len(short))
		}
	}
	if _, err := newBox(t, key(2)).Open(sealed, ctxA); err == nil {
		t.Error("another key opened the value")
	}
}

// TestSecretBox_KeyRotation: the first key seals, every key opens.
func TestSecretBox_KeyRotation(t *testing.T) {
	old := newBox(t, key(1))
	sealedOld, _ := old.Seal([]byte("seed"), []byte("c"))
	rotated := newBox(t, key(2), key(1))
	if got, err := rotated.Open(sealedOld, []byte("c")); err != nil || string(got) != "seed" {
		t.Fatalf("the rotated box cannot open the old value: %v", err)
	}
	sealedNew, _ := rotated.Seal([]byte("seed"), []byte("c"))
	if _, err := old.Open(sealedNew, []byte("c")); err == nil {
		t.Error("a new value was sealed with the old key")
	}
	if _, err := crypto.NewSecretBox(key(1), key(1)); err == nil {
		t.Error("the same key twice was accepted")
	}
	if _, err := crypto.NewSecretBox(key(1)[:16]); err == nil {
		t.Error("a 16-byte key was accepted")
	}
	if _, err := crypto.NewSecretBox(); err == nil {
		t.Error("no key was accepted")
	}
}

// TestSecretBox_Redacted_SE10: a box in a log line or an error shows no key.
func TestSecretBox_Redacted_SE10(t *testing.T) {
	k := key(0x41) // "AAAA..."
	box := newBox(t, k)
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("box", "box", box)
	out := fmt.Sprintf("%v %+v %#v %s", box, box, box, box) + logs.String()
	if strings.Contains(out, "AAAA") || strings.Contains(out, base64.StdEncoding.EncodeToString(k)[:8]) {
		t.Errorf("key material in %q", out)
	}
}

func TestParseEncryptionKeys(t *testing.T) {
	k1, k2 := key(1), key(2)
	in := base64.StdEncoding.EncodeToString(k1) + " , " + fmt.Sprintf("%x", k2) + "," + base64.RawURLEncoding.EncodeToString(k1[:31])
	if _, err := crypto.ParseEncryptionKeys(in); err == nil || !strings.Contains(err.Error(), "key 3") {
		t.Errorf("a 31-byte key: %v", err)
	}
	keys, err := crypto.ParseEncryptionKeys(base64.RawURLEncoding.EncodeToString(k1) + "," + fmt.Sprintf("%x", k2))
	if err != nil || len(keys) != 2 || !bytes.Equal(keys[0], k1) || !bytes.Equal(keys[1], k2) {
		t.Fatalf("keys = %x, %v", keys, err)
	}
	secret := "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA" // not 32 bytes
	_, err = crypto.ParseEncryptionKeys(secret)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("error %v must refuse without quoting the key", err)
	}
	if _, err := crypto.ParseEncryptionKeys(" , "); err == nil {
		t.Error("an empty list was accepted")
	}
}

// TestLoadOrCreateKeyFile: the embedded default's key is made once, kept
// private, and every process that starts at once gets the same one.
func TestLoadOrCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "encryption.key")
	keys := make([][]byte, 8)
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() { keys[i], errs[i] = crypto.LoadOrCreateKeyFile(path) })
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil || !bytes.Equal(keys[i], keys[0]) || len(keys[i]) != crypto.EncryptionKeySize {
			t.Fatalf("caller %d: %x, %v (first: %x)", i, keys[i], errs[i], keys[0])
		}
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v, %v", st.Mode(), err)
	}
	again, err := crypto.LoadOrCreateKeyFile(path)
	if err != nil || !bytes.Equal(again, keys[0]) {
		t.Fatalf("reload: %x, %v", again, err)
	}
	if err := os.WriteFile(path, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := crypto.LoadOrCreateKeyFile(path); err == nil {
		t.Error("a corrupt key file was accepted")
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".key-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

// TestKeyFileMode_SE12: the generated key file is the owner's alone in a
// directory only the owner enters, and a key file left readable by others
// is tightened when it is loaded.
func TestKeyFileMode_SE12(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "encryption.key")
	want, err := crypto.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]os.FileMode{path: 0o600, dir: 0o700 | os.ModeDir} {
		if st, err := os.Stat(name); err != nil || st.Mode() != m {
			t.Errorf("%s: mode %v, %v; want %v", name, st.Mode(), err, m)
		}
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := crypto.LoadOrCreateKeyFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("reload: %v", err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("existing key file: mode %v, %v; want 0600", st.Mode(), err)
	}
}
