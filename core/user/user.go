// Package user is the user aggregate: identity, profile, status and roles,
// with every creation and update rule. Fields are unexported so no caller can
// build a User that skips a rule; adapters restore stored users with Rehydrate.
package user

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/usermgmt/usermgmt/core/errs"
)

// ID identifies a user: a UUIDv7 in its canonical text form.
type ID string

func (id ID) String() string { return string(id) }

// Status is the lifecycle state of an account.
type Status struct{ s string }

// The statuses. The zero Status is invalid.
var (
	StatusActive   = Status{"active"}
	StatusInactive = Status{"inactive"}
	StatusDeleted  = Status{"deleted"}
)

func (s Status) String() string { return s.s }

// IsZero reports whether s is the invalid zero Status.
func (s Status) IsZero() bool { return s.s == "" }

// ParseStatus returns the Status named s.
func ParseStatus(s string) (Status, error) {
	for _, st := range []Status{StatusActive, StatusInactive, StatusDeleted} {
		if st.s == s {
			return st, nil
		}
	}
	return Status{}, ErrInvalidStatus
}

// Role names. Roles are open strings so organisations can define their own;
// these two are the ones the service itself gives meaning to.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
)

// Limits on user input, exported so transports can document them.
const (
	MaxEmailLength       = 254
	MinUsernameLength    = 3
	MaxUsernameLength    = 32
	MaxDisplayNameLength = 100
	MaxPreferencesBytes  = 16 << 10
	MaxPreferenceKeys    = 32
	MaxPreferencesDepth  = 8
	MaxAvatarURLLength   = 2048
	MaxLocaleLength      = 64
	MaxTimeZoneLength    = 64
)

// Errors of the user rules.
var (
	ErrInvalidEmail       = errs.New(errs.Invalid, "user.invalid_email", "must be a valid email address in ASCII (an international domain in its xn-- form)")
	ErrInvalidUsername    = errs.New(errs.Invalid, "user.invalid_username", fmt.Sprintf("must be %d to %d characters: letters, digits, '.', '_' or '-', starting and ending with a letter or digit", MinUsernameLength, MaxUsernameLength))
	ErrInvalidDisplayName = errs.New(errs.Invalid, "user.invalid_display_name", fmt.Sprintf("must be at most %d printable characters", MaxDisplayNameLength))
	ErrInvalidPreferences = errs.New(errs.Invalid, "user.invalid_preferences", fmt.Sprintf("must be a JSON object of at most %d keys, %d bytes and %d levels of nesting", MaxPreferenceKeys, MaxPreferencesBytes, MaxPreferencesDepth))
	ErrInvalidAvatarURL   = errs.New(errs.Invalid, "user.invalid_avatar_url", fmt.Sprintf("must be an absolute https URL of at most %d bytes in ASCII, with a DNS host name and no user info", MaxAvatarURLLength))
	ErrInvalidLocale      = errs.New(errs.Invalid, "user.invalid_locale", "must be a well-formed BCP 47 language tag, such as en-US")
	ErrInvalidTimeZone    = errs.New(errs.Invalid, "user.invalid_time_zone", "must be an IANA time zone name, such as Europe/Paris")
	ErrInvalidRole        = errs.New(errs.Invalid, "user.invalid_role", "must be a lower-case role name")
	ErrInvalidStatus      = errs.New(errs.Invalid, "user.invalid_status", "must be active, inactive or deleted")
	ErrEmailTaken         = errs.New(errs.Conflict, "user.email_taken", "email already registered")
	ErrUsernameTaken      = errs.New(errs.Conflict, "user.username_taken", "username already taken")
	ErrNotFound           = errs.New(errs.NotFound, "user.not_found", "user not found")
	ErrCorrupt            = errs.New(errs.Internal, "user.corrupt", "stored user is invalid")
)

// Preferences are a user's free-form settings (theme, notification choices):
// a small JSON object, bounded so a profile cannot grow without limit.
type Preferences map[string]any

// User is the user aggregate.
type User struct {
	id            ID
	email         string
	username      string
	displayName   string
	status        Status
	roles         []string
	emailVerified bool
	mfaEnabled    bool
	preferences   Preferences
	avatarURL     string // "" when unset, as are locale and timeZone
	locale        string
	timeZone      string
	createdAt     time.Time
	updatedAt     time.Time
	deletedAt     time.Time // zero unless status is deleted
	version       int64
}

// New applies every creation rule: a normalised email and username, a valid
// display name, status active and the single role "user".
func New(id ID, email, username, displayName string, now time.Time) (User, error) {
	var v errs.Validation
	e, err := NormalizeEmail(email)
	v.Check("email", err)
	n, err := NormalizeUsername(username)
	v.Check("username", err)
	d, err := normalizeDisplayName(displayName)
	v.Check("displayName", err)
	if err := v.Err(); err != nil {
		return User{}, err
	}
	if d == "" {
		d = n
	}
	now = now.UTC()
	return User{id: id, email: e, username: n, displayName: d, status: StatusActive,
		roles: []string{RoleUser}, preferences: Preferences{}, createdAt: now, updatedAt: now, version: 1}, nil
}

// Stored is a user as an adapter stored it.
type Stored struct {
	ID            ID
	Email         string
	Username      string
	DisplayName   string
	Status        string
	Roles         []string
	EmailVerified bool
	MFAEnabled    bool
	Preferences   Preferences
	AvatarURL     string
	Locale        string
	TimeZone      string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	DeletedAt     time.Time
	Version       int64
}

// Rehydrate restores a stored user. It checks only that the data is
// structurally valid, not the creation rules (which may have changed since).
func Rehydrate(s Stored) (User, error) {
	st, err := ParseStatus(s.Status)
	if err != nil || s.ID == "" || s.Email == "" || s.Username == "" || len(s.Roles) == 0 ||
		(st == StatusDeleted) == s.DeletedAt.IsZero() {
		return User{}, ErrCorrupt.Wrap(fmt.Errorf("user %q", s.ID))
	}
	prefs := s.Preferences
	if prefs == nil {
		prefs = Preferences{}
	}
	return User{id: s.ID, email: s.Email, username: s.Username, displayName: s.DisplayName, status: st,
		roles: slices.Clone(s.Roles), emailVerified: s.EmailVerified, mfaEnabled: s.MFAEnabled,
		preferences: prefs, avatarURL: s.AvatarURL, locale: s.Locale, timeZone: s.TimeZone,
		createdAt: s.CreatedAt.UTC(), updatedAt: s.UpdatedAt.UTC(), deletedAt: s.DeletedAt.UTC(),
		version: s.Version}, nil
}

// Snapshot returns the user's state for an adapter to store.
func (u User) Snapshot() Stored {
	return Stored{ID: u.id, Email: u.email, Username: u.username, DisplayName: u.displayName,
		Status: u.status.s, Roles: slices.Clone(u.roles), EmailVerified: u.emailVerified,
		MFAEnabled: u.mfaEnabled, Preferences: clonePrefs(u.preferences), AvatarURL: u.avatarURL,
		Locale: u.locale, TimeZone: u.timeZone, CreatedAt: u.createdAt,
		UpdatedAt: u.updatedAt, DeletedAt: u.deletedAt, Version: u.version}
}

func (u User) ID() ID                   { return u.id }
func (u User) Email() string            { return u.email }
func (u User) Username() string         { return u.username }
func (u User) DisplayName() string      { return u.displayName }
func (u User) Status() Status           { return u.status }
func (u User) Roles() []string          { return slices.Clone(u.roles) }
func (u User) EmailVerified() bool      { return u.emailVerified }
func (u User) MFAEnabled() bool         { return u.mfaEnabled }
func (u User) Preferences() Preferences { return clonePrefs(u.preferences) }
func (u User) AvatarURL() string        { return u.avatarURL }
func (u User) Locale() string           { return u.locale }
func (u User) TimeZone() string         { return u.timeZone }
func (u User) CreatedAt() time.Time     { return u.createdAt }
func (u User) UpdatedAt() time.Time     { return u.updatedAt }

// Version counts saved changes; adapters use it for optimistic checks.
func (u User) Version() int64 { return u.version }

// primaryRoles are the built-in roles, most powerful first.
var primaryRoles = []string{"superadmin", RoleAdmin, "support"}

// Role is the user's primary role: the most powerful built-in role the
// user holds, else the first role (custom roles come after "user").
func (u User) Role() string {
	for _, r := range primaryRoles {
		if slices.Contains(u.roles, r) {
			return r
		}
	}
	return u.roles[0]
}

// HasRole reports whether the user holds role r.
func (u User) HasRole(r string) bool { return slices.Contains(u.roles, r) }

// CanSignIn reports whether the account may authenticate: only active accounts can.
func (u User) CanSignIn() bool { return u.status == StatusActive }

// Change is one field a profile update changed, with its old and new value.
type Change struct {
	Field    string
	Previous any
	Current  any
}

// ProfileUpdate is a self-service profile change; nil fields stay as they are.
// It deliberately has no way to set email verification, roles or status (AC-03).
type ProfileUpdate struct {
	DisplayName *string
	// AvatarURL, Locale and TimeZone are optional: an empty string clears them.
	AvatarURL   *string
	Locale      *string
	TimeZone    *string
	Preferences Preferences // merged key by key; a nil value removes the key
}

// UpdateProfile applies p and returns what changed; no change is not an error.
func (u *User) UpdateProfile(p ProfileUpdate, now time.Time) ([]Change, error) {
	var v errs.Validation
	var changes []Change
	if p.DisplayName != nil {
		d, err := normalizeDisplayName(*p.DisplayName)
		v.Check("displayName", err)
		if err == nil && d == "" {
			v.Add("displayName", ErrInvalidDisplayName.Msg)
		}
		if err == nil && d != "" && d != u.displayName {
			changes = append(changes, Change{"displayName", u.displayName, d})
		}
	}
	for _, f := range []struct {
		name      string
		in        *string
		normalize func(string) (string, error)
		current   string
	}{
		{"avatarUrl", p.AvatarURL, normalizeAvatarURL, u.avatarURL},
		{"locale", p.Locale, normalizeLocale, u.locale},
		{"timeZone", p.TimeZone, normalizeTimeZone, u.timeZone},
	} {
		if f.in == nil {
			continue
		}
		s, err := f.normalize(*f.in)
		v.Check(f.name, err)
		if err == nil && s != f.current {
			changes = append(changes, Change{f.name, f.current, s})
		}
	}
	var merged Preferences
	if p.Preferences != nil {
		merged = clonePrefs(u.preferences)
		for k, val := range p.Preferences {
			if val == nil {
				delete(merged, k)
			} else {
				merged[k] = val
			}
		}
		if err := checkPreferences(merged); err != nil {
			v.Check("preferences", err)
		} else if !samePrefs(merged, u.preferences) {
			changes = append(changes, Change{"preferences", clonePrefs(u.preferences), clonePrefs(merged)})
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	for _, c := range changes {
		switch c.Field {
		case "displayName":
			u.displayName = c.Current.(string)
		case "avatarUrl":
			u.avatarURL = c.Current.(string)
		case "locale":
			u.locale = c.Current.(string)
		case "timeZone":
			u.timeZone = c.Current.(string)
		case "preferences":
			u.preferences = merged
		}
	}
	if len(changes) > 0 {
		u.touch(now)
	}
	return changes, nil
}

// GrantRole adds role r; used by bootstrap and administration.
func (u *User) GrantRole(r string, now time.Time) error {
	if !validRole(r) {
		return ErrInvalidRole
	}
	if !slices.Contains(u.roles, r) {
		u.roles = append(u.roles, r)
		u.touch(now)
	}
	return nil
}

// MarkEmailVerified records that the user proved control of the email address.
func (u *User) MarkEmailVerified(now time.Time) {
	if !u.emailVerified {
		u.emailVerified = true
		u.touch(now)
	}
}

// SetMFA records whether the account has a second factor, and reports
// whether that changed. Only the MFA use cases call it, in the transaction
// that adds or removes the last factor.
func (u *User) SetMFA(enabled bool, now time.Time) bool {
	if u.mfaEnabled == enabled {
		return false
	}
	u.mfaEnabled = enabled
	u.touch(now)
	return true
}

func (u *User) touch(now time.Time) {
	u.updatedAt = now.UTC()
	u.version++
}

var usernameRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$`)
var roleRE = regexp.MustCompile(`^[a-z][a-z0-9_:.-]{0,63}$`)

func validRole(r string) bool { return roleRE.MatchString(r) }

// NormalizeEmail validates a bare address (no display name, no CR/LF, at most
// 254 bytes) and lower-cases it, so uniqueness is case-insensitive.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > MaxEmailLength || strings.ContainsAny(s, "\r\n\t\x00<>,; ") || !printableASCII(s) {
		return "", ErrInvalidEmail
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", ErrInvalidEmail
	}
	at := strings.LastIndexByte(s, '@')
	if !hostname(s[at+1:]) {
		return "", ErrInvalidEmail
	}
	return strings.ToLower(s), nil
}

// hostname reports whether domain is a DNS host name that mail can reach:
// two or more labels of letters, digits and inner hyphens, each at most 63
// bytes, the last not all digits. Address literals ([192.0.2.1]) and names
// that no resolver would look up are refused here rather than failing
// later, in a mail server or the event schema.
func hostname(domain string) bool {
	labels := strings.Split(domain, ".")
	if len(labels) < 2 || len(domain) > 253 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i] | 0x20 // ASCII lower case; digits and '-' are unchanged by it
			if (c < 'a' || c > 'z') && (l[i] < '0' || l[i] > '9') && l[i] != '-' {
				return false
			}
		}
	}
	return strings.ContainsFunc(labels[len(labels)-1], func(r rune) bool { return r < '0' || r > '9' })
}

// printableASCII reports whether s is printable ASCII. Addresses are kept
// to it: a Unicode local part needs SMTPUTF8, which few mail servers
// relay, lower-casing Unicode folds distinct addresses together (the
// Kelvin sign becomes k), and look-alike characters would let two
// accounts' addresses read the same. International domains are written
// in their xn-- form, which is ASCII.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// NormalizeUsername validates and lower-cases a username.
func NormalizeUsername(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) < MinUsernameLength || len(s) > MaxUsernameLength || !usernameRE.MatchString(s) {
		return "", ErrInvalidUsername
	}
	return s, nil
}

func normalizeDisplayName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxDisplayNameLength {
		return "", ErrInvalidDisplayName
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "", ErrInvalidDisplayName
		}
	}
	return s, nil
}

func checkPreferences(p Preferences) error {
	if len(p) > MaxPreferenceKeys {
		return ErrInvalidPreferences
	}
	for k := range p {
		if k == "" || len(k) > 64 {
			return ErrInvalidPreferences
		}
	}
	b, err := json.Marshal(p)
	if err != nil || len(b) > MaxPreferencesBytes || depth(p) > MaxPreferencesDepth {
		return ErrInvalidPreferences
	}
	return nil
}

// depth is how deeply v nests objects and arrays (a scalar is 0). Deep
// nesting is refused: every client that reads a profile would have to
// parse it, and many parsers stop at a depth of 128 or less.
func depth(v any) int {
	d := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			d = max(d, depth(e))
		}
	case Preferences:
		for _, e := range x {
			d = max(d, depth(e))
		}
	case []any:
		for _, e := range x {
			d = max(d, depth(e))
		}
	default:
		return 0
	}
	return d + 1
}

func clonePrefs(p Preferences) Preferences {
	c := make(Preferences, len(p))
	for k, v := range p {
		c[k] = v
	}
	return c
}

func samePrefs(a, b Preferences) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// ErrDisabled is returned to a caller who proved the password of an account
// that is not active; it is never returned before the password is proven.
var ErrDisabled = errs.New(errs.Forbidden, "auth.account_disabled", "account is not active")

// UsernameFrom derives a valid username from an email's local part, for
// accounts created without one; "user" when nothing usable remains.
func UsernameFrom(email string) string {
	local, _, _ := strings.Cut(strings.ToLower(email), "@")
	var b strings.Builder
	for _, r := range local {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '_' || r == '-') {
			b.WriteRune(r)
		}
	}
	n := strings.Trim(b.String(), "._-")
	if len(n) > MaxUsernameLength-4 {
		n = strings.Trim(n[:MaxUsernameLength-4], "._-")
	}
	if len(n) < MinUsernameLength || !usernameRE.MatchString(n) {
		return "user"
	}
	return n
}

// ReplaceRoles removes every role in drop and grants every role in add, and
// reports whether the set changed. The primary role "user" is never
// removed, so an account always has a role.
func (u *User) ReplaceRoles(drop, add []string, now time.Time) (bool, error) {
	for _, r := range add {
		if !validRole(r) {
			return false, ErrInvalidRole
		}
	}
	next := make([]string, 0, len(u.roles)+len(add))
	for _, r := range u.roles {
		if r == RoleUser || !slices.Contains(drop, r) {
			next = append(next, r)
		}
	}
	for _, r := range add {
		if !slices.Contains(next, r) {
			next = append(next, r)
		}
	}
	if slices.Equal(next, u.roles) {
		return false, nil
	}
	u.roles = next
	u.touch(now)
	return true, nil
}
