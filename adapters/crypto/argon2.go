package crypto

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/usermgmt/usermgmt/adapters/crypto/internal/argon2"
	"golang.org/x/text/unicode/norm"

	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/ports"
)

// Argon2Params are the Argon2id cost parameters (RFC 9106).
type Argon2Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
	SaltLen     uint32 // bytes; 0 means 16 (128 bits, PW-07)
	KeyLen      uint32 // bytes; 0 means 32
}

// DefaultArgon2Params returns OWASP's minimum for Argon2id (m=19 MiB, t=2,
// p=1), which PW-07 sets as our floor.
func DefaultArgon2Params() Argon2Params {
	return Argon2Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
}

// Bounds on parameters, for ours and for every stored hash we parse: a
// stored hash is data, and without a ceiling one row with m=4 GiB or t=2^32
// would turn a sign-in into a denial of service.
const (
	maxMemoryKiB   = 1 << 20 // 1 GiB
	maxIterations  = 64
	maxParallelism = 64
	minStoredSalt  = 8 // RFC 9106 minimum; we write 16 or more
	maxSalt        = 64
	minKeyLen      = 16
	maxKeyLen      = 64
)

// maxInputBytes caps the password handed to the KDF. The policy allows
// credential.MaxPasswordBytes; NFKC may expand that a few times, so this
// only stops abuse (a megabyte "password"), never a password we accepted.
const maxInputBytes = 4 * credential.MaxPasswordBytes

// ErrOverloaded is returned when every hashing slot is busy for longer than
// the configured wait: the transport answers 503 with Retry-After (PW-08).
var ErrOverloaded = errs.New(errs.Unavailable, "auth.overloaded", "too many sign-ins at once; retry shortly")

// ErrInvalidHash is returned for a stored hash that is malformed, of another
// variant or version, or whose parameters are outside the bounds above.
var ErrInvalidHash = errors.New("argon2: invalid or unsupported stored hash")

// Argon2Option configures an Argon2Hasher.
type Argon2Option func(*argon2Config)

type argon2Config struct {
	maxConcurrency int
	maxWait        time.Duration
}

// WithMaxConcurrency bounds how many hashes run at once (default
// runtime.NumCPU(): a hash keeps a core busy, so more slots only add memory
// and contention). Peak memory is about n times MemoryKiB.
func WithMaxConcurrency(n int) Argon2Option {
	return func(c *argon2Config) { c.maxConcurrency = n }
}

// WithMaxWait bounds how long a caller queues for a hashing slot before
// ErrOverloaded (default 2s). A waiting caller holds no hashing memory, so
// the queue absorbs a burst (dozens of sign-ins at once) and sheds only a
// flood that could not be served within the wait. Zero fails at once.
func WithMaxWait(d time.Duration) Argon2Option {
	return func(c *argon2Config) { c.maxWait = d }
}

// Argon2Hasher implements ports.PasswordHasher with Argon2id in PHC string
// format. It also verifies the bcrypt hashes of accounts imported from
// another system, asking for a rehash on their first match (see
// verifyBcrypt), and checks hashes before an import (ports.HashChecker).
// It is safe for concurrent use.
type Argon2Hasher struct {
	params   Argon2Params
	slots    bulkhead.Bulkhead[any]
	areas    chan *argon2.Memory // one reusable work area per slot
	maxWait  time.Duration
	dummy    phc
	deriveFn func(password, salt []byte, t, m uint32, p uint8, keyLen uint32) []byte // argon2.IDKey; tests count calls through it
}

var (
	_ ports.PasswordHasher = (*Argon2Hasher)(nil)
	_ ports.HashChecker    = (*Argon2Hasher)(nil)
)

// NewArgon2Hasher validates p and makes the dummy hash that unknown
// accounts are checked against, so it costs one hash.
func NewArgon2Hasher(p Argon2Params, opts ...Argon2Option) (*Argon2Hasher, error) {
	if p.SaltLen == 0 {
		p.SaltLen = 16
	}
	if p.KeyLen == 0 {
		p.KeyLen = 32
	}
	if err := checkParams(p); err != nil {
		return nil, fmt.Errorf("argon2 hasher: %w", err)
	}
	if p.SaltLen < 16 {
		return nil, fmt.Errorf("argon2 hasher: salt of %d bytes is under 128 bits", p.SaltLen)
	}
	cfg := argon2Config{maxConcurrency: runtime.NumCPU(), maxWait: 2 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxConcurrency < 1 {
		return nil, fmt.Errorf("argon2 hasher: max concurrency %d is below 1", cfg.maxConcurrency)
	}
	if cfg.maxWait < 0 {
		return nil, fmt.Errorf("argon2 hasher: negative max wait %s", cfg.maxWait)
	}
	h := &Argon2Hasher{
		params:  p,
		slots:   bulkhead.New[any](uint(cfg.maxConcurrency)),
		areas:   make(chan *argon2.Memory, cfg.maxConcurrency),
		maxWait: cfg.maxWait,
	}
	for range cfg.maxConcurrency {
		h.areas <- &argon2.Memory{}
	}
	h.deriveFn = h.derive
	pw := make([]byte, 32)
	if _, err := rand.Read(pw); err != nil {
		return nil, fmt.Errorf("argon2 hasher: dummy password: %w", err)
	}
	dummy, err := h.newPHC(pw)
	if err != nil {
		return nil, fmt.Errorf("argon2 hasher: dummy hash: %w", err)
	}
	h.dummy = dummy
	return h, nil
}

// Hash returns the PHC string of the NFKC-normalised password under the
// current parameters and a fresh random salt.
func (h *Argon2Hasher) Hash(ctx context.Context, password string) (credential.PasswordHash, error) {
	pw, ok := normalise(password)
	if !ok {
		return "", credential.ErrTooLong
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	v, err := h.newPHC(pw)
	if err != nil {
		return "", fmt.Errorf("argon2 hash: %w", err)
	}
	return credential.PasswordHash(v.String()), nil
}

// Verify checks password against stored. An empty stored hash is checked
// against the dummy at the same cost and never matches (LG-01). rehash is
// reported only on a match, since only then can the caller re-hash; it is
// true when stored is weaker than the current parameters in memory,
// iterations, salt or key length. Stronger stored hashes are kept, so
// lowering the cost for a while never downgrades them.
func (h *Argon2Hasher) Verify(ctx context.Context, password string, stored credential.PasswordHash) (ok, rehash bool, err error) {
	if isBcrypt(stored) {
		return h.verifyBcrypt(ctx, password, stored)
	}
	target, known := h.dummy, false
	if stored != "" {
		target, err = parsePHC(string(stored))
		if err != nil {
			return false, false, fmt.Errorf("argon2 verify: %w", err)
		}
		known = true
	}
	pw, fits := normalise(password)
	if !fits {
		// No stored password can be this long, for known and unknown
		// accounts alike, so answering early leaks nothing.
		return false, false, nil
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer release()
	got := h.deriveFn(pw, target.salt, target.params.Iterations, target.params.MemoryKiB, target.params.Parallelism, target.params.KeyLen)
	match := subtle.ConstantTimeCompare(got, target.key) == 1
	if !known || !match {
		return false, false, nil
	}
	return true, h.weaker(target.params), nil
}

func (h *Argon2Hasher) weaker(p Argon2Params) bool {
	c := h.params
	return p.MemoryKiB < c.MemoryKiB || p.Iterations < c.Iterations || p.SaltLen < c.SaltLen || p.KeyLen < c.KeyLen
}

// acquire takes a hashing slot, waiting at most maxWait and no longer than
// ctx allows.
func (h *Argon2Hasher) acquire(ctx context.Context) (release func(), err error) {
	err = h.slots.AcquirePermitWithMaxWait(ctx, h.maxWait)
	switch {
	case errors.Is(err, bulkhead.ErrFull):
		return nil, ErrOverloaded
	case err != nil:
		return nil, fmt.Errorf("argon2: waiting for a hashing slot: %w", err)
	}
	// A caller that gave up while we waited should not cost a hash.
	if err := ctx.Err(); err != nil {
		h.slots.ReleasePermit()
		return nil, fmt.Errorf("argon2: %w", err)
	}
	return h.slots.ReleasePermit, nil
}

// derive runs Argon2id in a work area kept for the slot the caller holds,
// so hashing allocates nothing and memory stays at slots x MemoryKiB. A
// stored hash with a higher cost than configured (rare: the cost was
// lowered) runs in a one-off area rather than growing the kept ones.
func (h *Argon2Hasher) derive(pw, salt []byte, t, m uint32, p uint8, keyLen uint32) []byte {
	if m > h.params.MemoryKiB {
		var once argon2.Memory
		return once.IDKey(pw, salt, t, m, p, keyLen)
	}
	var area *argon2.Memory
	select {
	case area = <-h.areas:
	default: // only outside a slot (the dummy hash at construction)
		area = &argon2.Memory{}
	}
	defer func() {
		select {
		case h.areas <- area:
		default:
		}
	}()
	return area.IDKey(pw, salt, t, m, p, keyLen)
}

func (h *Argon2Hasher) newPHC(pw []byte) (phc, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return phc{}, fmt.Errorf("salt: %w", err)
	}
	p := h.params
	return phc{params: p, salt: salt, key: h.deriveFn(pw, salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLen)}, nil
}

// normalise applies NFKC (NIST SP 800-63B 5.1.1.2) so that every Unicode
// spelling of a password hashes alike (PW-04). Nothing is truncated or
// case-folded (PW-03).
func normalise(password string) ([]byte, bool) {
	if len(password) > maxInputBytes {
		return nil, false
	}
	b := norm.NFKC.Bytes([]byte(password))
	return b, len(b) <= maxInputBytes
}

// phc is a parsed $argon2id$v=19$m=..,t=..,p=..$salt$key string.
type phc struct {
	params Argon2Params
	salt   []byte
	key    []byte
}

var b64 = base64.RawStdEncoding.Strict()

func (v phc) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		v.params.MemoryKiB, v.params.Iterations, v.params.Parallelism,
		b64.EncodeToString(v.salt), b64.EncodeToString(v.key))
}

// parsePHC accepts exactly the form we write (and that the reference
// implementation and alexedwards/argon2id write): variant argon2id, version
// 19, parameters in the order m, t, p, unpadded standard base64. Anything
// else, or parameters beyond our bounds, is ErrInvalidHash.
func parsePHC(s string) (phc, error) {
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" {
		return phc{}, fmt.Errorf("%w: want 6 $-separated fields", ErrInvalidHash)
	}
	if f[1] != "argon2id" {
		return phc{}, fmt.Errorf("%w: variant %q", ErrInvalidHash, f[1])
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return phc{}, fmt.Errorf("%w: version %q", ErrInvalidHash, f[2])
	}
	var p Argon2Params
	kv := strings.Split(f[3], ",")
	if len(kv) != 3 {
		return phc{}, fmt.Errorf("%w: want parameters m, t, p", ErrInvalidHash)
	}
	m, err1 := param(kv[0], "m=")
	t, err2 := param(kv[1], "t=")
	par, err3 := param(kv[2], "p=")
	if err := errors.Join(err1, err2, err3); err != nil {
		return phc{}, fmt.Errorf("%w: %w", ErrInvalidHash, err)
	}
	if par > maxParallelism {
		return phc{}, fmt.Errorf("%w: p=%d over %d", ErrInvalidHash, par, maxParallelism)
	}
	p.MemoryKiB, p.Iterations, p.Parallelism = m, t, uint8(par)
	salt, err := b64.DecodeString(f[4])
	if err != nil {
		return phc{}, fmt.Errorf("%w: salt: %w", ErrInvalidHash, err)
	}
	key, err := b64.DecodeString(f[5])
	if err != nil {
		return phc{}, fmt.Errorf("%w: key: %w", ErrInvalidHash, err)
	}
	// Lengths are checked before they narrow to uint32; checkParams
	// repeats the check with the rest.
	saltLen, keyLen := len(salt), len(key)
	if saltLen < minStoredSalt || saltLen > maxSalt {
		return phc{}, fmt.Errorf("%w: salt of %d bytes", ErrInvalidHash, saltLen)
	}
	if keyLen < minKeyLen || keyLen > maxKeyLen {
		return phc{}, fmt.Errorf("%w: key of %d bytes", ErrInvalidHash, keyLen)
	}
	p.SaltLen, p.KeyLen = uint32(saltLen), uint32(keyLen)
	if err := checkParams(p); err != nil {
		return phc{}, fmt.Errorf("%w: %w", ErrInvalidHash, err)
	}
	return phc{params: p, salt: salt, key: key}, nil
}

// param parses "name=decimal" into a uint32 (bounds are checked later).
func param(s, name string) (uint32, error) {
	digits, ok := strings.CutPrefix(s, name)
	if !ok || digits == "" || digits[0] < '0' || digits[0] > '9' {
		return 0, fmt.Errorf("parameter %q, want %sN", s, name)
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("parameter %q: %w", s, err)
	}
	return uint32(n), nil
}

func checkParams(p Argon2Params) error {
	switch {
	case p.Parallelism < 1 || p.Parallelism > maxParallelism:
		return fmt.Errorf("parallelism %d outside 1..%d", p.Parallelism, maxParallelism)
	case p.Iterations < 1 || p.Iterations > maxIterations:
		return fmt.Errorf("iterations %d outside 1..%d", p.Iterations, maxIterations)
	case p.MemoryKiB < 8*uint32(p.Parallelism) || p.MemoryKiB > maxMemoryKiB:
		// RFC 9106 3.1: memory is at least 8 KiB per lane.
		return fmt.Errorf("memory %d KiB outside %d..%d", p.MemoryKiB, 8*uint32(p.Parallelism), maxMemoryKiB)
	case p.SaltLen < minStoredSalt || p.SaltLen > maxSalt:
		return fmt.Errorf("salt length %d outside %d..%d", p.SaltLen, minStoredSalt, maxSalt)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key length %d outside %d..%d", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}
