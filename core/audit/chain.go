package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"maps"
	"slices"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
)

// Hash is an HMAC-SHA256 of the chain.
type Hash [sha256.Size]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ErrCorrupt is a stored hash of the wrong length.
var ErrCorrupt = errs.New(errs.Internal, "audit.corrupt", "stored audit record is invalid")

// HashFromBytes returns the hash b holds; b must be exactly sha256.Size long.
func HashFromBytes(b []byte) (Hash, error) {
	var h Hash
	if len(b) != len(h) {
		return h, ErrCorrupt.Wrap(fmt.Errorf("hash of %d bytes", len(b)))
	}
	copy(h[:], b)
	return h, nil
}

// Link is a position in the chain: the seq and hash of its last entry.
// The genesis link, before the first entry, is Seq 0 with the all-zero hash.
type Link struct {
	Seq  int64
	Hash Hash
}

// Genesis is the link the first entry chains on.
func Genesis() Link { return Link{} }

// Link returns the chain position e ends.
func (e Entry) Link() Link { return Link{Seq: e.Seq, Hash: e.Hash} }

// Domain separators of the two MACs, so an entry's hash can never pass for
// a checkpoint's MAC or the other way round.
const (
	entryTag      = "usermgmt.audit.entry.v1"
	checkpointTag = "usermgmt.audit.checkpoint.v1"
)

// Seal places e after prev: it sets Seq to prev.Seq+1, PrevHash to
// prev.Hash and Hash to HMAC-SHA256(key, the canonical encoding of PrevHash
// and every field), with At normalised to UTC microseconds as stores keep
// it. Seal does not validate e: validate before sealing.
func Seal(prev Link, e Entry, key []byte) Entry {
	e.Seq = prev.Seq + 1
	e.PrevHash = prev.Hash
	e.At = e.At.UTC().Truncate(time.Microsecond)
	e.Hash = entryMAC(e, key)
	return e
}

// entryMAC is the HMAC of e's canonical encoding. Every variable-length
// field is length-prefixed and details go in key order, so two different
// entries never encode alike (no "ab"+"c" = "a"+"bc").
func entryMAC(e Entry, key []byte) Hash {
	m := hmac.New(sha256.New, key)
	w := encoder{m}
	w.str(entryTag)
	w.bytes(e.PrevHash[:])
	w.int(e.Seq)
	w.int(e.At.UnixMicro())
	for _, s := range []string{string(e.Actor.Kind), e.Actor.ID, e.Action, e.Target, e.Org,
		e.IP, e.UserAgent, e.RequestID, string(e.Outcome)} {
		w.str(s)
	}
	w.int(int64(len(e.Details)))
	for _, k := range slices.Sorted(maps.Keys(e.Details)) {
		w.str(k)
		w.str(e.Details[k])
	}
	var h Hash
	m.Sum(h[:0])
	return h
}

// encoder writes length-prefixed fields into a MAC (whose Write never fails).
type encoder struct{ h hash.Hash }

func (w encoder) bytes(b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	w.h.Write(n[:])
	w.h.Write(b)
}

func (w encoder) str(s string) { w.bytes([]byte(s)) }

func (w encoder) int(v int64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v)) //nolint:gosec // the two's-complement bits, not a value: negative seqs encode distinctly too
	w.h.Write(b[:])
}

// Checkpoint is where the chain restarts after pruning: the seq and hash of
// the last pruned entry, when it was made, and a MAC over those under the
// chain key, so that moving it (to hide more deleted rows) is detected.
// The zero Checkpoint is the genesis: nothing was pruned.
type Checkpoint struct {
	Seq  int64
	Hash Hash
	At   time.Time
	MAC  Hash
}

// NewCheckpoint authenticates the chain position last ends, made at at.
func NewCheckpoint(last Entry, at time.Time, key []byte) Checkpoint {
	c := Checkpoint{Seq: last.Seq, Hash: last.Hash, At: at.UTC().Truncate(time.Microsecond)}
	c.MAC = c.mac(key)
	return c
}

func (c Checkpoint) mac(key []byte) Hash {
	m := hmac.New(sha256.New, key)
	w := encoder{m}
	w.str(checkpointTag)
	w.int(c.Seq)
	w.bytes(c.Hash[:])
	w.int(c.At.UnixMicro())
	var h Hash
	m.Sum(h[:0])
	return h
}

// IsGenesis reports whether c is the zero checkpoint (nothing pruned).
func (c Checkpoint) IsGenesis() bool { return c == Checkpoint{} }

// Link returns the chain position c restarts from.
func (c Checkpoint) Link() Link { return Link{Seq: c.Seq, Hash: c.Hash} }

// Verify returns a *Broken naming c.Seq when c's MAC is not valid under
// key. The genesis checkpoint needs no MAC.
func (c Checkpoint) Verify(key []byte) error {
	if c.IsGenesis() {
		return nil
	}
	want := c.mac(key)
	if c.Seq < 0 || !hmac.Equal(c.MAC[:], want[:]) {
		return &Broken{Seq: c.Seq, Reason: ReasonCheckpoint, Detail: "the checkpoint's MAC does not match it"}
	}
	return nil
}

// Reason says how the chain broke.
type Reason string

// The reasons.
const (
	// ReasonHash: the record's fields do not produce its hash (an edit).
	ReasonHash Reason = "hash_mismatch"
	// ReasonPrevHash: the record does not chain on the one before it (a
	// deletion or insertion before it, or rows renumbered).
	ReasonPrevHash Reason = "prev_hash_mismatch"
	// ReasonMissing: the record with this seq is gone (a gap, or the tail
	// before the chain head).
	ReasonMissing Reason = "missing"
	// ReasonOrder: a record came at or before a seq already checked.
	ReasonOrder Reason = "out_of_order"
	// ReasonCheckpoint: the checkpoint the chain restarts from is forged.
	ReasonCheckpoint Reason = "checkpoint_invalid"
	// ReasonHead: the chain does not end at the stored chain head.
	ReasonHead Reason = "head_mismatch"
)

// Broken is the first record at which the chain does not verify. It
// matches ErrBroken with errors.Is.
type Broken struct {
	Seq    int64
	Reason Reason
	Detail string
}

func (b *Broken) Error() string {
	return fmt.Sprintf("audit: chain broken at record %d: %s: %s", b.Seq, b.Reason, b.Detail)
}

func (b *Broken) Unwrap() error { return ErrBroken }

// Verifier walks the chain in seq order from a checkpoint (or the
// genesis) and stops at the first broken record: once Check failed it
// returns that failure for good.
type Verifier struct {
	key     []byte
	head    Link
	checked int64
	broken  *Broken
}

// NewVerifier starts at from (the zero Checkpoint for the genesis); a
// checkpoint whose MAC does not verify is returned as a *Broken.
func NewVerifier(key []byte, from Checkpoint) (*Verifier, error) {
	v := &Verifier{key: key, head: from.Link()}
	if err := from.Verify(key); err != nil {
		v.broken = err.(*Broken) //nolint:errorlint // Verify returns nothing else
		return v, err
	}
	return v, nil
}

// Check verifies that e is the next record: the seq after the last one, the
// previous record's hash as PrevHash and a Hash that its fields produce.
func (v *Verifier) Check(e Entry) error {
	if v.broken != nil {
		return v.broken
	}
	want := v.head.Seq + 1
	switch {
	case e.Seq < want:
		v.broken = &Broken{Seq: e.Seq, Reason: ReasonOrder, Detail: fmt.Sprintf("expected record %d", want)}
	case e.Seq > want:
		v.broken = &Broken{Seq: want, Reason: ReasonMissing, Detail: fmt.Sprintf("the next record is %d", e.Seq)}
	case !hmac.Equal(e.PrevHash[:], v.head.Hash[:]):
		v.broken = &Broken{Seq: e.Seq, Reason: ReasonPrevHash, Detail: "it does not chain on the record before it"}
	default:
		if h := entryMAC(e, v.key); !hmac.Equal(h[:], e.Hash[:]) {
			v.broken = &Broken{Seq: e.Seq, Reason: ReasonHash, Detail: "its fields do not match its hash"}
		}
	}
	if v.broken != nil {
		return v.broken
	}
	v.head = e.Link()
	v.checked++
	return nil
}

// End verifies that the chain checked so far ends at head, the chain head
// the store keeps: a missing tail, or a head moved back, is detected here.
func (v *Verifier) End(head Link) error {
	if v.broken != nil {
		return v.broken
	}
	switch {
	case head.Seq > v.head.Seq:
		v.broken = &Broken{Seq: v.head.Seq + 1, Reason: ReasonMissing, Detail: fmt.Sprintf("the chain head is at record %d", head.Seq)}
	case head.Seq < v.head.Seq:
		v.broken = &Broken{Seq: head.Seq, Reason: ReasonHead, Detail: fmt.Sprintf("the chain head is behind record %d", v.head.Seq)}
	case !hmac.Equal(head.Hash[:], v.head.Hash[:]):
		v.broken = &Broken{Seq: head.Seq, Reason: ReasonHead, Detail: "the chain head's hash is not the record's"}
	}
	if v.broken != nil {
		return v.broken
	}
	return nil
}

// Head returns the last verified position.
func (v *Verifier) Head() Link { return v.head }

// Checked returns how many records verified.
func (v *Verifier) Checked() int64 { return v.checked }
