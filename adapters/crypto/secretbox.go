package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/usermgmt/usermgmt/ports"
)

// EncryptionKeySize is the size of a SecretBox key: AES-256.
const EncryptionKeySize = 32

// SecretBox is ports.SecretBox with AES-256-GCM. The first key seals; every
// key opens, so keys rotate by putting a new one first and dropping the old
// one once nothing sealed with it remains. A sealed value is
//
//	version (1) || key id (4) || nonce (12) || ciphertext || tag (16)
//
// and its header and context are the GCM additional data, so neither the
// key id nor the owner a value was sealed for can be changed unnoticed.
type SecretBox struct {
	keys []boxKey // keys[0] seals
}

type boxKey struct {
	id   [4]byte
	aead cipher.AEAD
}

var _ ports.SecretBox = (*SecretBox)(nil)

const boxVersion = 1

var errSealed = errors.New("crypto: sealed value is malformed or was sealed for another context or key")

// NewSecretBox returns a box over keys, each EncryptionKeySize bytes; the
// first one seals.
func NewSecretBox(keys ...[]byte) (*SecretBox, error) {
	if len(keys) == 0 {
		return nil, errors.New("crypto: at least one encryption key is required")
	}
	b := &SecretBox{}
	for i, k := range keys {
		if len(k) != EncryptionKeySize {
			return nil, fmt.Errorf("crypto: encryption key %d is %d bytes, want %d", i+1, len(k), EncryptionKeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("crypto: encryption key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("crypto: encryption key %d: %w", i+1, err)
		}
		var id [4]byte
		sum := sha256.Sum256(append([]byte("usermgmt secretbox key id\x00"), k...))
		copy(id[:], sum[:])
		for _, o := range b.keys {
			if o.id == id {
				return nil, fmt.Errorf("crypto: encryption key %d is given twice", i+1)
			}
		}
		b.keys = append(b.keys, boxKey{id: id, aead: aead})
	}
	return b, nil
}

// Seal encrypts plaintext for context with the first key and a random nonce.
func (b *SecretBox) Seal(plaintext, context []byte) ([]byte, error) {
	k := b.keys[0]
	out := make([]byte, 5, 5+k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	out[0] = boxVersion
	copy(out[1:5], k.id[:])
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("crypto: nonce: %w", err)
	}
	header := out[:5]
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, plaintext, additional(header, context)), nil
}

// Open decrypts a value sealed for context by any of the box's keys.
func (b *SecretBox) Open(sealed, context []byte) ([]byte, error) {
	if len(sealed) < 5 || sealed[0] != boxVersion {
		return nil, errSealed
	}
	for _, k := range b.keys {
		if string(k.id[:]) != string(sealed[1:5]) {
			continue
		}
		ns := k.aead.NonceSize()
		if len(sealed) < 5+ns+k.aead.Overhead() {
			return nil, errSealed
		}
		nonce, ct := sealed[5:5+ns], sealed[5+ns:]
		pt, err := k.aead.Open(nil, nonce, ct, additional(sealed[:5], context))
		if err != nil {
			return nil, errSealed
		}
		return pt, nil
	}
	return nil, errSealed
}

func additional(header, context []byte) []byte {
	return append(append(append([]byte(nil), header...), 0), context...)
}

// String redacts the keys, so a box can never reach a log by accident.
func (b *SecretBox) String() string { return fmt.Sprintf("SecretBox{keys=%d, REDACTED}", len(b.keys)) }

// Format redacts the keys for every fmt verb.
func (b *SecretBox) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, b.String()) }

// LogValue redacts the keys for log/slog.
func (b *SecretBox) LogValue() slog.Value { return slog.StringValue(b.String()) }

// ParseEncryptionKeys reads a comma-separated list of keys, each 32 bytes
// in base64 (standard or URL alphabet, padded or not) or hex. Errors never
// quote a key.
func ParseEncryptionKeys(s string) ([][]byte, error) {
	var keys [][]byte
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, ok := decodeKey(part)
		if !ok {
			return nil, fmt.Errorf("key %d is not %d bytes in base64 or hex (generate one with `openssl rand -base64 32`)", i+1, EncryptionKeySize)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no key given")
	}
	return keys, nil
}

func decodeKey(s string) ([]byte, bool) {
	if len(s) == 2*EncryptionKeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, true
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == EncryptionKeySize {
			return k, true
		}
	}
	return nil, false
}

// LoadOrCreateKeyFile returns the key kept in path, creating the file
// (mode 0600, a random key in base64) when it does not exist and taking
// group and other access away from one that has it (SE-12). Two processes
// that start together agree on one key: the file is created exclusively.
func LoadOrCreateKeyFile(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil { //nolint:gosec // the operator's own data directory
		k, ok := decodeKey(strings.TrimSpace(string(b)))
		if !ok {
			return nil, fmt.Errorf("crypto: %s does not hold a %d-byte key in base64", path, EncryptionKeySize)
		}
		if err := ownerOnly(path); err != nil {
			return nil, err
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("crypto: read key file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("crypto: key file directory: %w", err)
	}
	k := make([]byte, EncryptionKeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("crypto: generate key: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return nil, fmt.Errorf("crypto: create key file: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.WriteString(base64.StdEncoding.EncodeToString(k) + "\n"); err != nil {
		_ = tmp.Close()
		return nil, fmt.Errorf("crypto: write key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return nil, fmt.Errorf("crypto: write key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("crypto: write key file: %w", err)
	}
	// A hard link fails if path exists: whoever links first wins, and the
	// loser reads the winner's key. The file is never seen half-written.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return LoadOrCreateKeyFile(path)
		}
		return nil, fmt.Errorf("crypto: install key file: %w", err)
	}
	return k, nil
}

// ownerOnly takes group and other access away from the file at path; it
// leaves a file that has none alone (it may be on a read-only mount).
func ownerOnly(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("crypto: key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(path, fi.Mode().Perm()&0o700); err != nil {
		return fmt.Errorf("crypto: restrict key file to its owner: %w", err)
	}
	return nil
}
