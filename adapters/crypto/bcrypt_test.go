package crypto

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/errs"
)

// bcryptVectors are hashes other implementations made: jBCrypt's test
// vectors ($2a$) and PHP's password_hash example ($2y$). $2b$ is $2a$ with
// OpenBSD's fix for passwords over 255 bytes, so the same hash verifies.
var bcryptVectors = []struct {
	password string
	hash     credential.PasswordHash
}{
	{"", "$2a$06$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s."},
	{"abc", "$2a$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i"},
	{"abc", "$2b$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i"},
	{"rasmuslerdorf", "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a"},
}

// TestBcrypt_ImportedHashes: a bcrypt hash verifies its password and asks
// for a rehash, so the account moves to argon2id at its first sign-in; a
// wrong password fails without one.
func TestBcrypt_ImportedHashes(t *testing.T) {
	h := newTestHasher(t, tinyParams)
	for _, v := range bcryptVectors {
		if err := h.CheckHash(v.hash); err != nil {
			t.Errorf("CheckHash(%s): %v", v.hash[:7], err)
		}
		if ok, rehash := verify(t, h, v.password, v.hash); !ok || !rehash {
			t.Errorf("Verify(%q, %s) = %v, %v; want a match to rehash", v.password, v.hash[:7], ok, rehash)
		}
		if ok, rehash := verify(t, h, v.password+"x", v.hash); ok || rehash {
			t.Errorf("Verify(wrong, %s) = %v, %v", v.hash[:7], ok, rehash)
		}
	}
}

// TestBcrypt_Bulkhead_PW08: bcrypt runs in the hashing slots too, so
// imported accounts cannot take more CPU at once than argon2 may.
func TestBcrypt_Bulkhead_PW08(t *testing.T) {
	h := newTestHasher(t, tinyParams, WithMaxConcurrency(1), WithMaxWait(0))
	if err := h.slots.AcquirePermit(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer h.slots.ReleasePermit()
	_, _, err := h.Verify(t.Context(), "abc", bcryptVectors[1].hash)
	if !errors.Is(err, ErrOverloaded) {
		t.Fatalf("Verify with every slot taken: %v, want ErrOverloaded", err)
	}
}

// TestCheckHash: hashes an import may store are those Verify can check;
// the reasons for the others never repeat the hash.
func TestCheckHash(t *testing.T) {
	h := newTestHasher(t, tinyParams)
	if err := h.CheckHash(mustHash(t, h, "correct horse")); err != nil {
		t.Errorf("an argon2id hash of ours: %v", err)
	}
	cost15, err := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cost15[4], cost15[5] = '1', '5'
	valid := string(bcryptVectors[1].hash)
	for name, bad := range map[string]string{
		"empty":            "",
		"md5 crypt":        "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",
		"sha512 crypt":     "$6$rounds=5000$saltsalt$abc",
		"plain text":       "hunter22",
		"argon2i":          "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA",
		"argon2id huge m":  "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA",
		"bcrypt 2x":        "$2x$" + valid[4:],
		"bcrypt 2":         "$2$" + valid[4:],
		"bcrypt short":     valid[:59],
		"bcrypt bad chars": valid[:40] + "!" + valid[41:],
		"bcrypt cost 15":   string(cost15),
		"bcrypt cost 03":   "$2a$03$" + valid[7:],
	} {
		err := h.CheckHash(credential.PasswordHash(bad))
		if !errors.Is(err, credential.ErrUnsupportedHash) || errs.KindOf(err) != errs.Invalid {
			t.Errorf("%s: %v, want ErrUnsupportedHash", name, err)
			continue
		}
		if len(bad) > 8 && strings.Contains(err.Error(), bad[8:]) {
			t.Errorf("%s: the reason %q repeats the hash", name, err)
		}
		if isBcrypt(credential.PasswordHash(bad)) {
			if _, _, err := h.Verify(t.Context(), "x", credential.PasswordHash(bad)); err == nil {
				t.Errorf("%s: Verify accepted it", name)
			}
		}
	}
}
