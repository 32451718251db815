// Package ports declares the interfaces through which the core drives the
// world: storage, hashing, signing, time and identifiers. Each interface is
// shaped by the use case that needs it and states its error and transaction
// contract; adapters implement them and adapters/adaptertest holds one
// contract suite per port that every implementation must pass.
//
// Dependency contract: ports imports only the standard library and core's
// leaf packages (never core use cases, never adapters).
//
// Transactions: every repository method called with a ctx that came from
// Transactor.WithinTx joins that transaction.
package ports

import (
	"context"
	"time"

	"github.com/usermgmt/usermgmt/core/activity"
	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
)

// Clock tells the time. Implementations return UTC truncated to the
// microsecond, the precision every store keeps, so values survive a round trip.
type Clock interface{ Now() time.Time }

// IDs makes identifiers and secrets.
type IDs interface {
	// NewID returns a new UUIDv7 in canonical form.
	NewID() string
	// NewSecret returns n bytes from a CSPRNG.
	NewSecret(n int) []byte
}

// Transactor runs fn in one transaction. Repositories called with fn's ctx
// join it; a nested WithinTx joins the outer transaction. If fn returns an
// error every write made through ctx is rolled back.
type Transactor interface {
	WithinTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Users persists users.
type Users interface {
	// Create stores a new user: user.ErrEmailTaken or user.ErrUsernameTaken
	// (kind Conflict) when either is in use, even by a concurrent Create.
	Create(ctx context.Context, u user.User) error
	// ByID, ByEmail and ByUsername return user.ErrNotFound when there is no match.
	// Email and username are compared in their normalised (lower-case) form.
	ByID(ctx context.Context, id user.ID) (user.User, error)
	ByEmail(ctx context.Context, email string) (user.User, error)
	ByUsername(ctx context.Context, username string) (user.User, error)
	// Update locks the user, applies fn and saves the result. fn must be pure:
	// it may run more than once. An error from fn aborts and is returned as is.
	Update(ctx context.Context, id user.ID, fn func(*user.User) error) (user.User, error)
}

// Credentials persists password hashes.
type Credentials interface {
	// PasswordHash returns credential.ErrNoPassword when the user has none.
	PasswordHash(ctx context.Context, id user.ID) (credential.PasswordHash, error)
	// SetPasswordHash creates or replaces the user's password hash; the
	// recovery mark stays as it is.
	SetPasswordHash(ctx context.Context, id user.ID, h credential.PasswordHash, at time.Time) error
	// SetRecovered marks the password as set through an emailed recovery
	// at at; the zero time clears the mark. A user without a password has
	// none: credential.ErrNoPassword.
	SetRecovered(ctx context.Context, id user.ID, at time.Time) error
	// Recovered returns the mark, the zero time when there is none.
	Recovered(ctx context.Context, id user.ID) (time.Time, error)
}

// Sessions persists sessions. It is the sum of the parts its callers use:
// sign-in opens sessions, refresh rotates them, the owner and
// administrators end them, and background sweeps end them in batches and
// replay the revocations. A use case that needs one part asks for it.
type Sessions interface {
	SessionOpener
	RefreshRotator
	SessionEnder
	SessionSweeper
	SessionReissuer
}

// SessionOpener opens sessions at sign-in.
type SessionOpener interface {
	Create(ctx context.Context, s session.Session) error
	// Known reports whether a session of uid other than except, live or
	// ended, came from the same IP address and user agent as c.
	Known(ctx context.Context, uid user.ID, c session.Client, except session.ID) (bool, error)
}

// RefreshRotator rotates refresh tokens: the refresh hot path.
type RefreshRotator interface {
	// ByRefreshHash finds the session whose live or previous refresh token
	// has hash h or, until the session ends, that rotated out any earlier
	// token of hash h (so a replay of any generation is caught, SE-11); or
	// returns session.ErrNotFound. It is the miss path of refresh: stores
	// remember rotated tokens inside Rotate, at no extra round trip.
	ByRefreshHash(ctx context.Context, h session.TokenHash) (session.Session, error)
	// Rotate applies r atomically, in one statement: of any number of
	// concurrent rotations of one token exactly one succeeds. It returns the
	// rotated session and its user as stored now (the caller needs the
	// user's status and roles for the new access token; a store that can
	// reads them in the same round trip, as this is the refresh hot path).
	// It returns session.ErrNotRotated when no live session holds r.Presented.
	Rotate(ctx context.Context, r session.Rotation) (session.Session, user.User, error)
}

// SessionEnder lists and ends one user's sessions.
type SessionEnder interface {
	// ByID returns session.ErrNotFound when there is no such session.
	ByID(ctx context.Context, id session.ID) (session.Session, error)
	// Live lists the user's sessions that are not revoked and whose
	// absolute lifetime has not ended at now, newest first.
	Live(ctx context.Context, uid user.ID, now time.Time) ([]session.Session, error)
	// Revoke ends a live session and reports whether it did (false when it
	// was already ended or does not exist).
	Revoke(ctx context.Context, id session.ID, reason session.RevokeReason, at time.Time) (bool, error)
	// RevokeUser ends every live session of the user except keep (which may
	// be empty) and returns the ones it ended.
	RevokeUser(ctx context.Context, uid user.ID, keep session.ID, reason session.RevokeReason, at time.Time) ([]session.ID, error)
}

// SessionSweeper ends sessions in batches and replays what ended.
type SessionSweeper interface {
	// EndExpired ends, with reason timeout, up to limit sessions that are
	// not revoked and whose absolute lifetime ended by now or that were
	// last seen before idleCutoff, and returns them. Concurrent callers
	// (several instances) never end the same session twice.
	EndExpired(ctx context.Context, now, idleCutoff time.Time, limit int) ([]session.Revocation, error)
	// EndAll ends up to limit live sessions of every user and returns them.
	EndAll(ctx context.Context, reason session.RevokeReason, at time.Time, limit int) ([]session.Revocation, error)
	// RevokedSince lists sessions revoked at or after t, oldest first.
	RevokedSince(ctx context.Context, t time.Time) ([]session.Revocation, error)
}

// RevokedSessions answers, on the token-check hot path, whether a session
// has ended. It must never miss a revocation that committed before the call
// (SE-03): access tokens of ended sessions fail at once, not at expiry.
type RevokedSessions interface {
	IsRevoked(ctx context.Context, id session.ID) (bool, error)
	// Add records revocations; entries may be forgotten after Revocation.At
	// plus the access-token lifetime, when no token of the session survives.
	Add(ctx context.Context, rs ...session.Revocation) error
}

// Outbox stores events in the transaction of the change that caused them.
type Outbox interface {
	// Append stores events; with a ctx from WithinTx they commit or roll back with it.
	Append(ctx context.Context, events ...event.Event) error
}

// PasswordHasher hashes and verifies passwords. Implementations normalise
// the password (NFKC) before hashing and bound how many hashes run at once,
// failing fast with an error of kind Unavailable when saturated.
type PasswordHasher interface {
	Hash(ctx context.Context, password string) (credential.PasswordHash, error)
	// Verify reports whether password matches h, and whether h was made with
	// weaker parameters than the current ones or by another algorithm (so
	// the caller re-hashes). With
	// an empty h it verifies against a dummy hash of equal cost and returns
	// false: unknown accounts cost the same as known ones (LG-01).
	Verify(ctx context.Context, password string, h credential.PasswordHash) (ok, rehash bool, err error)
}

// HashChecker tells whether a password hash made by another system can be
// stored as it is: whether PasswordHasher.Verify can check passwords
// against it.
type HashChecker interface {
	// CheckHash returns nil for a hash Verify accepts, else an Invalid
	// error saying why in words that never repeat the hash.
	CheckHash(h credential.PasswordHash) error
}

// PasswordBlocklist knows passwords that must not be used (PW-05).
type PasswordBlocklist interface {
	Blocked(ctx context.Context, password string) (bool, error)
}

// TokenSigner issues access tokens.
type TokenSigner interface {
	Sign(ctx context.Context, c token.Claims) (string, error)
}

// TokenVerifier checks an access token's signature and claims. Every failure
// is token.ErrInvalid (wrapped with the reason).
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (token.Claims, error)
}

// SigningKeys persists access-token signing keys. It stores SealedSeed as
// opaque bytes: sealing is the key ring's.
type SigningKeys interface {
	// SigningKeys returns every stored key, newest first.
	SigningKeys(ctx context.Context) ([]token.SigningKey, error)
	// AddSigningKey stores k; a kid that is stored already is an error.
	AddSigningKey(ctx context.Context, k token.SigningKey) error
	// ResealSigningKey replaces kid's SealedSeed with sealed if it still
	// is old, and reports whether it did: of instances that reseal one
	// key at once, exactly one wins.
	ResealSigningKey(ctx context.Context, kid string, old, sealed []byte) (bool, error)
	// DeleteSigningKeys deletes the keys named by kids (unknown ones are
	// ignored) and reports how many it deleted.
	DeleteSigningKeys(ctx context.Context, kids []string) (int, error)
}

// KeyRotator replaces the access-token signing key when its seed may have
// leaked.
type KeyRotator interface {
	// RotateNow makes a new signing key and retires every older one at
	// once: tokens they signed fail on this instance from now on and on
	// every other instance after its next key refresh.
	RotateNow(ctx context.Context) error
}

// OutboxRecord is a stored event as the relay sees it.
type OutboxRecord struct {
	ID        string // the event id
	Type      string
	Key       string // the event subject (user id): the Kafka key
	Payload   []byte // the CloudEvents JSON envelope
	Attempts  int
	CreatedAt time.Time
}

// OutboxRelay hands stored events to a publisher. Records are claimed by
// status (pending), never by an id cursor, so a row that commits late is
// still seen. A relay leases what it claims in a short transaction and
// publishes outside any transaction, so a slow or absent broker holds no
// database lock.
type OutboxRelay interface {
	// Claim leases until leaseUntil up to n pending records whose lease has
	// ended by now, oldest first. No record of a key is claimed while
	// another pending record of that key is leased, so per-key order holds
	// with any number of relays; concurrent Claims never return the same
	// record before its lease ends.
	Claim(ctx context.Context, n int, now, leaseUntil time.Time) ([]OutboxRecord, error)
	// MarkPublished records the broker's ack for the records.
	MarkPublished(ctx context.Context, ids []string, at time.Time) error
	// MarkFailed counts a failed attempt, keeps the error and ends the
	// lease; park takes the record out of the pending set for good (it
	// stays for inspection).
	MarkFailed(ctx context.Context, id, reason string, park bool) error
	// Prune deletes records published before t and reports how many.
	Prune(ctx context.Context, before time.Time) (int, error)
}

// OutboxBacklog reports how far the relay is behind, for lag metrics.
type OutboxBacklog interface {
	// Backlog returns how many records are pending and when the oldest of
	// them was appended (zero when none are).
	Backlog(ctx context.Context) (pending int, oldest time.Time, err error)
}

// EventPublisher delivers outbox records to the event bus. Publish returns
// only after the bus acknowledged every record, or an error if any failed.
type EventPublisher interface {
	Publish(ctx context.Context, recs []OutboxRecord) error
}

// ProcessedEvents is the consumer's inbox: which consumed events have taken
// effect, so a redelivered event changes nothing.
type ProcessedEvents interface {
	// MarkProcessed records eventID for consumer and reports whether it was
	// new. Called in the transaction of the event's effect, so the effect
	// and the record commit together.
	MarkProcessed(ctx context.Context, consumer, eventID string, at time.Time) (bool, error)
}

// Activities persists what other services report about users.
type Activities interface {
	// ByUser returns the user's record, or a zero record for the user.
	ByUser(ctx context.Context, uid user.ID) (activity.Activity, error)
	// Update loads the user's record (zero if none), applies fn and saves it.
	Update(ctx context.Context, uid user.ID, fn func(*activity.Activity) error) (activity.Activity, error)
}

// RateLimiter spends budgets of attempts in fixed windows. Implementations
// are atomic: of any number of concurrent Takes on one key, exactly limit
// are allowed per window, across every instance that shares the store
// (LG-04).
type RateLimiter interface {
	// Take spends one attempt of key's budget of limit per window. When the
	// budget is spent it returns false and the time until the window ends.
	Take(ctx context.Context, key string, limit int, window time.Duration) (ok bool, retryAfter time.Duration, err error)
}

// FailureCounter counts consecutive attempts at a credential, for lockout
// (LG-02) and progressive delay (LG-10): a success resets the counts, a
// quiet period of their ttl forgets them.
type FailureCounter interface {
	// Failures returns key's account count and how long until it is
	// forgotten.
	Failures(ctx context.Context, key string) (n int, ttl time.Duration, err error)
	// Attempt decides and counts one attempt in a single atomic step, so
	// that of any number of concurrent attempts each gets its own number
	// and exactly the allowed ones pass, across every instance that shares
	// the store (LG-04, LG-10). It refuses the attempt, uncounted, with the
	// time until the next one may pass, while a's account count is at
	// a.Max or a's identifier is inside its spacing. Otherwise it adds one
	// to both counts, restarts their ttl, starts the identifier's spacing
	// and returns the new account count (at least 1).
	Attempt(ctx context.Context, a Attempt) (n int, retryAfter time.Duration, err error)
	// Reset forgets key's counts and spacing, as account and as identifier.
	Reset(ctx context.Context, key string) error
}

// Attempt is one try of a credential, counted before it is checked. Its
// two counts are kept apart even when Account and Identifier are equal.
type Attempt struct {
	// Account counts toward the hard cap, Max consecutive failures (LG-02).
	Account string
	Max     int
	// Identifier counts toward the spacing: its n-th attempt refuses the
	// next for Spacing[n-1], or for the last entry once n is past the end
	// (LG-10). Empty Spacing spaces nothing.
	Identifier string
	Spacing    []time.Duration
	// TTL is how long a count lasts after the attempt that last added to it.
	TTL time.Duration
}

// Mailer sends the messages the account flows need. Links and codes carry
// secrets: implementations never log them.
type Mailer interface {
	SendPasswordReset(ctx context.Context, to, link string, expires time.Time) error
	SendEmailVerification(ctx context.Context, to, link string, expires time.Time) error
	// SendSignInCode sends a one-time code: a second factor, or the code
	// that confirms email as one.
	SendSignInCode(ctx context.Context, to, code string, expires time.Time) error
	// SendSecurityNotice tells the account's owner that something happened
	// to it (LG-06). It is best effort: callers do not fail on its error.
	SendSecurityNotice(ctx context.Context, to string, n SecurityNotice) error
}

// NoticeKind is what a security notice reports.
type NoticeKind string

// The notices (LG-06, MF-02).
const (
	NoticeNewDevice           NoticeKind = "new_device"             // a sign-in from a device or address not seen before
	NoticeSignInAfterFailures NoticeKind = "sign_in_after_failures" // a sign-in that followed failed attempts
	NoticePasswordChanged     NoticeKind = "password_changed"
	NoticePasswordReset       NoticeKind = "password_reset" // recovery was used
	NoticeMFAEnabled          NoticeKind = "mfa_enabled"
	NoticeMFADisabled         NoticeKind = "mfa_disabled"
	NoticeBackupCodesRenewed  NoticeKind = "backup_codes_renewed"
	NoticeCodeReused          NoticeKind = "code_reused" // a used TOTP code came back
	NoticeMFAReset            NoticeKind = "mfa_reset"   // an administrator removed every factor
	// NoticeRegistrationAttempt tells the owner of an address that someone
	// tried to register it again (LG-09): the answer to that someone did
	// not say the address is taken.
	NoticeRegistrationAttempt NoticeKind = "registration_attempt"
)

// SecurityNotice is one notice with what the owner needs to judge it.
type SecurityNotice struct {
	Kind      NoticeKind
	At        time.Time
	IP        string
	UserAgent string
	Method    string // the factor concerned, for MFA notices
	Failures  int    // failed attempts before the sign-in
}

// TokenPurpose is what a one-time token proves; a token of one purpose is
// never accepted for another.
type TokenPurpose string

// The purposes.
const (
	PurposePasswordReset TokenPurpose = "password_reset"
	// PurposeAdminPasswordReset is a reset link an administrator had
	// mailed: it works like PurposePasswordReset, and the change it makes
	// is reported with securityLevel admin.
	PurposeAdminPasswordReset TokenPurpose = "admin_password_reset"
	PurposeEmailVerification  TokenPurpose = "email_verification"
	// PurposeMFAReauth is a code sent by email or SMS that stands for a
	// second factor when a factor is changed (MF-05).
	PurposeMFAReauth TokenPurpose = "mfa_reauth"
)

// OneTimeTokens persists mailed one-time tokens, by hash only (LG-07).
type OneTimeTokens interface {
	// Issue stores a token for uid and invalidates every earlier one of
	// uid with the same purpose.
	Issue(ctx context.Context, purpose TokenPurpose, uid user.ID, hash string, issuedAt, expires time.Time) error
	// Lookup returns the user of a live token of purpose (unused, not
	// expired at now) without using it, or user.ErrNotFound.
	Lookup(ctx context.Context, purpose TokenPurpose, hash string, now time.Time) (user.ID, error)
	// Consume uses a live token of purpose, atomically: of concurrent calls
	// one wins; the others get user.ErrNotFound.
	Consume(ctx context.Context, purpose TokenPurpose, hash string, now time.Time) (user.ID, error)
	// InvalidateUser drops every token of uid with purpose.
	InvalidateUser(ctx context.Context, purpose TokenPurpose, uid user.ID) error
}

// Background runs work after the request that caused it has been answered,
// so that neither the answer nor its timing depends on the work: a mailed
// link goes out, or not, without the caller learning which (LG-01).
type Background interface {
	// Run queues work and returns at once. work gets a context of its
	// own, not the caller's, with a deadline. Run returns an error of kind
	// Unavailable when the queue is full or closed; the work's own error is
	// logged by the implementation, never returned.
	Run(name string, work func(ctx context.Context) error) error
}

// UserDirectory finds users for administration.
type UserDirectory interface {
	// Search returns up to q.Limit users matching q (see user.Query.Matches
	// for the meaning of each filter), in q's order, starting after q.After,
	// and whether more follow. q is normalised.
	Search(ctx context.Context, q user.Query) (items []user.Listed, more bool, err error)
	// Listed returns one user with their last sign-in; user.ErrNotFound
	// when there is no such user.
	Listed(ctx context.Context, id user.ID) (user.Listed, error)
}
