// Package usermgmt embeds the user management service in a Go program. It
// wires the core use cases to adapters chosen by Config (SQLite in a data
// directory by default, Postgres by URL) and exposes them as methods, as an
// HTTP API to mount on a Fiber router or a net/http mux, as background jobs
// (the outbox relay) and as the operator's jobs of bin/worker (import,
// export, prune, audit verification, seeding). Only this package is covered by semantic
// versioning; core, ports and adapters may change between minor releases.
package usermgmt

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/usermgmt/usermgmt/adapters/crypto"
	"github.com/usermgmt/usermgmt/adapters/eventlog"
	"github.com/usermgmt/usermgmt/adapters/eventschema"
	"github.com/usermgmt/usermgmt/adapters/httpapi"
	"github.com/usermgmt/usermgmt/adapters/kafka"
	"github.com/usermgmt/usermgmt/adapters/mail"
	"github.com/usermgmt/usermgmt/adapters/memory"
	"github.com/usermgmt/usermgmt/adapters/netguard"
	"github.com/usermgmt/usermgmt/adapters/sms"
	"github.com/usermgmt/usermgmt/adapters/sqlstore"
	"github.com/usermgmt/usermgmt/adapters/system"
	"github.com/usermgmt/usermgmt/adapters/telemetry"
	"github.com/usermgmt/usermgmt/adapters/valkey"
	"github.com/usermgmt/usermgmt/core/admin"
	"github.com/usermgmt/usermgmt/core/auditlog"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/identity"
	"github.com/usermgmt/usermgmt/core/relay"
	"github.com/usermgmt/usermgmt/ports"
)

// Version is the release of the library, reported in /openapi.json.
const Version = "0.1.0"

// Service is a running user management service.
type Service struct {
	cfg     Config
	log     *slog.Logger
	id      httpapi.UseCases
	trail   *auditlog.Log
	api     *httpapi.API
	relay   *relay.Relay
	ring    *crypto.KeyRing
	ops     operations
	metrics *telemetry.Metrics
	ready   func(context.Context) error
	closers []func() error
	once    sync.Once
}

// Option configures New.
type Option func(*options)

type options struct {
	log       *slog.Logger
	publisher ports.EventPublisher
	mailer    ports.Mailer
	sms       ports.SMSSender
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Mailer delivers the account flows' messages; links and codes carry
// secrets and must not be logged. It has the method set of the service's
// own port, so a host passes its mail system without importing usermgmt
// internals.
type Mailer interface {
	SendPasswordReset(ctx context.Context, to, link string, expires time.Time) error
	SendEmailVerification(ctx context.Context, to, link string, expires time.Time) error
	// SendSignInCode sends a one-time code (email as a second factor).
	SendSignInCode(ctx context.Context, to, code string, expires time.Time) error
	// SendSecurityNotice tells an account's owner what happened to it: a
	// sign-in from a new device, a password or second-factor change, a
	// recovery. It is best effort; the service sends it in the background.
	SendSecurityNotice(ctx context.Context, to string, n SecurityNotice) error
}

// SecurityNotice is what a security notice reports; Kind is one of the
// Notice* constants.
type SecurityNotice = ports.SecurityNotice

// The kinds of SecurityNotice.
const (
	NoticeNewDevice           = ports.NoticeNewDevice
	NoticeSignInAfterFailures = ports.NoticeSignInAfterFailures
	NoticePasswordChanged     = ports.NoticePasswordChanged
	NoticePasswordReset       = ports.NoticePasswordReset
	NoticeMFAEnabled          = ports.NoticeMFAEnabled
	NoticeMFADisabled         = ports.NoticeMFADisabled
	NoticeBackupCodesRenewed  = ports.NoticeBackupCodesRenewed
	NoticeCodeReused          = ports.NoticeCodeReused
	NoticeMFAReset            = ports.NoticeMFAReset
	NoticeRegistrationAttempt = ports.NoticeRegistrationAttempt
)

// WithMailer sends the account flows' mail through m instead of SMTP or
// files (and instead of nowhere, for NewInMemory).
func WithMailer(m Mailer) Option { return func(o *options) { o.mailer = m } }

// SMSSender delivers text messages (sign-in codes). The text carries a
// secret and must not be logged.
type SMSSender interface {
	SendSMS(ctx context.Context, to, text string) error
}

// WithSMSSender sends sign-in codes by SMS through s instead of the
// webhook of USERMGMT_SMS_WEBHOOK_URL; it turns the SMS factor on.
func WithSMSSender(s SMSSender) Option { return func(o *options) { o.sms = s } }

// Event is a published event: its id, type, key (the user id) and the
// CloudEvents JSON envelope.
type Event struct {
	ID, Type, Key string
	Envelope      []byte
}

// EventSink receives the events the outbox relay publishes, in order per
// key, at least once. Publish returns only when the events are safely
// handed over; an error makes the relay try them again later.
type EventSink interface {
	Publish(ctx context.Context, events []Event) error
}

// WithEventSink sends events to the host's own bus instead of Kafka or the
// log, for programs that embed usermgmt while they migrate.
func WithEventSink(s EventSink) Option {
	return func(o *options) { o.publisher = sinkPublisher{s} }
}

// sinkPublisher is the ports.EventPublisher over a host's EventSink. It
// keeps the port's contract whatever the host makes of ctx or of an empty
// call: an empty batch never reaches the host, and no batch does once ctx
// has ended (the caller has given up on it; a host that ignores ctx would
// take it anyway and report success).
type sinkPublisher struct{ sink EventSink }

func (p sinkPublisher) Publish(ctx context.Context, recs []ports.OutboxRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	evs := make([]Event, len(recs))
	for i, r := range recs {
		evs[i] = Event{ID: r.ID, Type: r.Type, Key: r.Key, Envelope: r.Payload}
	}
	return p.sink.Publish(ctx, evs)
}

// stores are the persistence ports of one backend.
type stores struct {
	tx    ports.Transactor
	users interface {
		ports.Users
		ports.AccountImports
		ports.UserEraser
	}
	creds    ports.Credentials
	sessions ports.Sessions
	outbox   interface {
		ports.Outbox
		ports.OutboxRelay
		ports.OutboxBacklog
	}
	keys        ports.SigningKeys
	tokens      ports.OneTimeTokens
	factors     ports.MFAFactors
	backupCodes ports.BackupCodes
	challenges  ports.MFAChallenges
	roles       ports.Roles
	directory   ports.UserDirectory
	audit       ports.AuditLog
	secrets     ports.SecretBox
	// encryptionKey is the key secrets seals with; the audit key derives
	// from it unless USERMGMT_AUDIT_KEY is set.
	encryptionKey []byte
	ready         func(context.Context) error
	close         func() error
	db            *sqlstore.DB // nil for memory stores
}

// New opens the store named by cfg (migrating it when cfg.AutoMigrate is
// set), loads or creates signing keys, creates the first administrator when
// configured, and returns the service. Close releases it.
func New(ctx context.Context, cfg Config, opts ...Option) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := newOptions(opts)
	st, err := openStores(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	s, err := build(ctx, cfg, o, st)
	if err != nil {
		_ = st.close()
		return nil, err
	}
	return s, nil
}

// NewInMemory returns a service over in-memory stores, for tests of programs
// that embed usermgmt. It behaves like the SQL-backed service (the same
// contract suites pass on both) and keeps nothing after Close.
func NewInMemory(cfg Config, opts ...Option) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	enc, err := eventEncoder(cfg)
	if err != nil {
		return nil, err
	}
	key := make([]byte, crypto.EncryptionKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	box, key, err := secretBox(cfg, func() ([]byte, error) { return key, nil })
	if err != nil {
		return nil, err
	}
	m := memory.New()
	st := memoryStores(m, memory.NewOutbox(m, enc), box, key)
	o := newOptions(opts)
	if o.mailer == nil {
		o.mailer = &memory.Mailbox{} // in memory too: nothing written to disk
	}
	if o.sms == nil {
		o.sms = &memory.SMSBox{}
	}
	return build(context.Background(), cfg, o, st)
}

// memoryStores are the stores of NewInMemory: everything in m.
func memoryStores(m *memory.Store, out *memory.Outbox, box ports.SecretBox, key []byte) stores {
	return stores{tx: memory.NewTransactor(m), users: memory.NewUsers(m), creds: memory.NewCredentials(m),
		sessions: memory.NewSessions(m), outbox: out, keys: memory.NewSigningKeys(m), tokens: memory.NewOneTimeTokens(m),
		factors: memory.NewMFAFactors(m), backupCodes: memory.NewBackupCodes(m), challenges: memory.NewMFAChallenges(m),
		roles: memory.NewRoles(m), directory: memory.NewDirectory(m), audit: memory.NewAuditLog(m),
		secrets: box, encryptionKey: key, close: func() error { return nil }}
}

func newOptions(opts []Option) options {
	o := options{log: slog.New(slog.DiscardHandler)}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// newMailer sends over SMTP when USERMGMT_SMTP_URL is set; else the host's
// option, else files in the data directory (the embedded default: the
// operator reads them there; links never go to the log).
func newMailer(cfg Config, o options) (ports.Mailer, error) {
	if o.mailer != nil {
		return o.mailer, nil
	}
	if cfg.SMTPURL != "" {
		m, err := mail.NewSMTP(cfg.SMTPURL, cfg.MailFrom)
		if err != nil {
			return nil, fmt.Errorf("USERMGMT_SMTP_URL: %w", err)
		}
		return m, nil
	}
	m, err := mail.NewFiles(filepath.Join(cfg.DataDir, "mail"))
	if err != nil {
		return nil, fmt.Errorf("USERMGMT_DATA_DIR: mail: %w", err)
	}
	return m, nil
}

// serviceMailer is the use cases' mailer: newMailer's, and with a
// background queue (a database-backed service) its security notices go out
// as background work, so a slow mail server must not slow a sign-in; codes
// and links are sent while the caller waits.
func serviceMailer(cfg Config, o options, background ports.Background) (ports.Mailer, error) {
	m, err := newMailer(cfg, o)
	if err != nil || background == nil {
		return m, err
	}
	return mail.NewBackgroundNotices(m, background, o.log), nil
}

// sharedStore keeps the state every instance must share: rate limits,
// failure counts and ended sessions.
type sharedStore struct {
	limiter  ports.RateLimiter
	failures ports.FailureCounter
	revoked  ports.RevokedSessions
	ping     func(context.Context) error // nil in process
	close    func() error
}

// shared keeps that state in Valkey when it is configured, one connection
// for all of it, so limits hold across instances and a revocation reaches
// every instance at once; else in this process, where instances sharing a
// database learn of each other's revocations through the sync Run does
// every second. Revocations are kept for keep.
func shared(cfg Config, clock ports.Clock, keep time.Duration) (sharedStore, error) {
	if cfg.ValkeyAddr == "" {
		l := memory.NewLimits(clock)
		return sharedStore{limiter: l, failures: l, revoked: memory.NewRevokedSessions(clock, keep),
			close: func() error { return nil }}, nil
	}
	s, err := valkey.Open(cfg.ValkeyAddr, cfg.ValkeyPrefix)
	if err != nil {
		return sharedStore{}, fmt.Errorf("USERMGMT_VALKEY_ADDR: %w", err)
	}
	l := valkey.NewLimits(s)
	return sharedStore{limiter: l, failures: l, revoked: valkey.NewRevokedSessions(s, clock, keep),
		ping: s.Ping, close: func() error { s.Close(); return nil }}, nil
}

// secretBox seals secrets at rest with the configured keys, or, on the
// embedded default, the key that generated returns.
func secretBox(cfg Config, generated func() ([]byte, error)) (*crypto.SecretBox, []byte, error) {
	if cfg.EncryptionKey != "" {
		keys, err := crypto.ParseEncryptionKeys(cfg.EncryptionKey)
		if err != nil {
			return nil, nil, fmt.Errorf("USERMGMT_ENCRYPTION_KEY: %w", err)
		}
		box, err := crypto.NewSecretBox(keys...)
		return box, keys[0], err
	}
	k, err := generated()
	if err != nil {
		return nil, nil, fmt.Errorf("USERMGMT_DATA_DIR: encryption key: %w", err)
	}
	box, err := crypto.NewSecretBox(k)
	return box, k, err
}

// smsSender is the host's sender, else the webhook when configured, else
// none: the SMS factor is off.
func smsSender(cfg Config, o options) (ports.SMSSender, error) {
	if o.sms != nil {
		return o.sms, nil
	}
	if cfg.SMSWebhookURL == "" {
		return nil, nil
	}
	w, err := sms.New(sms.Config{URL: cfg.SMSWebhookURL, Secret: cfg.SMSWebhookSecret, Logger: o.log})
	if err != nil {
		return nil, fmt.Errorf("USERMGMT_SMS_WEBHOOK_URL: %w", err)
	}
	return w, nil
}

// publisher is Kafka when brokers are configured, else the log. The
// returned func releases it.
func publisher(cfg Config, o options) (ports.EventPublisher, func() error, error) {
	if o.publisher != nil {
		return o.publisher, func() error { return nil }, nil
	}
	if len(cfg.KafkaBrokers) == 0 {
		return eventlog.New(o.log), func() error { return nil }, nil
	}
	p, err := kafka.NewPublisher(kafka.Config{Brokers: cfg.KafkaBrokers, Topic: cfg.KafkaTopic, Logger: o.log})
	if err != nil {
		return nil, nil, fmt.Errorf("USERMGMT_KAFKA_BROKERS: %w", err)
	}
	return p, func() error { p.Close(); return nil }, nil
}

// eventEncoder makes the outbox's envelopes and checks each against the
// JSON Schema of its type before it is stored: an event that breaks the
// published contract fails its transaction instead of reaching consumers.
func eventEncoder(cfg Config) (event.Encoder, error) {
	v, err := eventschema.New()
	if err != nil {
		return nil, err
	}
	return v.Wrap(event.NewEncoder(cfg.issuer(), cfg.PublicURL+"/schemas/events/", traceParent)), nil
}

// openStores opens the SQL store of cfg with the schema-checking event encoder.
func openStores(ctx context.Context, cfg Config, o options) (stores, error) {
	enc, err := eventEncoder(cfg)
	if err != nil {
		return stores{}, err
	}
	return openSQL(ctx, cfg, o.log, enc)
}

// ownerOnlyDir creates dir 0700, or takes the group's and others' access
// away from an existing one: it holds the database, the encryption key and
// mailed links (SE-12), whatever mode an operator created it with.
func ownerOnlyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	return os.Chmod(dir, fi.Mode().Perm()&0o700)
}

func openSQL(ctx context.Context, cfg Config, log *slog.Logger, enc event.Encoder) (stores, error) {
	sc := sqlstore.Config{URL: cfg.DatabaseURL, Logger: log}
	if cfg.DatabaseURL == "" {
		if err := ownerOnlyDir(cfg.DataDir); err != nil {
			return stores{}, fmt.Errorf("USERMGMT_DATA_DIR: %w", err)
		}
		sc.SQLitePath = filepath.Join(cfg.DataDir, "usermgmt.db")
	}
	db, err := sqlstore.Open(ctx, sc)
	if err != nil {
		return stores{}, err
	}
	if cfg.AutoMigrate {
		if err := db.Migrate(ctx); err != nil {
			_ = db.Close()
			return stores{}, err
		}
	}
	box, key, err := secretBox(cfg, func() ([]byte, error) {
		return crypto.LoadOrCreateKeyFile(filepath.Join(cfg.DataDir, "encryption.key"))
	})
	if err != nil {
		_ = db.Close()
		return stores{}, err
	}
	out := sqlstore.NewOutbox(db, enc)
	return stores{tx: sqlstore.NewTransactor(db), users: sqlstore.NewUsers(db), creds: sqlstore.NewCredentials(db),
		sessions: sqlstore.NewSessions(db), outbox: out, keys: sqlstore.NewSigningKeys(db),
		tokens: sqlstore.NewOneTimeTokens(db), factors: sqlstore.NewMFAFactors(db), backupCodes: sqlstore.NewBackupCodes(db),
		challenges: sqlstore.NewMFAChallenges(db), roles: sqlstore.NewRoles(db), directory: sqlstore.NewDirectory(db),
		audit: sqlstore.NewAuditLog(db), secrets: box, encryptionKey: key, ready: db.Ping, close: db.Close, db: db}, nil
}

// KeyRefreshInterval is how often a running service reloads its signing
// keys: to rotate on schedule, to learn keys other instances made and to
// drop keys retired at once (RotateSigningKeyNow, EndAllSessions), whose
// tokens therefore fail on every instance within it.
const KeyRefreshInterval = 10 * time.Second

// verifyLeeway is the clock skew the verifier allows; revocations are kept
// that much longer than a token lives.
const verifyLeeway = 30 * time.Second

// keyRingConfig is the signing-key lifecycle of cfg: a retired key verifies
// for one token lifetime (plus leeway) after its successor starts signing.
func keyRingConfig(cfg Config) crypto.KeyRingConfig {
	krc := crypto.KeyRingConfig{RotateAfter: cfg.KeyRotation, RetainFor: cfg.AccessTokenTTL + verifyLeeway}
	if cfg.DatabaseURL != "" {
		// Other instances load a new key on their next refresh; publish it
		// that long before it signs, so none meets a kid it does not know.
		krc.PublishAhead = 2 * KeyRefreshInterval
	}
	return krc
}

func build(ctx context.Context, cfg Config, o options, st stores) (*Service, error) {
	clock, ids := system.Clock{}, system.IDs{}
	metrics := telemetry.New()
	// The relay is built last but woken by every commit of the use cases:
	// the transactor decorator holds a pointer filled in below. The relay
	// itself keeps the plain transactor, or its own commits would wake it
	// in an endless loop.
	var rl *relay.Relay
	plainTx := st.tx
	st.tx = notifyingTx{next: st.tx, notify: func() {
		if rl != nil {
			rl.Notify()
		}
	}}
	params := crypto.Argon2Params{MemoryKiB: cfg.Argon2MemoryKiB, Iterations: cfg.Argon2Iterations,
		Parallelism: cfg.Argon2Parallelism, SaltLen: 16, KeyLen: 32}
	var hopts []crypto.Argon2Option
	if cfg.HashConcurrency > 0 {
		hopts = append(hopts, crypto.WithMaxConcurrency(cfg.HashConcurrency))
	}
	hasher, err := crypto.NewArgon2Hasher(params, hopts...)
	if err != nil {
		return nil, err
	}
	ring, err := crypto.NewKeyRing(ctx, st.keys, st.secrets, clock, ids, keyRingConfig(cfg))
	if err != nil {
		return nil, err
	}
	audience := cfg.issuer()
	bare, err := crypto.NewVerifier(ring, cfg.issuer(), audience, cfg.AccessTokenTTL, clock)
	if err != nil {
		return nil, err
	}
	// Gateways present the same token again and again: verify it once, then
	// serve it from memory until it expires (revocation is checked every time).
	verifier, err := crypto.NewCachingVerifier(bare, clock, 100_000, crypto.DropOnRetirement(ring))
	if err != nil {
		return nil, err
	}
	signer, err := crypto.NewSigner(ring)
	if err != nil {
		return nil, err
	}
	sh, err := shared(cfg, clock, cfg.AccessTokenTTL+verifyLeeway)
	if err != nil {
		return nil, err
	}
	revoked := sh.revoked
	closers := []func() error{sh.close}
	fail := func(err error) (*Service, error) {
		for _, c := range closers {
			_ = c()
		}
		return nil, err
	}
	// Mailed-link requests are answered before their work runs (LG-01),
	// and notices go out after the sign-in that caused them; Close drains
	// what was accepted before the stores close.
	background := system.NewBackground(backgroundWorkers, backgroundQueue, 30*time.Second, o.log)
	closers = append([]func() error{func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return background.Close(ctx)
	}}, closers...)
	var notices ports.Background
	if st.db != nil {
		notices = background
	}
	mailer, err := serviceMailer(cfg, o, notices)
	if err != nil {
		return fail(err)
	}
	texts, err := smsSender(cfg, o)
	if err != nil {
		return fail(err)
	}
	akey, err := auditKey(cfg, st.encryptionKey)
	if err != nil {
		return fail(err)
	}
	trail, err := auditlog.New(auditlog.Deps{Log: st.audit, Clock: clock}, akey)
	if err != nil {
		return fail(err)
	}
	// Every event an action appends is audited in its transaction.
	events := auditlog.NewRecorder(st.tx, st.outbox, trail)
	auth, err := admin.NewAuthorizer(st.users, st.roles, trail)
	if err != nil {
		return fail(err)
	}
	id, err := newIdentity(cfg, identityPorts{stores: st, events: events, gate: auth, trail: trail, limits: sh, hasher: hasher, signer: signer,
		verifier: verifier, revoked: revoked, keys: ring, mailer: mailer, sms: texts, background: background, clock: clock,
		ids: ids}, o.log)
	if err != nil {
		return fail(err)
	}
	adm, err := newAdmin(cfg, adminPorts{stores: st, events: events, revoked: revoked, passwords: id.Passwords, trail: trail,
		auth: auth, clock: clock, ids: ids}, o.log)
	if err != nil {
		return fail(err)
	}
	id.Admin = adm
	ops, err := newOperations(cfg, st, events, hasher, trail, clock, ids)
	if err != nil {
		return fail(err)
	}
	// A restart must forget no revocation whose tokens may still be valid.
	if err := id.Sessions.SyncRevocations(ctx, cfg.AccessTokenTTL+verifyLeeway); err != nil {
		return fail(err)
	}
	if cfg.AdminEmail != "" {
		created, err := id.Accounts.EnsureAdmin(ctx, cfg.AdminEmail, cfg.AdminPassword)
		if errors.Is(err, identity.ErrBootstrapNotAdmin) {
			o.log.WarnContext(ctx, "USERMGMT_ADMIN_EMAIL names an existing account that is not an administrator; it was left as it is, and no administrator was created",
				"email", cfg.AdminEmail)
			err = nil
		}
		if err != nil {
			return fail(fmt.Errorf("USERMGMT_ADMIN_EMAIL: %w", err))
		}
		if created {
			o.log.InfoContext(ctx, "first administrator created", "email", cfg.AdminEmail)
		}
	}
	metrics.WatchBacklog(st.outbox.Backlog, clock.Now)
	pub, closePub, err := publisher(cfg, o)
	if err != nil {
		return fail(err)
	}
	closers = append([]func() error{closePub}, closers...) // stop publishing first
	rl, err = relay.New(plainTx, st.outbox, pub, clock, relay.Config{OnPublished: metrics.ObservePublished, OnParked: metrics.ObserveParked}, o.log)
	if err != nil {
		return fail(err)
	}
	ready := readiness(st.ready, sh.ping)
	api, err := httpapi.New(id, httpapi.Options{Logger: o.log, JWKS: ring.JWKS, Ready: ready,
		TrustedProxies: cfg.TrustedProxies, Version: Version, EventSchema: eventschema.Schema,
		ObserveRequest: metrics.ObserveRequest})
	if err != nil {
		return fail(err)
	}
	return &Service{cfg: cfg, log: o.log, id: id, trail: trail, api: api, relay: rl, ring: ring, ops: ops, ready: ready, metrics: metrics,
		closers: append(closers, st.close)}, nil
}

// The background queue: a few workers suffice, since its work waits on
// the mail server, not the CPU; past the queue, requests are refused with
// 503 rather than piling up.
const (
	backgroundWorkers = 4
	backgroundQueue   = 1024
)

// readiness is ready when every check that is configured passes: the
// database and, when shared state lives there, Valkey (sign-in and every
// token check fail closed without it, so the instance should leave the
// load balancer).
func readiness(checks ...func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		for _, c := range checks {
			if c == nil {
				continue
			}
			if err := c(ctx); err != nil {
				return err
			}
		}
		return nil
	}
}

// App returns a standalone Fiber app serving the whole API.
func (s *Service) App() *fiber.App { return s.api.App() }

// ListenerLimits are the guards of a public listener (IV-05): a
// connection beyond MaxConns, or beyond MaxConnsPerIP from one address, is
// closed as soon as it is accepted, so accept never runs out of
// descriptors and the process survives a flood; one that sends nothing
// within FirstByteTimeout is closed. Zero caps are derived from the
// open-file limit, a zero FirstByteTimeout is 5s. A FirstByteTimeout
// beyond the API's 15 s read timeout would never fire.
type ListenerLimits struct {
	MaxConns         int
	MaxConnsPerIP    int // trusted proxies are held only to MaxConns
	FirstByteTimeout time.Duration
}

// Guard puts ln, the listener App is to be served on with app.Listener,
// behind the connection guards of IV-05 within lim: caps in total and per
// address, retried accepts when descriptors run out, a first-byte
// timeout. Shed connections are counted in the metrics. On error ln is
// left to the caller to close. Hosts that Mount the API keep their own
// listener and limits.
func (s *Service) Guard(ctx context.Context, ln net.Listener, lim ListenerLimits) (net.Listener, error) {
	g, err := netguard.New(ln, netguard.Config{MaxConns: lim.MaxConns, MaxConnsPerIP: lim.MaxConnsPerIP,
		FirstByteTimeout: lim.FirstByteTimeout, Exempt: s.cfg.TrustedProxies, Logger: s.log, OnShed: s.metrics.ObserveShed})
	if err != nil {
		return nil, err
	}
	maxConns, perIP, firstByte := g.Limits()
	s.log.InfoContext(ctx, "connection caps", "maxConns", maxConns, "maxConnsPerIP", perIP, "firstByteTimeout", firstByte)
	return g, nil
}

// ListenInternal opens a listener on addr for an endpoint kept off the
// public one (metrics, profiling: IV-04) under the guards of IV-05: at most
// a few connections (a new one closes the idlest kept-alive one, or is
// shed), retried accepts when descriptors run out, a first-byte timeout.
// Without them a flood of connections to it would take the descriptors the
// public listener and the database need. log receives the guards' warnings
// (nil discards them).
func ListenInternal(ctx context.Context, addr string, log *slog.Logger) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	g, err := netguard.New(ln, netguard.Config{MaxConns: netguard.InternalMaxConns, MaxConnsPerIP: netguard.InternalMaxConns, Logger: log})
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	return g, nil
}

// Mount serves the API's routes on a host's Fiber router.
func (s *Service) Mount(r fiber.Router) { s.api.Mount(r) }

// MetricsHandler serves the service's Prometheus metrics. Serve it on an
// internal listener, not beside the public API (IV-04).
func (s *Service) MetricsHandler() http.Handler { return s.metrics.Handler() }

// notifyingTx wakes the outbox relay after every committed top-level
// transaction, so events go out within milliseconds of their commit.
type notifyingTx struct {
	next   ports.Transactor
	notify func()
}

type inTxKey struct{}

func (t notifyingTx) WithinTx(ctx context.Context, fn func(context.Context) error) error {
	if ctx.Value(inTxKey{}) != nil {
		return t.next.WithinTx(ctx, fn)
	}
	err := t.next.WithinTx(context.WithValue(ctx, inTxKey{}, true), fn)
	if err == nil {
		t.notify()
	}
	return err
}

// Handler returns the API as a net/http handler, for hosts without Fiber.
func (s *Service) Handler() http.Handler { return adaptor.FiberApp(s.api.App()) }

// sweepInterval is how often Run ends sessions that timed out, so their
// user.logout (logoutType timeout) goes out within a minute or so.
const sweepInterval = time.Minute

// Run runs the background jobs until ctx ends: the outbox relay, the
// session sweep (idle and absolute timeouts, SE-06), the
// signing-key refresh (rotation on schedule) and the revocation sync that
// makes sessions ended by other processes on the same database (other
// instances, the consumer) fail here within a second. With Valkey those
// fail here at once anyway; the sync remains the safety net for a
// revocation that committed but did not reach Valkey, or that Valkey lost.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	every := func(d time.Duration, what string, job func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(d)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if err := job(ctx); err != nil && ctx.Err() == nil {
						s.log.WarnContext(ctx, what+" failed", "err", err)
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = s.relay.Run(ctx) }()
	every(KeyRefreshInterval, "signing key refresh", s.ring.Refresh)
	every(sweepInterval, "session sweep", func(ctx context.Context) error {
		n, err := s.id.Sessions.EndExpiredSessions(ctx)
		if n > 0 {
			s.log.InfoContext(ctx, "expired sessions ended", "sessions", n)
		}
		return err
	})
	// Each sync reaches back to the last one that succeeded (plus slack for
	// clock skew between instances), so a database outage cannot make an
	// instance skip revocations; no further than a token's lifetime.
	lastSync := time.Now()
	maxWindow := s.cfg.AccessTokenTTL + verifyLeeway
	every(time.Second, "revocation sync", func(ctx context.Context) error {
		start := time.Now()
		if err := s.id.Sessions.SyncRevocations(ctx, min(start.Sub(lastSync)+5*time.Second, maxWindow)); err != nil {
			return err
		}
		lastSync = start
		return nil
	})
	wg.Wait()
	return nil
}

// RelayOnce publishes one batch of pending events and reports how many.
func (s *Service) RelayOnce(ctx context.Context) (int, error) { return s.relay.Once(ctx) }

// Close releases the store.
func (s *Service) Close() error {
	var err error
	s.once.Do(func() {
		for _, c := range s.closers {
			err = errors.Join(err, c())
		}
	})
	return err
}

// Migrate applies the database migrations of cfg's store and returns; for
// `worker migrate` and deployments that migrate before rolling out.
func Migrate(ctx context.Context, cfg Config, opts ...Option) error {
	cfg.AutoMigrate = true
	st, err := openStores(ctx, cfg, newOptions(opts))
	if err != nil {
		return err
	}
	return st.close()
}

// RotateSigningKey makes a new signing key in cfg's store, for `worker keys
// rotate`: running instances sign with it after their next key refresh (on
// Postgres, once it has been published for two refresh intervals), and the
// old key keeps verifying for one access-token lifetime, so no client sees
// a failure.
func RotateSigningKey(ctx context.Context, cfg Config, opts ...Option) error {
	return withKeyRing(ctx, cfg, opts, (*crypto.KeyRing).Rotate)
}

// RotateSigningKeyNow makes a new signing key that signs at once and
// retires every older key at once, for a seed that may have leaked (`worker
// keys rotate --now`): their tokens, forged ones included, fail on every
// instance within KeyRefreshInterval. Clients then refresh their tokens.
func RotateSigningKeyNow(ctx context.Context, cfg Config, opts ...Option) error {
	return withKeyRing(ctx, cfg, opts, (*crypto.KeyRing).RotateNow)
}

// withKeyRing runs fn on the key ring of cfg's store.
func withKeyRing(ctx context.Context, cfg Config, opts []Option, fn func(*crypto.KeyRing, context.Context) error) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	st, err := openStores(ctx, cfg, newOptions(opts))
	if err != nil {
		return err
	}
	ring, err := crypto.NewKeyRing(ctx, st.keys, st.secrets, system.Clock{}, system.IDs{}, keyRingConfig(cfg))
	if err == nil {
		err = fn(ring, ctx)
	}
	return errors.Join(err, st.close())
}

// NewLogger returns the slog logger cfg asks for, writing to w.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	ho := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}
