package adaptertest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
)

// dirFixture is the population the directory suite searches: 50 users whose
// status, roles, flags, creation times (in threes that tie) and last
// sign-ins (some tied, some never) vary with their number, and whose names
// hold upper case, non-ASCII letters and LIKE's metacharacters.
type dirFixture struct {
	all []user.Listed // as the store should list them
}

// dirNames are display names; the LIKE metacharacters %, _ and \ each occur
// in some, and the upper-case ones must match a lower-case query.
var dirNames = []string{"Ada Lovelace", "Grace HOPPER", "ÜNAL Öztürk", "100% Real", `Back\Slash`,
	"Under_Score", "Alan Turing", "Axxe Cutter"}

var dirDomains = []string{"example.com", "Example.ORG", "mail.test"}

func dirTime(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }

// seedDirectory creates the fixture's users and, for those who signed in,
// a session starting at their last sign-in.
func seedDirectory(t *testing.T, s Stores) dirFixture {
	t.Helper()
	ctx := t.Context()
	var f dirFixture
	for i := range 50 {
		u, err := user.New(user.ID(newID(t)), fmt.Sprintf("dir.%02d@%s", i, dirDomains[i%len(dirDomains)]),
			fmt.Sprintf("member_%02d", i), dirNames[i%len(dirNames)], dirTime(i/3))
		mustNotFail(t, "user.New", err)
		st := u.Snapshot()
		switch i % 10 {
		case 7:
			st.Status = user.StatusInactive.String()
		case 9:
			st.Status, st.DeletedAt = user.StatusDeleted.String(), st.UpdatedAt
		}
		if i%7 == 0 {
			st.Username = fmt.Sprintf("zed%02d", i)
		}
		if i%4 == 0 {
			st.Roles = append(st.Roles, user.RoleAdmin)
		}
		if i%5 == 0 {
			st.Roles = append(st.Roles, "support")
		}
		st.MFAEnabled = i%3 == 0
		st.EmailVerified = i%2 == 0
		u, err = user.Rehydrate(st)
		mustNotFail(t, "Rehydrate", err)
		mustNotFail(t, "Users.Create", s.Users.Create(ctx, u))
		l := user.Listed{User: u}
		if i%4 != 1 {
			// (i*7)%20 repeats every 20 users: sign-ins tie.
			l.LastLoginAt = dirTime(100 + (i*7)%20)
			createSession(t, s, u.ID(), l.LastLoginAt)
		}
		f.all = append(f.all, l)
	}
	return f
}

// want lists the fixture's users q selects, in q's order, by the meaning
// user.Query.Matches and user.Less give it.
func (f dirFixture) want(q user.Query) []user.Listed {
	var out []user.Listed
	for _, l := range f.all {
		if q.Matches(l) {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b user.Listed) int {
		ka, kb := user.KeyOf(a, q.Sort), user.KeyOf(b, q.Sort)
		if q.Descending {
			ka, kb = kb, ka
		}
		if user.Less(ka, kb, q.Sort) {
			return -1
		}
		return 1
	})
	return out
}

// page walks every page of q with page size 7 and returns the items, failing
// t if a page is over-full or more is wrong.
func pageThrough(t *testing.T, s Stores, q user.Query) []user.Listed {
	t.Helper()
	q.Limit = 7
	q, err := q.Normalize()
	mustNotFail(t, "Normalize", err)
	var all []user.Listed
	for pages := 1; ; pages++ {
		items, more, err := s.Directory.Search(t.Context(), q)
		mustNotFail(t, fmt.Sprintf("Search %+v", q), err)
		if len(items) > q.Limit || (more && len(items) < q.Limit) {
			t.Fatalf("page %d of %+v: %d items, more=%v", pages, q, len(items), more)
		}
		all = append(all, items...)
		if !more {
			return all
		}
		if pages > 20 {
			t.Fatalf("%+v: still more after %d pages", q, pages)
		}
		k := user.KeyOf(items[len(items)-1], q.Sort)
		q.After = &k
	}
}

func listedIDs(ls []user.Listed) []user.ID {
	out := make([]user.ID, len(ls))
	for i, l := range ls {
		out[i] = l.ID()
	}
	return out
}

func describe(q user.Query) string {
	s := fmt.Sprintf("sort %s desc=%v", q.Sort, q.Descending)
	if q.Text != "" {
		s += fmt.Sprintf(" q=%q", q.Text)
	}
	if !q.Status.IsZero() {
		s += " status=" + q.Status.String()
	}
	if q.Role != "" {
		s += " role=" + q.Role
	}
	if q.MFAEnabled != nil {
		s += fmt.Sprintf(" mfa=%v", *q.MFAEnabled)
	}
	if q.EmailVerified != nil {
		s += fmt.Sprintf(" verified=%v", *q.EmailVerified)
	}
	if !q.CreatedAfter.IsZero() || !q.CreatedBefore.IsZero() {
		s += fmt.Sprintf(" created (%s, %s)", q.CreatedAfter.Format(time.RFC3339), q.CreatedBefore.Format(time.RFC3339))
	}
	if !q.LastLoginBefore.IsZero() {
		s += " lastLoginBefore=" + q.LastLoginBefore.Format(time.RFC3339)
	}
	return s
}

// Directory is the contract of ports.UserDirectory.
func Directory(t *testing.T, setup Setup) {
	yes, no := true, false
	filters := map[string]user.Query{
		"no filter":                   {},
		"status active":               {Status: user.StatusActive},
		"status inactive":             {Status: user.StatusInactive},
		"status deleted":              {Status: user.StatusDeleted},
		"role admin":                  {Role: user.RoleAdmin},
		"role support":                {Role: "support"},
		"role nobody holds":           {Role: "auditor"},
		"mfa on":                      {MFAEnabled: &yes},
		"mfa off":                     {MFAEnabled: &no},
		"email verified":              {EmailVerified: &yes},
		"email unverified":            {EmailVerified: &no},
		"created after":               {CreatedAfter: dirTime(5)},
		"created before":              {CreatedBefore: dirTime(10)},
		"created between":             {CreatedAfter: dirTime(3), CreatedBefore: dirTime(12)},
		"last login before":           {LastLoginBefore: dirTime(110)},
		"text in email, other case":   {Text: "ExAmple.ORG"},
		"text in username":            {Text: "ZED"},
		"text in display name":        {Text: "hopper"},
		"text, non-ASCII folded":      {Text: "ünal ÖZTÜRK"},
		"text '%'":                    {Text: "%"},
		"text '_'":                    {Text: "_"},
		`text '\'`:                    {Text: `\`},
		"text '0%'":                   {Text: "0% r"},
		"text 'a%e' is literal":       {Text: "a%e"},
		"text 'l_v' is literal":       {Text: "l_v"},
		"text spanning two fields":    {Text: "test member"},
		"text and status":             {Text: "example", Status: user.StatusInactive},
		"text, deleted":               {Text: "dir.", Status: user.StatusDeleted},
		"every filter":                {Text: "dir", Role: user.RoleAdmin, MFAEnabled: &yes, EmailVerified: &yes, CreatedAfter: dirTime(0), LastLoginBefore: dirTime(115)},
		"role, mfa and last login":    {Role: "support", MFAEnabled: &no, LastLoginBefore: dirTime(120)},
		"unverified, created, status": {EmailVerified: &no, CreatedBefore: dirTime(14), Status: user.StatusActive},
	}
	sorts := []user.SortField{user.SortCreatedAt, user.SortEmail, user.SortLastLoginAt}

	run(t, setup, "every filter, alone and combined, in every order, page by page", func(t *testing.T, s Stores) {
		f := seedDirectory(t, s)
		for name, q := range filters {
			for _, sort := range sorts {
				for _, desc := range []bool{false, true} {
					q.Sort, q.Descending = sort, desc
					nq, err := q.Normalize()
					mustNotFail(t, name, err)
					want, got := f.want(nq), pageThrough(t, s, q)
					if !slices.Equal(listedIDs(got), listedIDs(want)) {
						t.Errorf("%s (%s):\n got %v\nwant %v", name, describe(nq), listedIDs(got), listedIDs(want))
						continue
					}
					for i := range got {
						if d := diffUser(got[i].User, want[i].User); d != "" {
							t.Errorf("%s: user %s differs:\n%s", name, got[i].ID(), d)
						}
						if !sameTime(got[i].LastLoginAt, want[i].LastLoginAt) {
							t.Errorf("%s: user %s last login %v, want %v", name, got[i].ID(), got[i].LastLoginAt, want[i].LastLoginAt)
						}
					}
				}
			}
		}
	})

	// The model above could share a mistake with the stores: these counts
	// are worked out by hand from seedDirectory.
	run(t, setup, "known answers", func(t *testing.T, s Stores) {
		seedDirectory(t, s)
		for _, tt := range []struct {
			q    user.Query
			want int
		}{
			{user.Query{}, 45}, // 50 but the deleted 9, 19, 29, 39, 49
			{user.Query{Status: user.StatusDeleted}, 5},
			{user.Query{Text: "%"}, 5},                                        // "100% Real": 3, 11, 19, 27, 35, 43; 19 is deleted
			{user.Query{Text: "_"}, 39},                                       // 42 member_NN and Under_Score zed21, less the deleted 9, 19, 29, 39
			{user.Query{Text: `\`}, 6},                                        // Back\Slash: 4, 12, 20, 28, 36, 44
			{user.Query{Text: "a%e"}, 0},                                      // no "a%e" anywhere, though "Ada Lovelace" has a...e
			{user.Query{Text: "HOPPER"}, 5},                                   // 1, 9, 17, 25, 33, 41, 49; 9 and 49 are deleted
			{user.Query{Text: "öztürk"}, 6},                                   // ÜNAL Öztürk: 2, 10, 18, 26, 34, 42
			{user.Query{Text: "test member"}, 0},                              // mail.test and member_NN are two fields
			{user.Query{LastLoginBefore: dirTime(100)}, 10},                   // never signed in: 1, 5, ..., 49, less the deleted 9, 29, 49
			{user.Query{Role: user.RoleAdmin, Status: user.StatusDeleted}, 0}, // i%4 == 0 and i%10 == 9 never meet
		} {
			q, err := tt.q.Normalize()
			mustNotFail(t, "Normalize", err)
			q.Limit = user.MaxPageSize
			items, more, err := s.Directory.Search(t.Context(), q)
			mustNotFail(t, "Search", err)
			if len(items) != tt.want || more {
				t.Errorf("%s: %d users (more=%v), want %d", describe(q), len(items), more, tt.want)
			}
		}
	})

	run(t, setup, "a session start is the last sign-in; an older one does not move it back", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		l, err := s.Directory.Listed(ctx, u.ID())
		mustNotFail(t, "Listed", err)
		if !l.LastLoginAt.IsZero() {
			t.Fatalf("new user's last login is %v, want none", l.LastLoginAt)
		}
		login := t0.Add(26*time.Hour + 7*time.Microsecond)
		createSession(t, s, u.ID(), login)
		createSession(t, s, u.ID(), login.Add(-time.Hour))
		l, err = s.Directory.Listed(ctx, u.ID())
		mustNotFail(t, "Listed", err)
		if !sameTime(l.LastLoginAt, login) {
			t.Errorf("last login %v, want %v", l.LastLoginAt, login)
		}
		// Recording it is not a change of the user: no version or update time.
		if d := diffUser(l.User, u); d != "" {
			t.Errorf("signing in changed the user:\n%s", d)
		}
		got, err := s.Users.ByID(ctx, u.ID())
		mustNotFail(t, "ByID", err)
		if d := diffUser(got, u); d != "" {
			t.Errorf("signing in changed the stored user:\n%s", d)
		}
	})

	// Reissue inserts copies of older sessions: were the last sign-in simply
	// the newest insert's start, it would move back.
	run(t, setup, "reissuing sessions leaves the last sign-in as it was", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		login := t0.Add(2 * time.Hour)
		// The newer session first: stores copy in id order, so the older
		// one's copy is inserted last.
		createSession(t, s, u.ID(), login)
		createSession(t, s, u.ID(), t0)
		_, err := s.Sessions.Reissue(ctx, u.ID(), func() session.ID { return session.ID(newID(t)) }, login.Add(time.Hour))
		mustNotFail(t, "Reissue", err)
		l, err := s.Directory.Listed(ctx, u.ID())
		mustNotFail(t, "Listed", err)
		if !sameTime(l.LastLoginAt, login) {
			t.Errorf("last login %v after a reissue, want %v", l.LastLoginAt, login)
		}
	})

	run(t, setup, "a rolled-back session leaves no sign-in", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			ss, _ := newSession(t, u.ID(), t0.Add(time.Hour))
			if err := s.Sessions.Create(ctx, ss); err != nil {
				return err
			}
			return errBoom
		})
		wantErr(t, "WithinTx", err, errBoom)
		l, err := s.Directory.Listed(ctx, u.ID())
		mustNotFail(t, "Listed", err)
		if !l.LastLoginAt.IsZero() {
			t.Errorf("last login %v after a rollback, want none", l.LastLoginAt)
		}
	})

	run(t, setup, "Listed of an unknown user is ErrNotFound", func(t *testing.T, s Stores) {
		createUser(t, s)
		_, err := s.Directory.Listed(t.Context(), user.ID(newID(t)))
		wantErr(t, "Listed", err, user.ErrNotFound)
	})

	run(t, setup, "a renamed user is found by the new name only", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		name := "Zoë Quintessa"
		_, err := s.Users.Update(ctx, u.ID(), func(u *user.User) error {
			_, err := u.UpdateProfile(user.ProfileUpdate{DisplayName: &name}, t0.Add(time.Hour))
			return err
		})
		mustNotFail(t, "Update", err)
		for text, want := range map[string]int{"zoë quint": 1, "ZOË": 1, u.Username(): 1, "renamed": 0} {
			q, err := user.Query{Text: text}.Normalize()
			mustNotFail(t, "Normalize", err)
			items, _, err := s.Directory.Search(ctx, q)
			mustNotFail(t, "Search", err)
			if len(items) != want {
				t.Errorf("q=%q: %d users, want %d", text, len(items), want)
			}
		}
	})

	run(t, setup, "a page after a key that left the listing starts after where it was", func(t *testing.T, s Stores) {
		ctx := t.Context()
		var us []user.User
		for i := range 3 {
			u, err := user.New(user.ID(newID(t)), fmt.Sprintf("gap%d@example.com", i), fmt.Sprintf("gap%d", i), "", dirTime(i))
			mustNotFail(t, "user.New", err)
			mustNotFail(t, "Create", s.Users.Create(ctx, u))
			us = append(us, u)
		}
		// The key of a user that is not stored, between the first two.
		gone := user.Key{Time: dirTime(0).Add(time.Minute), ID: user.ID(newID(t))}
		for _, desc := range []bool{false, true} {
			q, err := user.Query{Sort: user.SortCreatedAt, Descending: desc, After: &gone}.Normalize()
			mustNotFail(t, "Normalize", err)
			items, more, err := s.Directory.Search(ctx, q)
			mustNotFail(t, "Search", err)
			want := []user.ID{us[1].ID(), us[2].ID()}
			if desc {
				want = []user.ID{us[0].ID()}
			}
			if !slices.Equal(listedIDs(items), want) || more {
				t.Errorf("desc=%v: got %v (more=%v), want %v", desc, listedIDs(items), more, want)
			}
		}
	})
}
