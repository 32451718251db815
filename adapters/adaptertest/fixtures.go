package adaptertest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
)

// errBoom is the error a test's fn returns to force a rollback.
var errBoom = errors.New("adaptertest: boom")

func newID(t *testing.T) string {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatalf("uuid: %v", err)
	}
	return id.String()
}

var seq atomic.Int64

// unique returns a short string unique within the test binary.
func unique() string { return fmt.Sprintf("%06d", seq.Add(1)) }

// newUser returns a valid new user with a unique email and username.
func newUser(t *testing.T) user.User {
	t.Helper()
	n := unique()
	return newUserWith(t, "user"+n+"@example.com", "user"+n)
}

func newUserWith(t *testing.T, email, username string) user.User {
	t.Helper()
	u, err := user.New(user.ID(newID(t)), email, username, "", t0)
	if err != nil {
		t.Fatalf("user.New(%q, %q): %v", email, username, err)
	}
	return u
}

func createUser(t *testing.T, s Stores) user.User {
	t.Helper()
	u := newUser(t)
	if err := s.Users.Create(t.Context(), u); err != nil {
		t.Fatalf("Users.Create: %v", err)
	}
	return u
}

// policy is the session policy of the suite.
var policy = session.Policy{AbsoluteLifetime: 30 * 24 * time.Hour, IdleTimeout: 7 * 24 * time.Hour}

// newSession starts a session of uid at when; it returns the session and its
// refresh token.
func newSession(t *testing.T, uid user.ID, when time.Time) (session.Session, string) {
	t.Helper()
	secret := make([]byte, 32)
	copy(secret, []byte(newID(t)))
	s, tok := session.New(session.ID(newID(t)), uid, secret,
		session.Client{IP: "203.0.113.7", UserAgent: "adaptertest/1.0"}, []string{"pwd"}, policy, when)
	return s, tok
}

func createSession(t *testing.T, s Stores, uid user.ID, when time.Time) (session.Session, string) {
	t.Helper()
	ss, tok := newSession(t, uid, when)
	if err := s.Sessions.Create(t.Context(), ss); err != nil {
		t.Fatalf("Sessions.Create: %v", err)
	}
	return ss, tok
}

// differ collects the fields in which a stored value differs from the expected one.
type differ []string

func (d *differ) check(field string, ok bool, got, want any) {
	if !ok {
		*d = append(*d, fmt.Sprintf("%s: got %#v, want %#v", field, got, want))
	}
}

// diffUser describes how got differs from want, or returns "".
func diffUser(got, want user.User) string {
	g, w := got.Snapshot(), want.Snapshot()
	var d differ
	check := d.check
	check("ID", g.ID == w.ID, g.ID, w.ID)
	check("Email", g.Email == w.Email, g.Email, w.Email)
	check("Username", g.Username == w.Username, g.Username, w.Username)
	check("DisplayName", g.DisplayName == w.DisplayName, g.DisplayName, w.DisplayName)
	check("Status", g.Status == w.Status, g.Status, w.Status)
	check("Roles", slices.Equal(g.Roles, w.Roles), g.Roles, w.Roles)
	check("EmailVerified", g.EmailVerified == w.EmailVerified, g.EmailVerified, w.EmailVerified)
	check("MFAEnabled", g.MFAEnabled == w.MFAEnabled, g.MFAEnabled, w.MFAEnabled)
	check("Preferences", reflect.DeepEqual(g.Preferences, w.Preferences), g.Preferences, w.Preferences)
	check("AvatarURL", g.AvatarURL == w.AvatarURL, g.AvatarURL, w.AvatarURL)
	check("Locale", g.Locale == w.Locale, g.Locale, w.Locale)
	check("TimeZone", g.TimeZone == w.TimeZone, g.TimeZone, w.TimeZone)
	check("CreatedAt", sameTime(g.CreatedAt, w.CreatedAt), g.CreatedAt, w.CreatedAt)
	check("UpdatedAt", sameTime(g.UpdatedAt, w.UpdatedAt), g.UpdatedAt, w.UpdatedAt)
	check("Version", g.Version == w.Version, g.Version, w.Version)
	return strings.Join(d, "\n")
}

// diffSession describes how got differs from want, or returns "". Nil and
// empty slices are equal: storage need not tell them apart.
func diffSession(got, want session.Session) string {
	var d differ
	check := d.check
	check("ID", got.ID == want.ID, got.ID, want.ID)
	check("UserID", got.UserID == want.UserID, got.UserID, want.UserID)
	check("RefreshHash", got.RefreshHash == want.RefreshHash, got.RefreshHash, want.RefreshHash)
	check("PreviousHash", got.PreviousHash == want.PreviousHash, got.PreviousHash, want.PreviousHash)
	check("RotationNonce", bytes.Equal(got.RotationNonce, want.RotationNonce), got.RotationNonce, want.RotationNonce)
	check("Generation", got.Generation == want.Generation, got.Generation, want.Generation)
	check("Client", got.Client == want.Client, got.Client, want.Client)
	check("AMR", slices.Equal(got.AMR, want.AMR), got.AMR, want.AMR)
	check("CreatedAt", sameTime(got.CreatedAt, want.CreatedAt), got.CreatedAt, want.CreatedAt)
	check("LastSeenAt", sameTime(got.LastSeenAt, want.LastSeenAt), got.LastSeenAt, want.LastSeenAt)
	check("RotatedAt", sameTime(got.RotatedAt, want.RotatedAt), got.RotatedAt, want.RotatedAt)
	check("ExpiresAt", sameTime(got.ExpiresAt, want.ExpiresAt), got.ExpiresAt, want.ExpiresAt)
	check("RevokedAt", sameTime(got.RevokedAt, want.RevokedAt), got.RevokedAt, want.RevokedAt)
	check("RevokeReason", got.RevokeReason == want.RevokeReason, got.RevokeReason, want.RevokeReason)
	return strings.Join(d, "\n")
}

// sameTime reports whether a and b are the same instant and a non-zero a is
// in UTC (stores return UTC).
func sameTime(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() && b.IsZero()
	}
	return a.Equal(b) && a.Location() == time.UTC
}

func mustNotFail(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}
