// Package session is the login session: one row per sign-in that owns one
// family of rotating refresh tokens. A refresh token is never stored, only its
// hash; each rotation derives the successor from the presented token and a
// fresh nonce, so a replay inside the opt-in grace window can be answered with
// the same successor without keeping any token in clear.
package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/text"
	"github.com/usermgmt/usermgmt/core/user"
)

// ID identifies a session (and its refresh-token family); a UUIDv7.
type ID string

func (id ID) String() string { return string(id) }

// TokenHash is the hex SHA-256 of a refresh token: what storage keeps.
type TokenHash string

// RevokeReason says why a session ended; it maps to the logoutType of user.logout.
type RevokeReason struct{ s string }

// The reasons. Reuse is a forced end caused by refresh-token reuse
// detection. Reissued is not an end of the sign-in: the session lives on
// under a new id (ports.SessionReissuer), and no user.logout is sent.
var (
	ReasonManual   = RevokeReason{"manual"}
	ReasonTimeout  = RevokeReason{"timeout"}
	ReasonForced   = RevokeReason{"forced"}
	ReasonReuse    = RevokeReason{"reuse"}
	ReasonReissued = RevokeReason{"reissued"}
)

func (r RevokeReason) String() string { return r.s }

// LogoutType is the user.logout logoutType for the reason (reuse counts as forced).
func (r RevokeReason) LogoutType() string {
	if r == ReasonReuse {
		return ReasonForced.s
	}
	return r.s
}

// ParseRevokeReason returns the reason named s; "" is the zero reason (not revoked).
func ParseRevokeReason(s string) (RevokeReason, error) {
	for _, r := range []RevokeReason{{}, ReasonManual, ReasonTimeout, ReasonForced, ReasonReuse, ReasonReissued} {
		if r.s == s {
			return r, nil
		}
	}
	return RevokeReason{}, ErrCorrupt
}

// Errors of sessions and refresh tokens.
var (
	ErrNotFound            = errs.New(errs.NotFound, "session.not_found", "session not found")
	ErrInvalidRefreshToken = errs.New(errs.Unauthenticated, "auth.invalid_refresh_token", "refresh token is invalid, expired or revoked")
	ErrNotRotated          = errs.New(errs.Conflict, "session.not_rotated", "no live session holds that refresh token")
	ErrCorrupt             = errs.New(errs.Internal, "session.corrupt", "stored session is invalid")
	ErrRevoked             = errs.New(errs.Unauthenticated, "auth.session_revoked", "session has ended")
)

// Client is what the service knows about the device that signed in.
type Client struct {
	IP        string
	UserAgent string
}

// MaxUserAgent bounds the stored user agent.
const MaxUserAgent = 512

// ClientAddr is the address a per-client budget or cap counts a client
// by: an IPv4 address (an IPv4-mapped one included) as it is, an IPv6
// address by its /64. One subscriber is routinely given a whole /64, so
// counting its addresses one by one would hand it 2^64 budgets (IV-08).
func ClientAddr(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().Addr()
	}
	return a
}

// Normalized returns c with an IP in canonical form (zone dropped; empty
// when it is not an address) and a bounded, valid UTF-8 user agent, so
// whatever a transport or host passes in is safe to store and publish.
func (c Client) Normalized() Client {
	ip, err := netip.ParseAddr(strings.TrimSpace(c.IP))
	if err != nil {
		c.IP = ""
	} else {
		c.IP = ip.WithZone("").String()
	}
	c.UserAgent = text.Truncate(strings.ToValidUTF8(c.UserAgent, ""), MaxUserAgent)
	return c
}

// Session is one sign-in and its refresh-token family.
type Session struct {
	ID            ID
	UserID        user.ID
	RefreshHash   TokenHash // hash of the live refresh token
	PreviousHash  TokenHash // hash of its parent, kept to detect reuse
	RotationNonce []byte    // nonce that derived the live token from its parent
	Generation    int       // rotations so far
	Client        Client
	AMR           []string // authentication methods (RFC 8176): "pwd", later "otp"
	CreatedAt     time.Time
	LastSeenAt    time.Time
	RotatedAt     time.Time
	ExpiresAt     time.Time // absolute end: no sliding past it (SE-06)
	RevokedAt     time.Time // zero while live
	RevokeReason  RevokeReason
}

// Policy is the lifetime of sessions.
type Policy struct {
	AbsoluteLifetime time.Duration // from sign-in; refresh never extends it
	IdleTimeout      time.Duration // a session unused this long ends
	ReuseGrace       time.Duration // 0: strict; >0: a replayed parent gets the same successor
	// ConcurrentWindow separates parallel refreshes from replays. A rotation
	// is recorded at the arrival of the request that won it, and that request
	// is answered no sooner than this window later; so a request arriving
	// inside the window cannot have seen the answer: it ran in parallel and
	// merely lost the race (SE-05), while any replay by a client that holds
	// the successor arrives after the window and is reuse (SE-04). Only the
	// winner's own client races itself: the same token in flight from two
	// clients at once means it was copied, so that loser is reuse (SE-11).
	ConcurrentWindow time.Duration
}

// Revoked reports whether the session has ended by revocation.
func (s Session) Revoked() bool { return !s.RevokedAt.IsZero() }

// Live reports whether the session can still be refreshed at now.
func (s Session) Live(p Policy, now time.Time) bool {
	return !s.Revoked() && now.Before(s.ExpiresAt) && now.Before(s.LastSeenAt.Add(p.IdleTimeout))
}

// Expired reports whether the session ran out (absolute or idle) without being revoked.
func (s Session) Expired(p Policy, now time.Time) bool {
	return !s.Revoked() && !s.Live(p, now)
}

// New starts a session with a first refresh token made from secret.
func New(id ID, uid user.ID, secret []byte, c Client, amr []string, p Policy, now time.Time) (Session, string) {
	tok := encode(secret)
	now = now.UTC()
	return Session{ID: id, UserID: uid, RefreshHash: Hash(tok), Client: c, AMR: slices.Clone(amr),
		CreatedAt: now, LastSeenAt: now, RotatedAt: now, ExpiresAt: now.Add(p.AbsoluteLifetime)}, tok
}

// Rotation is a request to replace the live refresh token of a session
// atomically. Storage applies it only when a session whose RefreshHash is
// Presented is not revoked, not past ExpiresAt at At and was last seen after IdleCutoff.
type Rotation struct {
	Presented  TokenHash
	Next       TokenHash
	Nonce      []byte
	At         time.Time
	IdleCutoff time.Time
	Client     Client
}

// NextToken derives the successor of presented with nonce: HMAC-SHA256 keyed
// by the presented token. Without the presented token the successor cannot
// be computed, so nothing in storage reveals a live token.
func NextToken(presented string, nonce []byte) string {
	m := hmac.New(sha256.New, []byte(presented))
	m.Write(nonce)
	return encode(m.Sum(nil))
}

// PlanRotation prepares the rotation of presented at now under p.
func PlanRotation(presented string, nonce []byte, c Client, p Policy, now time.Time) (Rotation, string) {
	next := NextToken(presented, nonce)
	now = now.UTC()
	return Rotation{Presented: Hash(presented), Next: Hash(next), Nonce: nonce, At: now,
		IdleCutoff: now.Add(-p.IdleTimeout), Client: c}, next
}

// Hash returns the storage form of a refresh token.
func Hash(token string) TokenHash {
	h := sha256.Sum256([]byte(token))
	return TokenHash(hex.EncodeToString(h[:]))
}

func encode(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// ReplayVerdict is what a refresh with a token that is no longer live means.
type ReplayVerdict int

// The verdicts.
const (
	// Unknown: no session ever held the token, or the session has ended.
	Unknown ReplayVerdict = iota
	// LostRace: the token was rotated by a request from the same client
	// that ran at the same time as this one (see Policy.ConcurrentWindow).
	// The caller gets nothing, and the family lives: parallel refreshes
	// are not theft.
	LostRace
	// Grace: a replay of the parent inside the opt-in grace window; answer with
	// the same successor.
	Grace
	// Reuse: the token had been rotated before this request began, or by
	// another client, or is older than the parent. Someone holds a stale
	// or copied token: the family must die (SE-04, SE-11).
	Reuse
	// Timeout: the session ran out of time; it ends with logoutType timeout.
	Timeout
)

// Judge classifies a refresh that failed to rotate. s is the session found by
// the token's hash (its live, previous or an earlier token), c is the client
// that presented it and started is when this request arrived.
func Judge(s Session, presented TokenHash, c Client, p Policy, started, now time.Time) ReplayVerdict {
	switch {
	case s.Revoked():
		return Unknown
	case s.RefreshHash == presented:
		if s.Expired(p, now) {
			return Timeout
		}
		return Unknown
	case s.PreviousHash != presented:
		// Older than the parent: its successor was answered and presented
		// in turn, so this is a stale copy of the chain, however it is timed.
		return Reuse
	case !started.After(s.RotatedAt) || started.Sub(s.RotatedAt) < p.ConcurrentWindow:
		if c != s.Client { // s.Client is the winner's
			return Reuse
		}
		return LostRace
	case p.ReuseGrace > 0 && c == s.Client && now.Sub(s.RotatedAt) <= p.ReuseGrace && s.Live(p, now):
		// Only the winner's own client (another tab) gets the successor
		// again; a copy of the parent elsewhere is theft (SE-11).
		return Grace
	default:
		return Reuse
	}
}

// Revocation records that a session ended, for the revocation lookups that
// access-token checks consult.
type Revocation struct {
	ID     ID
	UserID user.ID
	At     time.Time
}

// WellFormed reports whether t looks like a refresh token (43 base64url
// characters), so garbage is refused before it reaches storage.
func WellFormed(t string) bool {
	if len(t) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(t)
	return err == nil
}
