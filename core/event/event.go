// Package event defines the events usermgmt publishes: a CloudEvents 1.0
// envelope around one payload type per event type.
//
// Unlike the rest of core, the payloads carry json tags: the JSON form of an
// event IS the published contract (checked against a JSON Schema per type),
// so a second set of DTOs in an adapter would be a copy with nothing to add.
package event

import (
	"context"
	"encoding/json"
	"time"
)

// Type names, fixed by the published contract.
const (
	TypeUserCreated           = "user.created"
	TypeUserUpdated           = "user.updated"
	TypeUserDeleted           = "user.deleted"
	TypeUserActivated         = "user.activated"
	TypeUserDeactivated       = "user.deactivated"
	TypeUserLogin             = "user.login"
	TypeUserLogout            = "user.logout"
	TypeUserPasswordChanged   = "user.password_changed"
	TypeUserTelegramLinked    = "user.telegram_linked"
	TypeUserOAuthConnected    = "user.oauth_connected"
	TypeUserSecurityViolation = "user.security_violation"
	TypeUserMFAEnabled        = "user.mfa_enabled"
)

// SpecVersion is the CloudEvents version of the envelope.
const SpecVersion = "1.0"

// Event is one domain event waiting in the outbox.
type Event struct {
	ID      string    // UUIDv7, unique: consumers dedupe on it
	Type    string    // one of the Type constants
	Subject string    // the user id; also the Kafka key, so per-user order holds
	Time    time.Time // when it happened
	Data    any       // the payload struct for Type
}

// New returns an event of the payload's type about subject.
func New(id string, subject string, at time.Time, data Payload) Event {
	return Event{ID: id, Type: data.EventType(), Subject: subject, Time: at.UTC(), Data: data}
}

// Payload is implemented by every payload type.
type Payload interface{ EventType() string }

// Envelope is the JSON form of an event: CloudEvents 1.0 attributes plus the
// W3C traceparent of the request that caused it.
type Envelope struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Source      string          `json:"source"`
	Subject     string          `json:"subject"`
	Time        time.Time       `json:"time"`
	SpecVersion string          `json:"specversion"`
	DataSchema  string          `json:"dataschema"`
	ContentType string          `json:"datacontenttype"`
	TraceParent string          `json:"traceparent,omitempty"`
	Data        json.RawMessage `json:"data"`
}

// Marshal encodes e as its envelope. source is the service's URI;
// schemaBase prefixes the dataschema URI of each type.
func Marshal(e Event, source, schemaBase, traceParent string) ([]byte, error) {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return nil, err
	}
	return json.Marshal(Envelope{ID: e.ID, Type: e.Type, Source: source, Subject: e.Subject,
		Time: e.Time, SpecVersion: SpecVersion, DataSchema: schemaBase + e.Type + ".json",
		ContentType: "application/json", TraceParent: traceParent, Data: data})
}

// Registration and login methods.
const (
	MethodEmail    = "email"
	MethodPassword = "password"
	MethodTelegram = "telegram"
	MethodOAuth    = "oauth"
)

// UserCreated is user.created.
type UserCreated struct {
	UserID             string            `json:"userId"`
	Email              string            `json:"email"`
	Username           string            `json:"username"`
	Role               string            `json:"role"`
	RegistrationMethod string            `json:"registrationMethod"`
	Metadata           map[string]string `json:"metadata"`
}

// UserUpdated is user.updated.
type UserUpdated struct {
	UserID         string         `json:"userId"`
	Changes        map[string]any `json:"changes"`
	PreviousValues map[string]any `json:"previousValues"`
	UpdatedBy      string         `json:"updatedBy"`
}

// UserDeleted is user.deleted.
type UserDeleted struct {
	UserID          string `json:"userId"`
	DeletionReason  string `json:"deletionReason"`
	DeletedBy       string `json:"deletedBy"`
	RetentionPolicy string `json:"retentionPolicy"`
}

// UserActivated is user.activated.
type UserActivated struct {
	UserID           string `json:"userId"`
	ActivatedBy      string `json:"activatedBy"`
	ActivationMethod string `json:"activationMethod"`
}

// UserDeactivated is user.deactivated.
type UserDeactivated struct {
	UserID        string `json:"userId"`
	DeactivatedBy string `json:"deactivatedBy"`
	Reason        string `json:"reason"`
}

// UserLogin is user.login.
type UserLogin struct {
	UserID      string `json:"userId"`
	LoginMethod string `json:"loginMethod"`
	IPAddress   string `json:"ipAddress"`
	UserAgent   string `json:"userAgent"`
	SessionID   string `json:"sessionId"`
}

// UserLogout is user.logout.
type UserLogout struct {
	UserID     string `json:"userId"`
	SessionID  string `json:"sessionId"`
	LogoutType string `json:"logoutType"`
}

// Security levels of user.password_changed.
const (
	SecurityLevelUser   = "user"
	SecurityLevelAdmin  = "admin"
	SecurityLevelSystem = "system"
)

// UserPasswordChanged is user.password_changed.
type UserPasswordChanged struct {
	UserID        string `json:"userId"`
	ChangedBy     string `json:"changedBy"`
	SecurityLevel string `json:"securityLevel"`
}

// UserTelegramLinked is user.telegram_linked.
type UserTelegramLinked struct {
	UserID           string `json:"userId"`
	TelegramID       int64  `json:"telegramId"`
	TelegramUsername string `json:"telegramUsername"`
}

// UserOAuthConnected is user.oauth_connected.
type UserOAuthConnected struct {
	UserID         string   `json:"userId"`
	Provider       string   `json:"provider"`
	ProviderUserID string   `json:"providerUserId"`
	Scopes         []string `json:"scopes"`
}

// Severities of user.security_violation.
const (
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// UserSecurityViolation is user.security_violation.
type UserSecurityViolation struct {
	UserID        string            `json:"userId"`
	ViolationType string            `json:"violationType"`
	Severity      string            `json:"severity"`
	Details       map[string]string `json:"details"`
}

// UserMFAEnabled is user.mfa_enabled.
type UserMFAEnabled struct {
	UserID               string `json:"userId"`
	MFAMethod            string `json:"mfaMethod"`
	BackupCodesGenerated bool   `json:"backupCodesGenerated"`
}

func (UserCreated) EventType() string           { return TypeUserCreated }
func (UserUpdated) EventType() string           { return TypeUserUpdated }
func (UserDeleted) EventType() string           { return TypeUserDeleted }
func (UserActivated) EventType() string         { return TypeUserActivated }
func (UserDeactivated) EventType() string       { return TypeUserDeactivated }
func (UserLogin) EventType() string             { return TypeUserLogin }
func (UserLogout) EventType() string            { return TypeUserLogout }
func (UserPasswordChanged) EventType() string   { return TypeUserPasswordChanged }
func (UserTelegramLinked) EventType() string    { return TypeUserTelegramLinked }
func (UserOAuthConnected) EventType() string    { return TypeUserOAuthConnected }
func (UserSecurityViolation) EventType() string { return TypeUserSecurityViolation }
func (UserMFAEnabled) EventType() string        { return TypeUserMFAEnabled }

// NewUserUpdated starts a user.updated of userID made by by, with empty
// change sets for Set to fill.
func NewUserUpdated(userID, by string) UserUpdated {
	return UserUpdated{UserID: userID, UpdatedBy: by, Changes: map[string]any{}, PreviousValues: map[string]any{}}
}

// Set records that field changed from previous to current.
func (e UserUpdated) Set(field string, previous, current any) {
	e.Changes[field], e.PreviousValues[field] = current, previous
}

// Encoder turns an event into the JSON envelope the outbox stores.
type Encoder func(ctx context.Context, e Event) ([]byte, error)

// NewEncoder returns an Encoder for source (the service's URI) whose
// dataschema URIs start with schemaBase. traceParent, if not nil, returns the
// W3C traceparent of ctx's span (tracing lives in adapters, not here).
func NewEncoder(source, schemaBase string, traceParent func(context.Context) string) Encoder {
	return func(ctx context.Context, e Event) ([]byte, error) {
		tp := ""
		if traceParent != nil {
			tp = traceParent(ctx)
		}
		return Marshal(e, source, schemaBase, tp)
	}
}
