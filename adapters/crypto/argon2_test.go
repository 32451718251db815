package crypto

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"golang.org/x/crypto/argon2"

	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/errs"
)

// tinyParams keep tests fast; the PHC fixture alone uses real cost.
var tinyParams = Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

func newTestHasher(t *testing.T, p Argon2Params, opts ...Argon2Option) *Argon2Hasher {
	t.Helper()
	h, err := NewArgon2Hasher(p, opts...)
	if err != nil {
		t.Fatalf("NewArgon2Hasher: %v", err)
	}
	return h
}

func mustHash(t *testing.T, h *Argon2Hasher, pw string) credential.PasswordHash {
	t.Helper()
	ph, err := h.Hash(t.Context(), pw)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	return ph
}

func verify(t *testing.T, h *Argon2Hasher, pw string, ph credential.PasswordHash) (ok, rehash bool) {
	t.Helper()
	ok, rehash, err := h.Verify(t.Context(), pw, ph)
	if err != nil {
		t.Fatalf("Verify(%q): %v", pw, err)
	}
	return ok, rehash
}

// phcOf builds a PHC string the way any conforming implementation would.
func phcOf(t, m uint32, p uint8, salt, key []byte) credential.PasswordHash {
	e := base64.RawStdEncoding
	return credential.PasswordHash(fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, t, p, e.EncodeToString(salt), e.EncodeToString(key)))
}

// TestArgon2_XCryptoVectors_PW07 runs the Argon2id reference rows of docs/security.md
// through argon2.IDKey and then through Verify as PHC strings, so the
// wrapper's parsing and parameter plumbing is checked against known output.
func TestArgon2_XCryptoVectors_PW07(t *testing.T) {
	vectors := []struct {
		t, m uint32
		p    uint8
		want string
	}{
		{1, 64, 1, "655ad15eac652dc59f7170a7332bf49b8469be1fdb9c28bb"},
		{2, 64, 1, "068d62b26455936aa6ebe60060b0a65870dbfa3ddf8d41f7"},
		{2, 64, 2, "350ac37222f436ccb5c0972f1ebd3bf6b958bf2071841362"},
		{3, 256, 2, "4668d30ac4187e6878eedeacf0fd83c5a0a30db2cc16ef0b"},
		{4, 4096, 4, "145db9733a9f4ee43edf33c509be96b934d505a4efb33c5a"},
		{4, 1024, 8, "8dafa8e004f8ea96bf7c0f93eecf67a6047476143d15577f"},
		{2, 64, 3, "4a15b31aec7c2590b87d1f520be7d96f56658172deaa3079"},
		{3, 1024, 6, "1640b932f4b60e272f5d2207b9a9c626ffa1bd88d2349016"},
	}
	h := newTestHasher(t, tinyParams)
	salt := []byte("somesalt")
	for _, v := range vectors {
		t.Run(fmt.Sprintf("t=%d,m=%d,p=%d", v.t, v.m, v.p), func(t *testing.T) {
			got := hex.EncodeToString(argon2.IDKey([]byte("password"), salt, v.t, v.m, v.p, 24))
			if got != v.want {
				t.Fatalf("IDKey = %s, want %s", got, v.want)
			}
			key, _ := hex.DecodeString(v.want)
			ph := phcOf(v.t, v.m, v.p, salt, key)
			if ok, _ := verify(t, h, "password", ph); !ok {
				t.Errorf("Verify(%s) = false", ph)
			}
			if ok, _ := verify(t, h, "Password", ph); ok {
				t.Errorf("Verify accepted the wrong password against %s", ph)
			}
		})
	}
}

// TestArgon2_PHCFixture_PW07 round-trips the self-computed fixture of
// docs/security.md at OWASP cost.
func TestArgon2_PHCFixture_PW07(t *testing.T) {
	const fixture = "$argon2id$v=19$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$gy5SuVm5Z7Vw7keB9se9p87QGcomaseB/S2U1OhTsM0"
	h := newTestHasher(t, DefaultArgon2Params())
	ok, rehash := verify(t, h, "correct horse battery staple", fixture)
	if !ok || rehash {
		t.Fatalf("Verify(fixture) = ok %v, rehash %v; want true, false", ok, rehash)
	}
	if ok, _ := verify(t, h, "correct horse battery stapl", fixture); ok {
		t.Fatal("fixture accepted a wrong password")
	}
	p, err := parsePHC(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if p.String() != fixture {
		t.Fatalf("re-encoded fixture = %s", p.String())
	}
}

// TestArgon2_Format_PW07: argon2id, v=19, the configured parameters, a
// 16-byte salt, a fresh salt per hash, and compatibility with
// alexedwards/argon2id in both directions.
func TestArgon2_Format_PW07(t *testing.T) {
	h := newTestHasher(t, tinyParams)
	a, b := mustHash(t, h, "s3cret passphrase"), mustHash(t, h, "s3cret passphrase")
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`)
	m := re.FindStringSubmatch(string(a))
	if m == nil {
		t.Fatalf("hash %q is not PHC argon2id with the configured params", a)
	}
	salt, _ := base64.RawStdEncoding.DecodeString(m[1])
	key, _ := base64.RawStdEncoding.DecodeString(m[2])
	if len(salt) != 16 || len(key) != 32 {
		t.Fatalf("salt %d bytes, key %d bytes; want 16 and 32", len(salt), len(key))
	}
	if a == b {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
	if ok, err := argon2id.ComparePasswordAndHash("s3cret passphrase", string(a)); !ok || err != nil {
		t.Fatalf("alexedwards/argon2id rejects our hash: %v %v", ok, err)
	}
	theirs, err := argon2id.CreateHash("s3cret passphrase", &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := verify(t, h, "s3cret passphrase", credential.PasswordHash(theirs)); !ok {
		t.Fatal("we reject an alexedwards/argon2id hash")
	}
	if _, err := NewArgon2Hasher(Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 8}); err == nil {
		t.Fatal("a 64-bit salt was accepted for new hashes")
	}
	if d := DefaultArgon2Params(); d != (Argon2Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}) {
		t.Fatalf("DefaultArgon2Params() = %+v", d)
	}
}

// TestArgon2_NoTruncation_PW03: a 100-character password is hashed whole
// and its case matters.
func TestArgon2_NoTruncation_PW03(t *testing.T) {
	h := newTestHasher(t, tinyParams)
	pw := strings.Repeat("Tr0ub4dor&3-", 9)[:100]
	ph := mustHash(t, h, pw)
	if ok, _ := verify(t, h, pw, ph); !ok {
		t.Fatal("the full password does not verify")
	}
	if ok, _ := verify(t, h, pw[:72], ph); ok {
		t.Fatal("the first 72 characters verify: the password is truncated")
	}
	if ok, _ := verify(t, h, pw[:99], ph); ok {
		t.Fatal("the first 99 characters verify")
	}
	flipped := "t" + pw[1:]
	if ok, _ := verify(t, h, flipped, ph); ok {
		t.Fatal("flipping the case of one character still verifies")
	}
}

// TestArgon2_NFKC_PW04: precomposed and decomposed spellings, and
// compatibility forms, authenticate alike; different letters do not.
func TestArgon2_NFKC_PW04(t *testing.T) {
	h := newTestHasher(t, tinyParams)
	composed := "caf\u00e9 au lait 😀"
	decomposed := "cafe\u0301 au lait 😀"
	ph := mustHash(t, h, composed)
	if ok, _ := verify(t, h, decomposed, ph); !ok {
		t.Fatal("decomposed é does not verify against composed é")
	}
	ph = mustHash(t, h, decomposed)
	if ok, _ := verify(t, h, composed, ph); !ok {
		t.Fatal("composed é does not verify against decomposed é")
	}
	ph = mustHash(t, h, "ｐａｓｓ ｗｏｒｄ") // fullwidth: NFKC maps it to ASCII
	if ok, _ := verify(t, h, "pass word", ph); !ok {
		t.Fatal("fullwidth and ASCII forms differ after NFKC")
	}
	if ok, _ := verify(t, h, "cafe au lait 😀", mustHash(t, h, composed)); ok {
		t.Fatal("e verifies as é")
	}
}

// TestArgon2_Rehash_PW07: weaker stored parameters ask for a re-hash on a
// successful login; equal or stronger ones do not.
func TestArgon2_Rehash_PW07(t *testing.T) {
	current := Argon2Params{MemoryKiB: 128, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	h := newTestHasher(t, current)
	tests := []struct {
		name   string
		params Argon2Params
		rehash bool
	}{
		{"same", current, false},
		{"less memory", Argon2Params{MemoryKiB: 64, Iterations: 2, Parallelism: 1}, true},
		{"fewer iterations", Argon2Params{MemoryKiB: 128, Iterations: 1, Parallelism: 1}, true},
		{"shorter key", Argon2Params{MemoryKiB: 128, Iterations: 2, Parallelism: 1, KeyLen: 16}, true},
		{"stronger", Argon2Params{MemoryKiB: 256, Iterations: 3, Parallelism: 2}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newTestHasher(t, tt.params)
			ph := mustHash(t, old, "rehash me please")
			ok, rehash := verify(t, h, "rehash me please", ph)
			if !ok || rehash != tt.rehash {
				t.Fatalf("Verify = ok %v, rehash %v; want true, %v", ok, rehash, tt.rehash)
			}
			if ok, rehash := verify(t, h, "wrong", ph); ok || rehash {
				t.Fatalf("wrong password: ok %v, rehash %v", ok, rehash)
			}
		})
	}
	// A 64-bit salt from an older scheme still verifies, and is upgraded.
	key := argon2.IDKey([]byte("pw"), []byte("8bytes!!"), 2, 128, 1, 32)
	if ok, rehash := verify(t, h, "pw", phcOf(2, 128, 1, []byte("8bytes!!"), key)); !ok || !rehash {
		t.Fatalf("short salt: ok %v, rehash %v; want true, true", ok, rehash)
	}
}

// TestArgon2_BadStoredParams_PW07: a stored hash outside sane bounds, or of
// another variant or version, is refused before any work.
func TestArgon2_BadStoredParams_PW07(t *testing.T) {
	h := newTestHasher(t, tinyParams)
	var calls atomic.Int64
	h.deriveFn = func(pw, salt []byte, t, m uint32, p uint8, n uint32) []byte {
		calls.Add(1)
		return argon2.IDKey(pw, salt, t, m, p, n)
	}
	salt, key := "c29tZXNhbHRzb21lc2FsdA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	bad := []string{
		"$argon2id$v=19$m=2097152,t=1,p=1$" + salt + "$" + key,    // 2 GiB
		"$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key, // 4 TiB
		"$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + key, // overflows uint32
		"$argon2id$v=19$m=64,t=65,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=1024,t=1,p=65$" + salt + "$" + key,
		"$argon2id$v=19$m=1024,t=1,p=256$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=8,t=1,p=4$" + salt + "$" + key, // under 8 KiB per lane
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key,      // 4-byte salt
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$AAAA",  // 3-byte key
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 120),
		"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1,k=2$" + salt + "$" + key,
		"$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "=$" + key, // padded base64
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$",
		"$2x$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", // bcrypt of a buggy implementation (see bcrypt_test.go)
		"argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"plaintext",
	}
	for _, s := range bad {
		ok, rehash, err := h.Verify(t.Context(), "password", credential.PasswordHash(s))
		if !errors.Is(err, ErrInvalidHash) || ok || rehash {
			t.Errorf("Verify(%q) = %v, %v, %v; want ErrInvalidHash", s, ok, rehash, err)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the KDF ran %d times on rejected hashes", n)
	}
	for _, p := range []Argon2Params{
		{MemoryKiB: 0, Iterations: 1, Parallelism: 1},
		{MemoryKiB: 64, Iterations: 0, Parallelism: 1},
		{MemoryKiB: 64, Iterations: 1, Parallelism: 0},
		{MemoryKiB: 2 << 20, Iterations: 1, Parallelism: 1},
		{MemoryKiB: 64, Iterations: 1, Parallelism: 1, KeyLen: 8},
	} {
		if _, err := NewArgon2Hasher(p); err == nil {
			t.Errorf("NewArgon2Hasher(%+v) accepted bad params", p)
		}
	}
}

// TestArgon2_DummyVerify_LG01: an empty stored hash never matches, yet costs
// one KDF run with the current parameters, like a real account.
func TestArgon2_DummyVerify_LG01(t *testing.T) {
	h := newTestHasher(t, tinyParams)
	type call struct {
		t, m uint32
		p    uint8
		n    uint32
	}
	var calls []call
	h.deriveFn = func(pw, salt []byte, t, m uint32, p uint8, n uint32) []byte {
		calls = append(calls, call{t, m, p, n})
		return argon2.IDKey(pw, salt, t, m, p, n)
	}
	for _, pw := range []string{"", "password", "anything at all"} {
		ok, rehash, err := h.Verify(t.Context(), pw, "")
		if ok || rehash || err != nil {
			t.Fatalf("Verify(%q, empty) = %v, %v, %v; want false, false, nil", pw, ok, rehash, err)
		}
	}
	want := call{tinyParams.Iterations, tinyParams.MemoryKiB, tinyParams.Parallelism, tinyParams.KeyLen}
	if len(calls) != 3 {
		t.Fatalf("KDF ran %d times for 3 unknown-account checks", len(calls))
	}
	for _, c := range calls {
		if c != want {
			t.Fatalf("dummy KDF ran with %+v, want the current params %+v", c, want)
		}
	}
}

// TestArgon2_Overloaded_PW08: with every slot taken and no wait, Hash and
// Verify fail at once with ErrOverloaded (kind Unavailable → 503).
func TestArgon2_Overloaded_PW08(t *testing.T) {
	h := newTestHasher(t, tinyParams, WithMaxConcurrency(1), WithMaxWait(0))
	ph := mustHash(t, h, "first in line")
	if err := h.slots.AcquirePermit(t.Context()); err != nil { // a hash in flight
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := h.Hash(t.Context(), "second in line"); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("Hash while full: %v, want ErrOverloaded", err)
	}
	if _, _, err := h.Verify(t.Context(), "first in line", ph); !errors.Is(err, ErrOverloaded) || errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("Verify while full: %v (kind %v), want ErrOverloaded of kind Unavailable", err, errs.KindOf(err))
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("overload answer took %s, want immediate", d)
	}
	h.slots.ReleasePermit()
	if ok, _ := verify(t, h, "first in line", ph); !ok {
		t.Fatal("Verify fails after the slot is free")
	}
}

// TestArgon2_ConcurrentHash_PW08 runs a second Hash while the first is
// inside the KDF: it gets ErrOverloaded, not a queue.
func TestArgon2_ConcurrentHash_PW08(t *testing.T) {
	h := newTestHasher(t, tinyParams, WithMaxConcurrency(1), WithMaxWait(0))
	inside, proceed := make(chan struct{}), make(chan struct{})
	h.deriveFn = func(pw, salt []byte, t, m uint32, p uint8, n uint32) []byte {
		close(inside)
		<-proceed
		return argon2.IDKey(pw, salt, t, m, p, n)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "first")
		errc <- err
	}()
	<-inside
	if _, err := h.Hash(t.Context(), "second"); !errors.Is(err, ErrOverloaded) {
		t.Errorf("second concurrent Hash: %v, want ErrOverloaded", err)
	}
	close(proceed)
	if err := <-errc; err != nil {
		t.Fatalf("first Hash: %v", err)
	}
}

// TestArgon2_Bound_PW08: under a burst, no more than MaxConcurrency KDF runs
// overlap (so memory stays within concurrency × m) and the excess is shed.
func TestArgon2_Bound_PW08(t *testing.T) {
	const limit, callers = 2, 40
	h := newTestHasher(t, tinyParams, WithMaxConcurrency(limit), WithMaxWait(time.Millisecond))
	var running, peak atomic.Int64
	h.deriveFn = func(pw, salt []byte, t, m uint32, p uint8, n uint32) []byte {
		cur := running.Add(1)
		for old := peak.Load(); cur > old && !peak.CompareAndSwap(old, cur); old = peak.Load() {
		}
		time.Sleep(5 * time.Millisecond)
		running.Add(-1)
		return argon2.IDKey(pw, salt, t, m, p, n)
	}
	var wg sync.WaitGroup
	var done, shed atomic.Int64
	for range callers {
		wg.Go(func() {
			_, err := h.Hash(context.Background(), "burst password")
			switch {
			case err == nil:
				done.Add(1)
			case errors.Is(err, ErrOverloaded):
				shed.Add(1)
			default:
				t.Errorf("Hash: %v", err)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > limit {
		t.Fatalf("%d KDF runs overlapped, limit %d", p, limit)
	}
	if done.Load() == 0 || shed.Load() == 0 {
		t.Fatalf("done %d, shed %d: want both", done.Load(), shed.Load())
	}
}

// TestArgon2_WaitHonoursContext_PW08: a caller queued for a slot leaves as
// soon as its context ends.
func TestArgon2_WaitHonoursContext_PW08(t *testing.T) {
	h := newTestHasher(t, tinyParams, WithMaxConcurrency(1), WithMaxWait(time.Minute))
	if err := h.slots.AcquirePermit(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer h.slots.ReleasePermit()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := h.Hash(ctx, "patient")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Hash: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("waited %s past the deadline", d)
	}
	cancelled, stop := context.WithCancel(t.Context())
	stop()
	if _, _, err := h.Verify(cancelled, "patient", ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify with a cancelled ctx: %v", err)
	}
}

func TestArgon2_Options(t *testing.T) {
	if _, err := NewArgon2Hasher(tinyParams, WithMaxConcurrency(0)); err == nil {
		t.Error("max concurrency 0 accepted")
	}
	if _, err := NewArgon2Hasher(tinyParams, WithMaxWait(-time.Second)); err == nil {
		t.Error("negative wait accepted")
	}
}

// TestArgon2_HugeInput_PW02: a megabyte password is refused without hashing.
func TestArgon2_HugeInput_PW02(t *testing.T) {
	h := newTestHasher(t, tinyParams)
	huge := strings.Repeat("a", 1<<20)
	if _, err := h.Hash(t.Context(), huge); !errors.Is(err, credential.ErrTooLong) {
		t.Fatalf("Hash(1 MiB): %v, want ErrTooLong", err)
	}
	ph := mustHash(t, h, "short one")
	if ok, _ := verify(t, h, huge, ph); ok {
		t.Fatal("a 1 MiB password verified")
	}
}

func BenchmarkArgon2Default(b *testing.B) {
	h, err := NewArgon2Hasher(DefaultArgon2Params())
	if err != nil {
		b.Fatal(err)
	}
	ph, err := h.Hash(b.Context(), "benchmark password")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := h.Verify(b.Context(), "benchmark password", ph); err != nil {
			b.Fatal(err)
		}
	}
}
