package sqlstore_test

import (
	"slices"
	"testing"

	"github.com/usermgmt/usermgmt/adapters/sqlstore"
	"github.com/usermgmt/usermgmt/adapters/sqlstore/sqlstoretest"
	"github.com/usermgmt/usermgmt/core/user"
)

const seedHash = "$argon2id$v=19$m=65536,t=1,p=4$c2VlZHNhbHRzZWVkc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// listAll pages through every user q selects.
func listAll(t *testing.T, dir *sqlstore.Directory, q user.Query) []user.Listed {
	t.Helper()
	q.Limit = user.MaxPageSize
	q, err := q.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	var all []user.Listed
	for {
		items, more, err := dir.Search(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, items...)
		if !more {
			return all
		}
		k := user.KeyOf(items[len(items)-1], q.Sort)
		q.After = &k
	}
}

func TestSeedUsers(t *testing.T) {
	dialects(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		var done []int
		if err := sqlstore.SeedUsersInBatches(ctx, db, 2500, seedHash, func(n int) { done = append(done, n) }, 1000); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(done, []int{1000, 2000, 2500}) {
			t.Errorf("progress %v", done)
		}
		dir := sqlstore.NewDirectory(db)
		live := listAll(t, dir, user.Query{})
		deleted := listAll(t, dir, user.Query{Status: user.StatusDeleted})
		all := append(slices.Clone(live), deleted...)
		if len(all) != 2500 {
			t.Fatalf("%d users, want 2500", len(all))
		}

		// Every seed user is a valid user, as the adapter would store it.
		creds, users := sqlstore.NewCredentials(db), sqlstore.NewUsers(db)
		count := map[string]int{}
		for _, l := range all {
			if e, err := user.NormalizeEmail(l.Email()); err != nil || e != l.Email() {
				t.Fatalf("seed email %q is not normal: %v", l.Email(), err)
			}
			if n, err := user.NormalizeUsername(l.Username()); err != nil || n != l.Username() {
				t.Fatalf("seed username %q is not normal: %v", l.Username(), err)
			}
			if !l.LastLoginAt.IsZero() && l.LastLoginAt.Before(l.CreatedAt()) {
				t.Fatalf("user %s signed in (%v) before joining (%v)", l.ID(), l.LastLoginAt, l.CreatedAt())
			}
			count[l.Status().String()]++
			for _, r := range l.Roles() {
				count[r]++
			}
			if l.MFAEnabled() {
				count["mfa"]++
			}
			if l.EmailVerified() {
				count["verified"]++
			}
			if l.LastLoginAt.IsZero() {
				count["never"]++
			}
		}
		for _, l := range all[:50] {
			if h, err := creds.PasswordHash(ctx, l.ID()); err != nil || string(h) != seedHash {
				t.Fatalf("password hash of %s: %q, %v", l.ID(), h, err)
			}
			if _, err := users.ByEmail(ctx, l.Email()); err != nil {
				t.Fatalf("ByEmail(%s): %v", l.Email(), err)
			}
		}
		// The spread is roughly the documented one (each share within a
		// factor of two).
		for k, share := range map[string]float64{"active": .85, "inactive": .10, "deleted": .05, "admin": .01,
			"support": .05, "mfa": .20, "verified": .70, "never": .20} {
			if got := float64(count[k]) / 2500; got < share/2 || got > share*2 {
				t.Errorf("%s: %.3f of the users, want about %.2f", k, got, share)
			}
		}

		// The text filter finds in seed users exactly what Matches finds.
		for _, text := range []string{"zoë", "MÜLLER", "mueller.", ".12", "_7", "example.org", "van r", "%"} {
			q, err := user.Query{Text: text, Status: user.StatusInactive}.Normalize()
			if err != nil {
				t.Fatal(err)
			}
			var want []user.ID
			for _, l := range all {
				if q.Matches(l) {
					want = append(want, l.ID())
				}
			}
			got := listAll(t, dir, q)
			gotIDs := make([]user.ID, len(got))
			for i, l := range got {
				gotIDs[i] = l.ID()
			}
			slices.Sort(want)
			slices.Sort(gotIDs)
			if !slices.Equal(gotIDs, want) {
				t.Errorf("q=%q: %d users, Matches finds %d", text, len(gotIDs), len(want))
			}
		}

		// Again, and further: what is there is skipped.
		done = nil
		if err := sqlstore.SeedUsersInBatches(ctx, db, 3100, seedHash, func(n int) { done = append(done, n) }, 1000); err != nil {
			t.Fatalf("seeding again: %v", err)
		}
		if !slices.Equal(done, []int{1000, 2000, 3000, 3100}) {
			t.Errorf("progress %v", done)
		}
		if n := len(listAll(t, dir, user.Query{})) + len(listAll(t, dir, user.Query{Status: user.StatusDeleted})); n != 3100 {
			t.Errorf("%d users after seeding 3100, want 3100", n)
		}
	})
}

// TestSeedUsersRefusesNoHash: a seed user must be able to sign in.
func TestSeedUsersRefusesNoHash(t *testing.T) {
	db := sqlstoretest.SQLite(t)
	if err := sqlstore.SeedUsers(t.Context(), db, 1, " ", nil); err == nil {
		t.Error("SeedUsers without a password hash succeeded")
	}
}
