package crypto

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/usermgmt/usermgmt/core/credential"
)

// Bounds of an imported bcrypt hash. The cost is data from another
// system: without a ceiling, one row of cost 31 (days of work) would turn
// its sign-in into a denial of service. 14 is about a second, above what
// any deployment uses (10 to 12).
const (
	bcryptMinCost = bcrypt.MinCost
	bcryptMaxCost = 14
	bcryptLen     = 60 // $2b$10$ + 22 characters of salt + 31 of hash
)

// isBcrypt reports whether h claims bcrypt's format; checkBcrypt says
// whether it is well formed.
func isBcrypt(h credential.PasswordHash) bool {
	return strings.HasPrefix(string(h), "$2")
}

// checkBcrypt accepts the versions the Node.js libraries write ($2a$,
// $2b$) and PHP's $2y$, which are the same algorithm; $2x$ marks hashes of
// a buggy implementation, and $2$ predates the fix of non-ASCII input.
func checkBcrypt(h credential.PasswordHash) error {
	s := string(h)
	if len(s) < 4 || (s[:4] != "$2a$" && s[:4] != "$2b$" && s[:4] != "$2y$") {
		return credential.UnsupportedHash("bcrypt hashes must start $2a$, $2b$ or $2y$")
	}
	if len(s) != bcryptLen {
		return credential.UnsupportedHash(fmt.Sprintf("a bcrypt hash has %d characters", bcryptLen))
	}
	for _, c := range []byte(s[7:]) {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '.' && c != '/' {
			return credential.UnsupportedHash("the salt and hash of a bcrypt hash are in bcrypt's base64")
		}
	}
	cost, err := bcrypt.Cost([]byte(s))
	if err != nil || s[6] != '$' {
		return credential.UnsupportedHash("malformed bcrypt hash")
	}
	if cost < bcryptMinCost || cost > bcryptMaxCost {
		return credential.UnsupportedHash(fmt.Sprintf("bcrypt cost %d is outside %d..%d", cost, bcryptMinCost, bcryptMaxCost))
	}
	return nil
}

// CheckHash implements ports.HashChecker: Verify checks passwords against
// argon2id hashes within the bounds of parsePHC and bcrypt hashes within
// those of checkBcrypt.
func (h *Argon2Hasher) CheckHash(stored credential.PasswordHash) error {
	if isBcrypt(stored) {
		return checkBcrypt(stored)
	}
	if !strings.HasPrefix(string(stored), "$argon2id$") {
		return credential.ErrUnsupportedHash
	}
	if _, err := parsePHC(string(stored)); err != nil {
		// parsePHC's reasons name parameters, never the salt or key.
		return credential.UnsupportedHash(strings.TrimPrefix(err.Error(), ErrInvalidHash.Error()+": "))
	}
	return nil
}

// verifyBcrypt checks password against a bcrypt hash in a hashing slot,
// like argon2, so imported accounts share the bound on concurrent work. A
// match always asks for a rehash: the account moves to argon2id at its
// first sign-in. The password is checked as typed, without the NFKC
// normalisation argon2id hashes get, since the system that made the hash
// did not normalise it; as bcrypt does everywhere, only its first 72
// bytes count.
func (h *Argon2Hasher) verifyBcrypt(ctx context.Context, password string, stored credential.PasswordHash) (ok, rehash bool, err error) {
	if err := checkBcrypt(stored); err != nil {
		return false, false, fmt.Errorf("bcrypt verify: %w: %w", ErrInvalidHash, err)
	}
	if len(password) > maxInputBytes {
		return false, false, nil
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer release()
	err = bcrypt.CompareHashAndPassword([]byte(stored), []byte(password))
	switch {
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, false, nil
	case err != nil:
		return false, false, fmt.Errorf("bcrypt verify: %w", err)
	}
	return true, true, nil
}
