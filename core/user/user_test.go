package user_test

import (
	"strings"
	"testing"
	"time"

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
