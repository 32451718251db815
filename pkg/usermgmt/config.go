package usermgmt

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt/adapters/crypto"
	"github.com/usermgmt/usermgmt/adapters/sms"
)

// Config is the configuration of the library. FromEnv reads it from
// USERMGMT_* variables; hosts that embed the library fill it in code. The
// listeners are the host's: bin/server reads its own from the environment
// and guards the public one with Service.Guard.
type Config struct {
	DataDir      string // USERMGMT_DATA_DIR: SQLite file and local state of the embedded default
	DatabaseURL  string // USERMGMT_DATABASE_URL: postgres://...; empty means SQLite in DataDir
	ValkeyAddr   string // USERMGMT_VALKEY_ADDR: host:port; empty keeps limits and revocations in process
	ValkeyPrefix string // USERMGMT_VALKEY_PREFIX: prefix of every key, so deployments can share a server
	AutoMigrate  bool   // USERMGMT_AUTO_MIGRATE

	Issuer            string        // USERMGMT_ISSUER: empty means the public URL, so each deployment has its own
	AccessTokenTTL    time.Duration // USERMGMT_ACCESS_TOKEN_TTL
	RefreshTokenTTL   time.Duration // USERMGMT_REFRESH_TOKEN_TTL: absolute session lifetime
	SessionIdle       time.Duration // USERMGMT_SESSION_IDLE_TIMEOUT
	RefreshReuseGrace time.Duration // USERMGMT_REFRESH_REUSE_GRACE
	// RefreshConcurrentWindow: parallel refreshes of one token that arrive
	// within it of each other lose the race without ending the session.
	RefreshConcurrentWindow time.Duration // USERMGMT_REFRESH_CONCURRENT_WINDOW
	KeyRotation             time.Duration // USERMGMT_SIGNING_KEY_ROTATION

	Argon2MemoryKiB   uint32 // USERMGMT_ARGON2_MEMORY_KIB
	Argon2Iterations  uint32 // USERMGMT_ARGON2_ITERATIONS
	Argon2Parallelism uint8  // USERMGMT_ARGON2_PARALLELISM
	// HashConcurrency bounds simultaneous argon2 runs (memory = this x memory cost).
	HashConcurrency int // USERMGMT_HASH_CONCURRENCY (default 2 x cores)

	RateLimit bool // USERMGMT_RATE_LIMIT
	// RequireEmailVerification blocks sign-in until the address is verified.
	RequireEmailVerification bool           // USERMGMT_REQUIRE_EMAIL_VERIFICATION
	TrustedProxies           []netip.Prefix // USERMGMT_TRUSTED_PROXIES
	PublicURL                string         // USERMGMT_PUBLIC_URL
	SMTPURL                  string         // USERMGMT_SMTP_URL: smtp[s]://user:pass@host:port; empty writes mail to DataDir/mail
	MailFrom                 string         // USERMGMT_MAIL_FROM

	// EncryptionKey seals secrets at rest (TOTP seeds, sent codes): 32
	// bytes in base64 or hex, or a comma-separated list whose first key
	// seals and all of which open (rotation). Empty on the embedded default
	// means a key generated into DataDir/encryption.key; Postgres requires
	// it, since every instance must share it.
	EncryptionKey string // USERMGMT_ENCRYPTION_KEY
	// MFAIssuer names the service in authenticator apps and texted codes.
	MFAIssuer string // USERMGMT_MFA_ISSUER
	// SMSWebhookURL and SMSWebhookSecret turn SMS codes on: each message is
	// posted, signed with the secret, to the URL (adapters/sms).
	SMSWebhookURL    string // USERMGMT_SMS_WEBHOOK_URL
	SMSWebhookSecret string // USERMGMT_SMS_WEBHOOK_SECRET

	KafkaBrokers []string // USERMGMT_KAFKA_BROKERS: comma-separated; empty logs events instead
	KafkaTopic   string   // USERMGMT_KAFKA_TOPIC

	ConsumerTopics []string            // USERMGMT_CONSUMER_TOPICS: what apps/consumer reads
	ConsumerGroup  string              // USERMGMT_CONSUMER_GROUP
	PlanRoles      map[string][]string // USERMGMT_PLAN_ROLES: JSON {"plan": ["role", ...]}

	// AuditKey keys the audit trail's hash chain (32+ bytes, base64 or
	// hex): without it, someone who can write to the database cannot
	// rewrite the chain unnoticed. Empty derives it from the first
	// encryption key; set it to rotate encryption keys independently.
	AuditKey string // USERMGMT_AUDIT_KEY
	// AuditRetention is how long audit entries are kept (the worker's
	// prune deletes older ones, the chain restarting at a checkpoint).
	AuditRetention time.Duration // USERMGMT_AUDIT_RETENTION
	// DeletedUserRetention is how long a deleted account can be restored
	// before the worker's prune erases it.
	DeletedUserRetention time.Duration // USERMGMT_DELETED_USER_RETENTION

	AdminEmail    string // USERMGMT_ADMIN_EMAIL
	AdminPassword string // USERMGMT_ADMIN_PASSWORD

	LogLevel  slog.Level // USERMGMT_LOG_LEVEL
	LogFormat string     // USERMGMT_LOG_FORMAT: text or json
}

// DefaultConfig is the embedded default: SQLite in ./data, OWASP argon2id
// parameters, 15-minute access tokens, 30-day sessions.
func DefaultConfig() Config {
	return Config{
		DataDir: "./data", AutoMigrate: true,
		AccessTokenTTL: 15 * time.Minute, RefreshTokenTTL: 720 * time.Hour,
		SessionIdle: 168 * time.Hour, RefreshConcurrentWindow: 50 * time.Millisecond, KeyRotation: 30 * 24 * time.Hour,
		Argon2MemoryKiB: 19456, Argon2Iterations: 2, Argon2Parallelism: 1,
		RateLimit: true, PublicURL: "http://localhost:3011", KafkaTopic: "user-events", ValkeyPrefix: "usermgmt:",
		MailFrom: "usermgmt <no-reply@localhost>", MFAIssuer: "usermgmt",
		AuditRetention: 365 * 24 * time.Hour, DeletedUserRetention: 30 * 24 * time.Hour,
		ConsumerTopics: []string{"account-events", "campaign-events", "subscription-events", "compliance-events"},
		ConsumerGroup:  "usermgmt", PlanRoles: map[string][]string{}, LogLevel: slog.LevelInfo, LogFormat: "text",
	}
}

// notYet names variables of components that later releases wire in; setting
// one now fails loudly instead of being silently ignored.
var notYet = map[string]string{
	"USERMGMT_CONSUL_ADDR": "Consul registration",
}

// FromEnv reads the configuration from getenv (os.Getenv in the apps) and
// validates it; errors name the variable and what is wrong with it.
func FromEnv(getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	var errs []error
	str := func(name string, dst *string) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			*dst = v
		}
	}
	dur := func(name string, dst *time.Duration) {
		if v := getenv(name); v != "" {
			d, err := parseDuration(v)
			if err != nil || d < 0 {
				errs = append(errs, fmt.Errorf("%s: %q is not a duration such as 15m, 720h or 30d", name, v))
				return
			}
			*dst = d
		}
	}
	// uintv reads a positive integer no larger than maxValue, so the
	// narrowing conversions at the call sites cannot overflow.
	uintv := func(name string, maxValue uint64, dst func(uint64)) {
		if v := getenv(name); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || n == 0 || n > maxValue {
				errs = append(errs, fmt.Errorf("%s: %q is not an integer from 1 to %d", name, v, maxValue))
				return
			}
			dst(n)
		}
	}
	boolv := func(name string, dst *bool) {
		switch strings.ToLower(getenv(name)) {
		case "":
		case "on", "true", "1", "yes":
			*dst = true
		case "off", "false", "0", "no":
			*dst = false
		default:
			errs = append(errs, fmt.Errorf("%s: %q is not on or off", name, getenv(name)))
		}
	}
	for name, what := range notYet {
		if getenv(name) != "" {
			errs = append(errs, fmt.Errorf("%s: %s is not part of this release; unset it", name, what))
		}
	}
	str("USERMGMT_DATA_DIR", &c.DataDir)
	str("USERMGMT_DATABASE_URL", &c.DatabaseURL)
	str("USERMGMT_VALKEY_ADDR", &c.ValkeyAddr)
	str("USERMGMT_VALKEY_PREFIX", &c.ValkeyPrefix)
	if c.DatabaseURL != "" {
		c.AutoMigrate = false // Postgres migrates by `worker migrate` unless asked
	}
	boolv("USERMGMT_AUTO_MIGRATE", &c.AutoMigrate)
	str("USERMGMT_ISSUER", &c.Issuer)
	dur("USERMGMT_ACCESS_TOKEN_TTL", &c.AccessTokenTTL)
	dur("USERMGMT_REFRESH_TOKEN_TTL", &c.RefreshTokenTTL)
	dur("USERMGMT_SESSION_IDLE_TIMEOUT", &c.SessionIdle)
	dur("USERMGMT_REFRESH_REUSE_GRACE", &c.RefreshReuseGrace)
	dur("USERMGMT_REFRESH_CONCURRENT_WINDOW", &c.RefreshConcurrentWindow)
	dur("USERMGMT_SIGNING_KEY_ROTATION", &c.KeyRotation)
	uintv("USERMGMT_ARGON2_MEMORY_KIB", 1<<20, func(n uint64) { c.Argon2MemoryKiB = uint32(n) }) //nolint:gosec // bounded by uintv
	uintv("USERMGMT_ARGON2_ITERATIONS", 64, func(n uint64) { c.Argon2Iterations = uint32(n) })   //nolint:gosec // bounded by uintv
	uintv("USERMGMT_ARGON2_PARALLELISM", 64, func(n uint64) { c.Argon2Parallelism = uint8(n) })  //nolint:gosec // bounded by uintv
	uintv("USERMGMT_HASH_CONCURRENCY", 1024, func(n uint64) { c.HashConcurrency = int(n) })      //nolint:gosec // bounded by uintv
	boolv("USERMGMT_RATE_LIMIT", &c.RateLimit)
	boolv("USERMGMT_REQUIRE_EMAIL_VERIFICATION", &c.RequireEmailVerification)
	str("USERMGMT_PUBLIC_URL", &c.PublicURL)
	str("USERMGMT_SMTP_URL", &c.SMTPURL)
	str("USERMGMT_MAIL_FROM", &c.MailFrom)
	c.EncryptionKey = strings.TrimSpace(getenv("USERMGMT_ENCRYPTION_KEY"))
	str("USERMGMT_MFA_ISSUER", &c.MFAIssuer)
	str("USERMGMT_SMS_WEBHOOK_URL", &c.SMSWebhookURL)
	c.SMSWebhookSecret = getenv("USERMGMT_SMS_WEBHOOK_SECRET")
	if v := getenv("USERMGMT_KAFKA_BROKERS"); v != "" {
		for _, b := range strings.Split(v, ",") {
			if b = strings.TrimSpace(b); b != "" {
				c.KafkaBrokers = append(c.KafkaBrokers, b)
			}
		}
	}
	str("USERMGMT_KAFKA_TOPIC", &c.KafkaTopic)
	if v := getenv("USERMGMT_CONSUMER_TOPICS"); v != "" {
		c.ConsumerTopics = nil
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				c.ConsumerTopics = append(c.ConsumerTopics, t)
			}
		}
	}
	str("USERMGMT_CONSUMER_GROUP", &c.ConsumerGroup)
	if v := getenv("USERMGMT_PLAN_ROLES"); v != "" {
		if err := json.Unmarshal([]byte(v), &c.PlanRoles); err != nil {
			errs = append(errs, fmt.Errorf(`USERMGMT_PLAN_ROLES: not a JSON object of plan to roles, such as {"pro":["pro"]}: %w`, err))
		}
	}
	str("USERMGMT_ADMIN_EMAIL", &c.AdminEmail)
	c.AdminPassword = getenv("USERMGMT_ADMIN_PASSWORD")
	c.AuditKey = strings.TrimSpace(getenv("USERMGMT_AUDIT_KEY"))
	dur("USERMGMT_AUDIT_RETENTION", &c.AuditRetention)
	dur("USERMGMT_DELETED_USER_RETENTION", &c.DeletedUserRetention)
	str("USERMGMT_LOG_FORMAT", &c.LogFormat)
	if v := getenv("USERMGMT_LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("USERMGMT_LOG_LEVEL: %q is not debug, info, warn or error", v))
		}
	}
	if v := getenv("USERMGMT_TRUSTED_PROXIES"); v != "" {
		for _, s := range strings.Split(v, ",") {
			p, err := parsePrefix(strings.TrimSpace(s))
			if err != nil {
				errs = append(errs, fmt.Errorf("USERMGMT_TRUSTED_PROXIES: %q is not a CIDR or IP address", s))
				continue
			}
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
	}
	errs = append(errs, c.Validate())
	return c, errors.Join(errs...)
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Validate checks the values against the security requirements.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf(name+": "+format, args...))
	}
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("USERMGMT_DATABASE_URL", "must be a postgres:// URL")
		}
	} else if c.DataDir == "" {
		bad("USERMGMT_DATA_DIR", "must not be empty on the embedded default")
	}
	if c.AccessTokenTTL <= 0 || c.AccessTokenTTL > 15*time.Minute {
		bad("USERMGMT_ACCESS_TOKEN_TTL", "must be between 1s and 15m (SE-03), got %s", c.AccessTokenTTL)
	}
	if c.RefreshTokenTTL < c.AccessTokenTTL {
		bad("USERMGMT_REFRESH_TOKEN_TTL", "must be at least the access-token lifetime")
	}
	if c.SessionIdle <= 0 {
		bad("USERMGMT_SESSION_IDLE_TIMEOUT", "must be positive")
	}
	if c.RefreshReuseGrace > time.Minute {
		bad("USERMGMT_REFRESH_REUSE_GRACE", "must be at most 1m: it weakens reuse detection")
	}
	if c.RefreshConcurrentWindow > time.Second {
		bad("USERMGMT_REFRESH_CONCURRENT_WINDOW", "must be at most 1s: every refresh is answered no sooner")
	}
	if c.KeyRotation < time.Hour {
		bad("USERMGMT_SIGNING_KEY_ROTATION", "must be at least 1h")
	}
	if c.Argon2MemoryKiB < 19456 || c.Argon2Iterations < 2 && c.Argon2MemoryKiB < 47104 {
		bad("USERMGMT_ARGON2_MEMORY_KIB", "with USERMGMT_ARGON2_ITERATIONS must be at least OWASP's minimum (m=19456 KiB, t=2)")
	}
	if u, err := url.Parse(c.issuer()); err != nil || u.Scheme == "" || u.Host == "" {
		bad("USERMGMT_ISSUER", "must be an absolute URL")
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("USERMGMT_PUBLIC_URL", "must be an absolute http(s) URL")
	}
	if (c.AdminEmail == "") != (c.AdminPassword == "") {
		bad("USERMGMT_ADMIN_EMAIL", "and USERMGMT_ADMIN_PASSWORD must be set together")
	}
	if c.ValkeyAddr != "" {
		if _, port, err := net.SplitHostPort(c.ValkeyAddr); err != nil || port == "" {
			bad("USERMGMT_VALKEY_ADDR", "%q is not host:port", c.ValkeyAddr)
		}
	}
	for _, b := range c.KafkaBrokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			bad("USERMGMT_KAFKA_BROKERS", "%q is not host:port", b)
		}
	}
	if c.KafkaTopic == "" || strings.ContainsAny(c.KafkaTopic, " /\\") {
		bad("USERMGMT_KAFKA_TOPIC", "%q is not a topic name", c.KafkaTopic)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("USERMGMT_LOG_FORMAT", "must be text or json")
	}
	switch {
	case c.EncryptionKey != "":
		if _, err := crypto.ParseEncryptionKeys(c.EncryptionKey); err != nil {
			bad("USERMGMT_ENCRYPTION_KEY", "%v", err)
		}
	case c.DatabaseURL != "":
		bad("USERMGMT_ENCRYPTION_KEY", "is required with USERMGMT_DATABASE_URL: every instance must seal secrets with the same key (generate one with `openssl rand -base64 32`)")
	}
	if c.AuditKey != "" {
		if k, err := crypto.ParseEncryptionKeys(c.AuditKey); err != nil || len(k) != 1 {
			bad("USERMGMT_AUDIT_KEY", "must be one key of 32 bytes in base64 or hex")
		}
	}
	if c.AuditRetention < 24*time.Hour {
		bad("USERMGMT_AUDIT_RETENTION", "must be at least 1d")
	}
	if c.DeletedUserRetention < time.Hour {
		bad("USERMGMT_DELETED_USER_RETENTION", "must be at least 1h")
	}
	if c.MFAIssuer == "" || len(c.MFAIssuer) > 64 || strings.ContainsAny(c.MFAIssuer, ":\r\n") {
		bad("USERMGMT_MFA_ISSUER", "must be 1 to 64 characters without ':' or line breaks")
	}
	if (c.SMSWebhookURL == "") != (c.SMSWebhookSecret == "") {
		bad("USERMGMT_SMS_WEBHOOK_URL", "and USERMGMT_SMS_WEBHOOK_SECRET must be set together")
	} else if c.SMSWebhookURL != "" {
		if _, err := sms.New(sms.Config{URL: c.SMSWebhookURL, Secret: c.SMSWebhookSecret}); err != nil {
			bad("USERMGMT_SMS_WEBHOOK_URL", "%v", err)
		}
	}
	return errors.Join(errs...)
}

// issuer is the iss (and aud) of access tokens: USERMGMT_ISSUER, or else
// the public URL. A fixed default would let one deployment's tokens pass
// at another that shares the default.
func (c Config) issuer() string {
	if c.Issuer != "" {
		return c.Issuer
	}
	return strings.TrimRight(c.PublicURL, "/")
}

// parseDuration is time.ParseDuration that also takes whole days ("30d"),
// the unit retention is thought of in.
func parseDuration(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		d, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return 0, err
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}
