package user_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/language"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/user"
)

var profileT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newProfileUser(t *testing.T) user.User {
	t.Helper()
	u, err := user.New("00000000-0000-7000-8000-000000000001", "a@x.io", "ada", "", profileT0)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// profileCase is one value of one optional profile field: want is what
// the user holds after it, wantErr the field error it must fail with.
type profileCase struct {
	in, want string
	wantErr  bool
}

func checkField(t *testing.T, field string, set func(*user.ProfileUpdate, *string), get func(user.User) string, cases []profileCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(field+"="+tc.in, func(t *testing.T) {
			u := newProfileUser(t)
			var p user.ProfileUpdate
			in := tc.in
			set(&p, &in)
			changes, err := u.UpdateProfile(p, profileT0.Add(time.Second))
			if tc.wantErr {
				var de *errs.Error
				if !errors.As(err, &de) || de.Kind != errs.Invalid || len(de.Fields) != 1 || de.Fields[0].Field != field {
					t.Fatalf("err = %v, want an invalid %s", err, field)
				}
				if get(u) != "" || u.Version() != 1 {
					t.Errorf("a refused value changed the user: %q, version %d", get(u), u.Version())
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got := get(u); got != tc.want {
				t.Errorf("%s = %q, want %q", field, got, tc.want)
			}
			if tc.want == "" {
				if len(changes) != 0 {
					t.Errorf("clearing an unset field changed %v", changes)
				}
				return
			}
			if len(changes) != 1 || changes[0] != (user.Change{Field: field, Previous: "", Current: tc.want}) {
				t.Errorf("changes = %+v", changes)
			}
			if u.Version() != 2 {
				t.Errorf("version %d, want 2", u.Version())
			}
		})
	}
}

func TestUpdateProfile_AvatarURL(t *testing.T) {
	long := "https://cdn.example.com/" + strings.Repeat("a", user.MaxAvatarURLLength-len("https://cdn.example.com/"))
	checkField(t, "avatarUrl", func(p *user.ProfileUpdate, s *string) { p.AvatarURL = s }, user.User.AvatarURL, []profileCase{
		{in: "https://cdn.example.com/a/ada.png", want: "https://cdn.example.com/a/ada.png"},
		{in: "  https://cdn.example.com/ada.png?s=128#x ", want: "https://cdn.example.com/ada.png?s=128#x"},
		{in: "HTTPS://CDN.Example.COM:8443/Ada.png", want: "https://cdn.example.com:8443/Ada.png"},
		{in: "https://xn--bcher-kva.example/a.png", want: "https://xn--bcher-kva.example/a.png"},
		{in: long, want: long},
		{in: "", want: ""},
		{in: "   ", want: ""},
		{in: long + "a", wantErr: true},
		{in: "http://cdn.example.com/ada.png", wantErr: true},
		{in: "javascript:alert(1)", wantErr: true},
		{in: "data:image/png;base64,AAAA", wantErr: true},
		{in: "//cdn.example.com/ada.png", wantErr: true},
		{in: "/ada.png", wantErr: true},
		{in: "https:ada.png", wantErr: true},
		{in: "https:///ada.png", wantErr: true},
		{in: "https://ada:secret@cdn.example.com/a.png", wantErr: true},
		{in: "https://ada@cdn.example.com/a.png", wantErr: true},
		{in: "https://localhost/a.png", wantErr: true},
		{in: "https://192.168.1.1/a.png", wantErr: true},
		{in: "https://[::1]/a.png", wantErr: true},
		{in: "https://cdn.example.com/a b.png", wantErr: true},
		{in: "https://bücher.example/a.png", wantErr: true},
		{in: "https://cdn.example.com:port/a.png", wantErr: true},
	})
}

func TestUpdateProfile_Locale(t *testing.T) {
	checkField(t, "locale", func(p *user.ProfileUpdate, s *string) { p.Locale = s }, user.User.Locale, []profileCase{
		{in: "en", want: "en"},
		{in: "en-us", want: "en-US"},
		{in: "EN-gb", want: "en-GB"},
		{in: "zh-hant-tw", want: "zh-Hant-TW"},
		{in: "es-419", want: "es-419"},
		{in: "sl-rozaj-biske", want: "sl-rozaj-biske"},
		{in: "de-CH-1996", want: "de-CH-1996"},
		{in: "en-US-u-CA-Gregory", want: "en-US-u-ca-gregory"},
		{in: "en-US-x-Twain", want: "en-US-x-twain"},
		{in: "zh-yue-HK", want: "zh-yue-HK"},
		{in: " fr-CA ", want: "fr-CA"},
		{in: "", want: ""},
		{in: "e", wantErr: true},
		{in: "english", wantErr: true},
		{in: "en_US", wantErr: true},
		{in: "en-", wantErr: true},
		{in: "en--US", wantErr: true},
		{in: "en-US-", wantErr: true},
		{in: "en-u", wantErr: true},
		{in: "en-u-x", wantErr: true},
		{in: "en-x", wantErr: true},
		{in: "x-private", wantErr: true},
		{in: "i-klingon", wantErr: true},
		{in: "en-GB-oed", wantErr: true},
		{in: "de-1996-1996", wantErr: true},
		{in: "en-a-bbb-a-ccc", wantErr: true},
		{in: "en-US-toolongvariant", wantErr: true},
		{in: "en-US.UTF-8", wantErr: true},
		{in: "en-" + strings.Repeat("abcdefgh-", 7) + "a", wantErr: true},
		{in: "fr-ç", wantErr: true},
	})
}

func TestUpdateProfile_TimeZone(t *testing.T) {
	checkField(t, "timeZone", func(p *user.ProfileUpdate, s *string) { p.TimeZone = s }, user.User.TimeZone, []profileCase{
		{in: "Europe/Paris", want: "Europe/Paris"},
		{in: "America/Argentina/Buenos_Aires", want: "America/Argentina/Buenos_Aires"},
		{in: "America/Port-au-Prince", want: "America/Port-au-Prince"},
		{in: "Etc/GMT+5", want: "Etc/GMT+5"},
		{in: "UTC", want: "UTC"},
		{in: " Asia/Tokyo ", want: "Asia/Tokyo"},
		{in: "", want: ""},
		{in: "Local", wantErr: true},
		{in: "localtime", wantErr: true},
		{in: "/etc/localtime", wantErr: true},
		{in: "/usr/share/zoneinfo/Europe/Paris", wantErr: true},
		{in: "../../../etc/passwd", wantErr: true},
		{in: "Europe/../Europe/Paris", wantErr: true},
		{in: "Europe/./Paris", wantErr: true},
		{in: "Europe//Paris", wantErr: true},
		{in: `Europe\Paris`, wantErr: true},
		{in: "Europe/Atlantis", wantErr: true},
		{in: "Mars/Olympus_Mons", wantErr: true},
		{in: "CEST", wantErr: true},
		{in: "+02:00", wantErr: true},
		{in: "Europe/" + strings.Repeat("P", user.MaxTimeZoneLength), wantErr: true},
	})
}

func TestUpdateProfile_PreferencesBound(t *testing.T) {
	// {"k":"…"} is 8 bytes around the value.
	fits := user.Preferences{"k": strings.Repeat("a", user.MaxPreferencesBytes-8)}
	u := newProfileUser(t)
	if _, err := u.UpdateProfile(user.ProfileUpdate{Preferences: fits}, profileT0); err != nil {
		t.Fatalf("%d bytes refused: %v", user.MaxPreferencesBytes, err)
	}
	if user.MaxPreferencesBytes != 16<<10 {
		t.Errorf("MaxPreferencesBytes = %d, want 16 KiB", user.MaxPreferencesBytes)
	}
	u = newProfileUser(t)
	over := user.Preferences{"k": strings.Repeat("a", user.MaxPreferencesBytes-7)}
	if _, err := u.UpdateProfile(user.ProfileUpdate{Preferences: over}, profileT0); err == nil {
		t.Fatalf("%d bytes accepted", user.MaxPreferencesBytes+1)
	}
	// The bound is on the merged object: a key added to a full one is refused.
	u = newProfileUser(t)
	if _, err := u.UpdateProfile(user.ProfileUpdate{Preferences: fits}, profileT0); err != nil {
		t.Fatal(err)
	}
	if _, err := u.UpdateProfile(user.ProfileUpdate{Preferences: user.Preferences{"t": 1}}, profileT0); err == nil {
		t.Error("a key that overflows the stored preferences was accepted")
	}
	for _, bad := range []user.Preferences{{"": 1}, {strings.Repeat("k", 65): 1}} {
		u := newProfileUser(t)
		if _, err := u.UpdateProfile(user.ProfileUpdate{Preferences: bad}, profileT0); err == nil {
			t.Errorf("preferences %v accepted", bad)
		}
	}
}

func TestUpdateProfile_ClearsAndReportsPrevious(t *testing.T) {
	u := newProfileUser(t)
	avatar, locale, zone := "https://cdn.example.com/ada.png", "en-GB", "Europe/London"
	if _, err := u.UpdateProfile(user.ProfileUpdate{AvatarURL: &avatar, Locale: &locale, TimeZone: &zone}, profileT0); err != nil {
		t.Fatal(err)
	}
	// The same values again, in another spelling, change nothing.
	same := "en-gb"
	changes, err := u.UpdateProfile(user.ProfileUpdate{AvatarURL: &avatar, Locale: &same, TimeZone: &zone}, profileT0)
	if err != nil || len(changes) != 0 || u.Version() != 2 {
		t.Fatalf("a no-op update: %v %v, version %d", changes, err, u.Version())
	}
	empty := ""
	changes, err = u.UpdateProfile(user.ProfileUpdate{AvatarURL: &empty, Locale: &empty, TimeZone: &empty}, profileT0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]user.Change{
		"avatarUrl": {Field: "avatarUrl", Previous: avatar, Current: ""},
		"locale":    {Field: "locale", Previous: locale, Current: ""},
		"timeZone":  {Field: "timeZone", Previous: zone, Current: ""},
	}
	if len(changes) != len(want) {
		t.Fatalf("changes = %+v", changes)
	}
	for _, c := range changes {
		if c != want[c.Field] {
			t.Errorf("change %+v, want %+v", c, want[c.Field])
		}
	}
	if u.AvatarURL() != "" || u.Locale() != "" || u.TimeZone() != "" || u.Version() != 3 {
		t.Errorf("not cleared: %+v", u.Snapshot())
	}
}

// An update with one invalid field applies none of the others.
func TestUpdateProfile_AllOrNothing(t *testing.T) {
	u := newProfileUser(t)
	name, avatar, zone := "Ada L.", "http://cdn.example.com/ada.png", "Europe/Paris"
	_, err := u.UpdateProfile(user.ProfileUpdate{DisplayName: &name, AvatarURL: &avatar, TimeZone: &zone,
		Preferences: user.Preferences{"theme": "dark"}}, profileT0)
	if errs.KindOf(err) != errs.Invalid {
		t.Fatalf("err = %v", err)
	}
	if u.DisplayName() != "ada" || u.TimeZone() != "" || len(u.Preferences()) != 0 || u.Version() != 1 {
		t.Errorf("a refused update changed the user: %+v", u.Snapshot())
	}
}

func TestRehydrate_ProfileRoundTrips(t *testing.T) {
	s := newProfileUser(t).Snapshot()
	s.AvatarURL, s.Locale, s.TimeZone = "https://cdn.example.com/a.png", "de-AT", "Europe/Vienna"
	u, err := user.Rehydrate(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Snapshot(); got.AvatarURL != s.AvatarURL || got.Locale != s.Locale || got.TimeZone != s.TimeZone {
		t.Errorf("Snapshot = %+v", got)
	}
}

// TestLocale_AgreesWithXText holds the locale rule to golang.org/x/text:
// a tag both accept is cased alike, unless x/text rewrote its subtags
// (iw to he, a grandfathered tag to its replacement).
func TestLocale_AgreesWithXText(t *testing.T) {
	tags := []string{"en", "en-us", "EN-US", "zh-hant-tw", "sr-latn-rs", "es-419", "de-ch-1996", "sl-rozaj-biske",
		"en-us-u-ca-gregory", "en-u-CA-GREGORY-nu-LATN", "en-us-x-twain", "en-t-ja", "en-latn", "qaa", "und",
		"iw", "mo", "zh-yue", "de-1996", "ca-es-valencia", "ja-jp-u-ca-japanese", "en-a-bbb-x-a-ccc", "ast"}
	for _, in := range tags {
		want, err := language.Parse(in)
		if err != nil {
			continue
		}
		u := newProfileUser(t)
		s := in
		if _, err := u.UpdateProfile(user.ProfileUpdate{Locale: &s}, profileT0); err != nil {
			t.Errorf("%q: x/text reads it as %q, the rule refuses it: %v", in, want, err)
			continue
		}
		if strings.EqualFold(want.String(), in) && u.Locale() != want.String() {
			t.Errorf("%q: the rule gives %q, x/text %q", in, u.Locale(), want)
		}
	}
}

func FuzzLocale(f *testing.F) {
	for _, s := range []string{"en-US", "zh-Hant-TW", "de-CH-1996", "en-u-ca-gregory", "en-x-a", "i-klingon", "en--", "x-y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u := newProfileUser(t)
		if _, err := u.UpdateProfile(user.ProfileUpdate{Locale: &s}, profileT0); err != nil || u.Locale() == "" {
			return
		}
		got := u.Locale()
		if len(got) > user.MaxLocaleLength || strings.ContainsFunc(got, func(r rune) bool { return r > 0x7e || r == ' ' }) {
			t.Fatalf("accepted %q as %q", s, got)
		}
		again := newProfileUser(t)
		if _, err := again.UpdateProfile(user.ProfileUpdate{Locale: &got}, profileT0); err != nil || again.Locale() != got {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", s, got, again.Locale(), err)
		}
		if x, err := language.Parse(got); err == nil && strings.EqualFold(x.String(), got) && x.String() != got {
			t.Fatalf("%q: the rule gives %q, x/text %q", s, got, x)
		}
	})
}

// Preferences nested deeper than MaxPreferencesDepth are refused: clients
// with a bounded parser could not read the profile back.
func TestPreferencesDepth(t *testing.T) {
	nest := func(n int) user.Preferences {
		var v any = "leaf"
		for range n - 1 {
			v = map[string]any{"k": v}
		}
		return user.Preferences{"k": v}
	}
	for _, tc := range []struct {
		levels int
		ok     bool
	}{{user.MaxPreferencesDepth, true}, {user.MaxPreferencesDepth + 1, false}, {2000, false}} {
		u := newProfileUser(t)
		_, err := u.UpdateProfile(user.ProfileUpdate{Preferences: nest(tc.levels)}, u.CreatedAt())
		if (err == nil) != tc.ok {
			t.Errorf("%d levels: %v, want ok %v", tc.levels, err, tc.ok)
		}
	}
}

// Names that are not places a user is in, and hosts on a reader's own
// network, are refused.
func TestProfileRefusesInternalNames(t *testing.T) {
	for _, v := range []string{"https://foo.localhost/a.png", "https://localhost.localdomain/a.png",
		"https://metadata.google.internal/a.png", "https://printer.local/a.png", "https://cdn.example.com:99999/a.png",
		"https://cdn.example.com:0/a.png"} {
		u := newProfileUser(t)
		if _, err := u.UpdateProfile(user.ProfileUpdate{AvatarURL: &v}, u.CreatedAt()); err == nil {
			t.Errorf("avatar %q accepted", v)
		}
	}
	for _, v := range []string{"posixrules", "Factory", "right/UTC", "posix/Europe/Berlin"} {
		u := newProfileUser(t)
		if _, err := u.UpdateProfile(user.ProfileUpdate{TimeZone: &v}, u.CreatedAt()); err == nil {
			t.Errorf("time zone %q accepted", v)
		}
	}
	ok := "https://cdn.example.com:8443/a.png"
	u := newProfileUser(t)
	if _, err := u.UpdateProfile(user.ProfileUpdate{AvatarURL: &ok}, u.CreatedAt()); err != nil {
		t.Errorf("avatar %q: %v", ok, err)
	}
}
