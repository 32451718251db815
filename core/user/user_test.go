package user_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/user"
)

func TestNormalizeEmail_IV02(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"Ada@Example.COM", "ada@example.com"},
		{"  ada@example.com ", "ada@example.com"},
		{"a.b+tag@sub.example.org", "a.b+tag@sub.example.org"},
		{"a@b.c\r\nBcc: evil@x.io", ""},
		{"Ada <ada@example.com>", ""},
		{"ada@localhost", ""},
		{"ada@example..com", ""},
		{"ada", ""},
		{"", ""},
		{"a@b.co,c@d.co", ""},
		{strings.Repeat("a", 250) + "@x.io", ""},
	}
	for _, tt := range tests {
		got, err := user.NormalizeEmail(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("NormalizeEmail(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// FuzzNormalizeEmail holds the invariants of the email rule (IV-03): an
// accepted address is lower-case, has no line break or space, fits the
// length bound and normalises to itself.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"ada@example.com", "A@B.CO", "a@b.c\r\nBcc: x@y.z", "\"q\"@x.io", "a@[127.0.0.1]", "x\u212a@example.com", "é@bücher.de", "a@xn--bcher-kva.de"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := user.NormalizeEmail(s)
		if err != nil {
			return
		}
		if e != strings.ToLower(e) || strings.ContainsAny(e, "\r\n\t ") || len(e) > user.MaxEmailLength || strings.ContainsFunc(e, func(r rune) bool { return r > 0x7e }) {
			t.Fatalf("accepted %q as %q", s, e)
		}
		if again, err := user.NormalizeEmail(e); err != nil || again != e {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", s, e, again, err)
		}
	})
}

func TestUsernameFrom(t *testing.T) {
	for in, want := range map[string]string{"admin@x.io": "admin", "Jane.Doe@x.io": "jane.doe", "é@x.io": "user", "__@x.io": "user"} {
		if got := user.UsernameFrom(in); got != want {
			t.Errorf("UsernameFrom(%q) = %q, want %q", in, got, want)
		}
		if _, err := user.NormalizeUsername(user.UsernameFrom(in)); err != nil {
			t.Errorf("UsernameFrom(%q) is not a valid username: %v", in, err)
		}
	}
}

func TestUpdateProfile_Rules(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	u, err := user.New("00000000-0000-7000-8000-000000000001", "a@x.io", "ada", "", now)
	if err != nil {
		t.Fatal(err)
	}
	big := user.Preferences{}
	for i := range user.MaxPreferenceKeys + 1 {
		big[strings.Repeat("k", i+1)] = true
	}
	if _, err := u.UpdateProfile(user.ProfileUpdate{Preferences: big}, now); err == nil {
		t.Error("too many preference keys accepted")
	}
	bad := "line\nbreak"
	if _, err := u.UpdateProfile(user.ProfileUpdate{DisplayName: &bad}, now); err == nil {
		t.Error("control character in display name accepted (LO-04)")
	}
	changes, err := u.UpdateProfile(user.ProfileUpdate{Preferences: user.Preferences{"theme": "dark"}}, now.Add(time.Second))
	if err != nil || len(changes) != 1 || u.Version() != 2 {
		t.Fatalf("changes %v, version %d, err %v", changes, u.Version(), err)
	}
	changes, _ = u.UpdateProfile(user.ProfileUpdate{Preferences: user.Preferences{"theme": nil}}, now.Add(2*time.Second))
	if len(changes) != 1 || len(u.Preferences()) != 0 {
		t.Fatalf("removing a key: %v %v", changes, u.Preferences())
	}
}

func TestParseID(t *testing.T) {
	for in, want := range map[string]string{
		"0190a5b4-8c3e-7d2a-9f10-1234567890ab":  "0190a5b4-8c3e-7d2a-9f10-1234567890ab",
		"0190A5B4-8C3E-7D2A-9F10-1234567890AB":  "0190a5b4-8c3e-7d2a-9f10-1234567890ab",
		"f47ac10b-58cc-4372-a567-0e02b2c3d479":  "f47ac10b-58cc-4372-a567-0e02b2c3d479", // v4, as other systems make them
		"0190a5b4-8c3e-7d2a-9f10-1234567890a":   "",
		"0190a5b48c3e7d2a9f101234567890ab":      "",
		"0190a5b4-8c3e-7d2a-9f10-1234567890ag":  "",
		"{0190a5b4-8c3e-7d2a-9f10-1234567890a}": "",
		"":                                      "",
	} {
		got, err := user.ParseID(in)
		if want == "" {
			if err == nil {
				t.Errorf("ParseID(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || string(got) != want {
			t.Errorf("ParseID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestImport(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	created := time.Date(2021, 3, 4, 5, 6, 7, 891234567, time.FixedZone("CET", 3600))
	id := user.ID("f47ac10b-58cc-4372-a567-0e02b2c3d479")
	u, err := user.Import(id, "Ada@Example.com", "Ada", "", created, now)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID() != id || u.Email() != "ada@example.com" || u.Username() != "ada" || u.DisplayName() != "ada" {
		t.Errorf("imported %+v", u.Snapshot())
	}
	if want := created.UTC().Truncate(time.Microsecond); !u.CreatedAt().Equal(want) || u.CreatedAt().Location() != time.UTC {
		t.Errorf("createdAt %v, want %v in UTC", u.CreatedAt(), want)
	}
	if !u.UpdatedAt().Equal(now) || u.Status() != user.StatusActive || u.Role() != user.RoleUser {
		t.Errorf("updatedAt %v status %v role %v", u.UpdatedAt(), u.Status(), u.Role())
	}
	for name, tc := range map[string]struct {
		id      user.ID
		created time.Time
		field   string
	}{
		"not a uuid":    {"42", created, "id"},
		"upper case":    {"F47AC10B-58CC-4372-A567-0E02B2C3D479", created, "id"},
		"no createdAt":  {id, time.Time{}, "createdAt"},
		"in the future": {id, now.Add(time.Second), "createdAt"},
	} {
		_, err := user.Import(tc.id, "ada@example.com", "ada", "", tc.created, now)
		var e *errs.Error
		if !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != tc.field {
			t.Errorf("%s: %v, want an invalid %s", name, err, tc.field)
		}
	}
	if _, err := user.Import(id, "not an address", "ada", "", created, now); err == nil {
		t.Error("an invalid email was imported")
	}
}
