package user_test

import (
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/user"
)

func TestQueryNormalize(t *testing.T) {
	q, err := user.Query{Text: "  Ada@Example ", Role: "admin"}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if q.Text != "ada@example" || q.Sort != user.SortCreatedAt || !q.Descending || q.Limit != user.DefaultPageSize {
		t.Errorf("Normalize filled %+v", q)
	}
	again, err := q.Normalize()
	if err != nil || again.Text != q.Text || again.Sort != q.Sort || again.Descending != q.Descending || again.Limit != q.Limit {
		t.Errorf("Normalize is not idempotent: %+v -> %+v (%v)", q, again, err)
	}
	// An explicit sort keeps the caller's direction.
	if q, err := (user.Query{Sort: user.SortEmail}).Normalize(); err != nil || q.Descending {
		t.Errorf("Sort email: %+v, %v", q, err)
	}

	t1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, bad := range map[string]user.Query{
		"control character":   {Text: "a\x01b"},
		"text too long":       {Text: strings.Repeat("é", user.MaxQueryText+1)},
		"invalid UTF-8":       {Text: "\xff"},
		"bad role":            {Role: "Admin"},
		"bad sort":            {Sort: "updatedAt"},
		"limit too big":       {Limit: user.MaxPageSize + 1},
		"negative limit":      {Limit: -1},
		"empty created range": {CreatedAfter: t1, CreatedBefore: t1},
	} {
		if _, err := bad.Normalize(); err == nil || errs.KindOf(err) != errs.Invalid {
			t.Errorf("%s: Normalize(%+v) = %v, want an invalid-input error", name, bad, err)
		}
	}
	if _, err := (user.Query{Text: strings.Repeat("é", user.MaxQueryText)}).Normalize(); err != nil {
		t.Errorf("text of exactly %d characters refused: %v", user.MaxQueryText, err)
	}
}

func listed(t *testing.T, email, username, display string, mutate func(*user.Stored), lastLogin time.Time) user.Listed {
	t.Helper()
	u, err := user.New(user.ID("id-"+username), email, username, display, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	s := u.Snapshot()
	if mutate != nil {
		mutate(&s)
	}
	if u, err = user.Rehydrate(s); err != nil {
		t.Fatal(err)
	}
	return user.Listed{User: u, LastLoginAt: lastLogin}
}

func TestQueryMatches(t *testing.T) {
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	yes, no := true, false
	ada := listed(t, "ada@example.com", "ada_l", "Ada LÖVELACE", func(s *user.Stored) {
		s.Roles = []string{user.RoleUser, user.RoleAdmin}
		s.MFAEnabled = true
	}, day.Add(48*time.Hour))
	gone := listed(t, "gone@example.com", "gone", "", func(s *user.Stored) {
		s.Status, s.DeletedAt = user.StatusDeleted.String(), s.UpdatedAt
	}, time.Time{})

	for name, tt := range map[string]struct {
		q    user.Query
		l    user.Listed
		want bool
	}{
		"no filter":                  {user.Query{}, ada, true},
		"email substring":            {user.Query{Text: "@example."}, ada, true},
		"username substring":         {user.Query{Text: "a_l"}, ada, true},
		"display name, folded":       {user.Query{Text: "lövelace"}, ada, true},
		"no field matches":           {user.Query{Text: "grace"}, ada, false},
		"'%' is a character":         {user.Query{Text: "%"}, ada, false},
		"'_' is a character":         {user.Query{Text: "_"}, ada, true},
		"deleted hidden by default":  {user.Query{}, gone, false},
		"deleted when asked for":     {user.Query{Status: user.StatusDeleted}, gone, true},
		"other status":               {user.Query{Status: user.StatusInactive}, ada, false},
		"role held":                  {user.Query{Role: user.RoleAdmin}, ada, true},
		"role not held":              {user.Query{Role: "support"}, ada, false},
		"mfa on":                     {user.Query{MFAEnabled: &yes}, ada, true},
		"mfa off":                    {user.Query{MFAEnabled: &no}, ada, false},
		"unverified":                 {user.Query{EmailVerified: &no}, ada, true},
		"created after, exclusive":   {user.Query{CreatedAfter: day}, ada, false},
		"created before, exclusive":  {user.Query{CreatedBefore: day}, ada, false},
		"created inside":             {user.Query{CreatedAfter: day.Add(-1), CreatedBefore: day.Add(1)}, ada, true},
		"last login before, later":   {user.Query{LastLoginBefore: day.Add(48 * time.Hour)}, ada, false},
		"last login before, earlier": {user.Query{LastLoginBefore: day.Add(49 * time.Hour)}, ada, true},
		"never signed in matches":    {user.Query{Status: user.StatusDeleted, LastLoginBefore: day}, gone, true},
	} {
		q, err := tt.q.Normalize()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := q.Matches(tt.l); got != tt.want {
			t.Errorf("%s: Matches = %v, want %v", name, got, tt.want)
		}
	}
}

func TestLess(t *testing.T) {
	t1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, tt := range map[string]struct {
		a, b user.Key
		sort user.SortField
	}{
		"earlier time":            {user.Key{Time: t1, ID: "b"}, user.Key{Time: t1.Add(time.Microsecond), ID: "a"}, user.SortCreatedAt},
		"time tie broken by id":   {user.Key{Time: t1, ID: "a"}, user.Key{Time: t1, ID: "b"}, user.SortCreatedAt},
		"never signed in first":   {user.Key{ID: "z"}, user.Key{Time: t1, ID: "a"}, user.SortLastLoginAt},
		"never: tie broken by id": {user.Key{ID: "a"}, user.Key{ID: "b"}, user.SortLastLoginAt},
		"email bytewise":          {user.Key{Email: "a.b@x.io", ID: "z"}, user.Key{Email: "a_b@x.io", ID: "a"}, user.SortEmail},
		"email ignores time":      {user.Key{Email: "a@x.io", Time: t1.Add(time.Hour)}, user.Key{Email: "b@x.io", Time: t1}, user.SortEmail},
	} {
		if !user.Less(tt.a, tt.b, tt.sort) || user.Less(tt.b, tt.a, tt.sort) {
			t.Errorf("%s: want %+v strictly before %+v", name, tt.a, tt.b)
		}
	}
	k := user.Key{Time: t1, ID: "a"}
	if user.Less(k, k, user.SortCreatedAt) {
		t.Error("a key is less than itself")
	}
}

func TestKeyOf(t *testing.T) {
	l := listed(t, "ada@example.com", "ada", "", nil, time.Time{})
	if k := user.KeyOf(l, user.SortLastLoginAt); !k.Time.IsZero() || k.ID != l.ID() {
		t.Errorf("KeyOf last login of a user who never signed in = %+v", k)
	}
	if k := user.KeyOf(l, user.SortEmail); k.Email != l.Email() || k.ID != l.ID() {
		t.Errorf("KeyOf email = %+v", k)
	}
	if k := user.KeyOf(l, user.SortCreatedAt); !k.Time.Equal(l.CreatedAt()) {
		t.Errorf("KeyOf createdAt = %+v", k)
	}
}
