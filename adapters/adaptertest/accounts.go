package adaptertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/activity"
	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// importedAccount returns a valid account of another system, created a
// year before t0 and arriving at t0.
func importedAccount(t *testing.T) ports.ImportedAccount {
	t.Helper()
	n := unique()
	u, err := user.Import(user.ID(newID(t)), "imported"+n+"@example.com", "imported"+n, "Imported "+n,
		t0.AddDate(-1, 0, 0).Add(123*time.Microsecond), t0)
	mustNotFail(t, "user.Import", err)
	return ports.ImportedAccount{User: u, PasswordHash: credential.PasswordHash("$2b$10$hash-of-" + n)}
}

func userIDs(us []user.User) []user.ID {
	out := make([]user.ID, len(us))
	for i, u := range us {
		out[i] = u.ID()
	}
	slices.Sort(out)
	return out
}

// AccountImports is the contract of ports.AccountImports.
func AccountImports(t *testing.T, setup Setup) {
	run(t, setup, "CreateAccounts stores users and hashes that Matching finds", func(t *testing.T, s Stores) {
		ctx := t.Context()
		accts := []ports.ImportedAccount{importedAccount(t), importedAccount(t), importedAccount(t)}
		mustNotFail(t, "CreateAccounts", s.Imports.CreateAccounts(ctx, accts))
		mustNotFail(t, "CreateAccounts of none", s.Imports.CreateAccounts(ctx, nil))
		for _, a := range accts {
			got, err := s.Users.ByID(ctx, a.User.ID())
			mustNotFail(t, "ByID", err)
			if d := diffUser(got, a.User); d != "" {
				t.Errorf("stored user differs:\n%s", d)
			}
			h, err := s.Credentials.PasswordHash(ctx, a.User.ID())
			mustNotFail(t, "PasswordHash", err)
			if h != a.PasswordHash {
				t.Errorf("stored hash %q, want %q", h, a.PasswordHash)
			}
		}
		other := createUser(t, s)
		a, b, c := accts[0].User, accts[1].User, accts[2].User
		for name, tc := range map[string]struct {
			ids           []user.ID
			emails, names []string
			want          []user.User
		}{
			"nothing asked":          {},
			"by id":                  {ids: []user.ID{a.ID()}, want: []user.User{a}},
			"by email in upper case": {emails: []string{strings.ToUpper(b.Email())}, want: []user.User{b}},
			"by username":            {names: []string{" " + c.Username()}, want: []user.User{c}},
			"each once":              {ids: []user.ID{a.ID()}, emails: []string{a.Email(), b.Email()}, names: []string{a.Username(), other.Username()}, want: []user.User{a, b, other}},
			"unknown":                {ids: []user.ID{user.ID(newID(t))}, emails: []string{"nobody@example.com"}, names: []string{"nobody"}},
		} {
			got, err := s.Imports.Matching(ctx, tc.ids, tc.emails, tc.names)
			mustNotFail(t, "Matching "+name, err)
			if g, w := userIDs(got), userIDs(tc.want); !slices.Equal(g, w) {
				t.Errorf("Matching %s = %v, want %v", name, g, w)
			}
			for _, u := range got {
				if u.ID() == a.ID() && diffUser(u, a) != "" {
					t.Errorf("Matching %s returned %s as\n%s", name, a.ID(), diffUser(u, a))
				}
			}
		}
	})

	run(t, setup, "A taken id, email or username fails the batch, and the rollback leaves nothing", func(t *testing.T, s Stores) {
		ctx := t.Context()
		stored := importedAccount(t)
		mustNotFail(t, "CreateAccounts", s.Imports.CreateAccounts(ctx, []ports.ImportedAccount{stored}))
		with := func(edit func(id *user.ID, email, username *string)) ports.ImportedAccount {
			a := importedAccount(t)
			id, email, name := a.User.ID(), a.User.Email(), a.User.Username()
			edit(&id, &email, &name)
			u, err := user.Import(id, email, name, "", a.User.CreatedAt(), t0)
			mustNotFail(t, "user.Import", err)
			a.User = u
			return a
		}
		dupe := importedAccount(t)
		for name, tc := range map[string]struct {
			batch []ports.ImportedAccount
			want  error
		}{
			"a stored id":            {[]ports.ImportedAccount{with(func(id *user.ID, _, _ *string) { *id = stored.User.ID() })}, user.ErrIDTaken},
			"a stored email":         {[]ports.ImportedAccount{with(func(_ *user.ID, e, _ *string) { *e = strings.ToUpper(stored.User.Email()) })}, user.ErrEmailTaken},
			"a stored username":      {[]ports.ImportedAccount{with(func(_ *user.ID, _, n *string) { *n = stored.User.Username() })}, user.ErrUsernameTaken},
			"an id twice in a batch": {[]ports.ImportedAccount{dupe, with(func(id *user.ID, _, _ *string) { *id = dupe.User.ID() })}, user.ErrIDTaken},
			"an email twice":         {[]ports.ImportedAccount{dupe, with(func(_ *user.ID, e, _ *string) { *e = dupe.User.Email() })}, user.ErrEmailTaken},
			"a username twice":       {[]ports.ImportedAccount{dupe, with(func(_ *user.ID, _, n *string) { *n = dupe.User.Username() })}, user.ErrUsernameTaken},
		} {
			fresh := importedAccount(t)
			batch := append([]ports.ImportedAccount{fresh}, tc.batch...)
			err := s.Tx.WithinTx(ctx, func(ctx context.Context) error { return s.Imports.CreateAccounts(ctx, batch) })
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: CreateAccounts = %v, want %v", name, err, tc.want)
			}
			for _, a := range batch {
				if a.User.ID() == stored.User.ID() {
					continue
				}
				if _, err := s.Users.ByID(ctx, a.User.ID()); !errors.Is(err, user.ErrNotFound) {
					t.Errorf("%s: after the rollback, ByID(%s) = %v; want not found", name, a.User.ID(), err)
				}
			}
		}
		got, err := s.Imports.Matching(ctx, nil, []string{stored.User.Email()}, nil)
		mustNotFail(t, "Matching", err)
		if len(got) != 1 || diffUser(got[0], stored.User) != "" {
			t.Errorf("the stored account changed: %v", got)
		}
	})

	run(t, setup, "CreateAccounts in a transaction rolls back with it", func(t *testing.T, s Stores) {
		ctx := t.Context()
		a := importedAccount(t)
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			if err := s.Imports.CreateAccounts(ctx, []ports.ImportedAccount{a}); err != nil {
				return err
			}
			return errBoom
		})
		wantErr(t, "WithinTx", err, errBoom)
		if _, err := s.Users.ByID(ctx, a.User.ID()); !errors.Is(err, user.ErrNotFound) {
			t.Errorf("after the rollback, ByID = %v", err)
		}
		if _, err := s.Credentials.PasswordHash(ctx, a.User.ID()); !errors.Is(err, credential.ErrNoPassword) {
			t.Errorf("after the rollback, PasswordHash = %v", err)
		}
	})
}

// deletedUser creates a user with a session, a factor, a backup code, a
// challenge, a one-time token and activity, and deletes it at when.
func deletedUser(t *testing.T, s Stores, when time.Time) user.User {
	t.Helper()
	ctx := t.Context()
	u := createUser(t, s)
	mustNotFail(t, "SetPasswordHash", s.Credentials.SetPasswordHash(ctx, u.ID(), "$argon2id$x", t0))
	createSession(t, s, u.ID(), t0)
	mustNotFail(t, "Factors.Put", s.Factors.Put(ctx, mfa.Factor{UserID: u.ID(), Method: mfa.MethodEmail, CreatedAt: t0}))
	mustNotFail(t, "BackupCodes.Replace", s.BackupCodes.Replace(ctx, u.ID(), []string{"code-" + newID(t)}, t0))
	mustNotFail(t, "Challenges.Create", s.Challenges.Create(ctx, mfa.Challenge{Hash: session.TokenHash("ch-" + newID(t)), UserID: u.ID(),
		Methods: []mfa.Method{mfa.MethodEmail}, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	mustNotFail(t, "Tokens.Issue", s.Tokens.Issue(ctx, ports.PurposePasswordReset, u.ID(), "token-"+newID(t), t0, t0.Add(time.Hour)))
	_, err := s.Activities.Update(ctx, u.ID(), func(a *activity.Activity) error { a.Campaigns = 3; return nil })
	mustNotFail(t, "Activities.Update", err)
	u, err = s.Users.Update(ctx, u.ID(), func(u *user.User) error { u.Delete(when); return nil })
	mustNotFail(t, "delete", err)
	return u
}

// checkErased fails unless nothing of u is left.
func checkErased(t *testing.T, s Stores, u user.User) {
	t.Helper()
	ctx := t.Context()
	if _, err := s.Users.ByID(ctx, u.ID()); !errors.Is(err, user.ErrNotFound) {
		t.Errorf("erased %s: ByID = %v", u.ID(), err)
	}
	if _, err := s.Credentials.PasswordHash(ctx, u.ID()); !errors.Is(err, credential.ErrNoPassword) {
		t.Errorf("erased %s: PasswordHash = %v", u.ID(), err)
	}
	if live, err := s.Sessions.Live(ctx, u.ID(), t0); err != nil || len(live) != 0 {
		t.Errorf("erased %s: %d live sessions, %v", u.ID(), len(live), err)
	}
	if fs, err := s.Factors.Factors(ctx, u.ID()); err != nil || len(fs) != 0 {
		t.Errorf("erased %s: %d factors, %v", u.ID(), len(fs), err)
	}
	if n, err := s.BackupCodes.Remaining(ctx, u.ID()); err != nil || n != 0 {
		t.Errorf("erased %s: %d backup codes, %v", u.ID(), n, err)
	}
	if a, err := s.Activities.ByUser(ctx, u.ID()); err != nil || a.Campaigns != 0 {
		t.Errorf("erased %s: activity %+v, %v", u.ID(), a, err)
	}
}

// UserEraser is the contract of ports.UserEraser.
func UserEraser(t *testing.T, setup Setup) {
	run(t, setup, "EraseDeleted removes users deleted before the cutoff, oldest first, with what is theirs", func(t *testing.T, s Stores) {
		ctx := t.Context()
		var due []user.User
		for i := range 4 {
			due = append(due, deletedUser(t, s, t0.Add(time.Duration(3-i)*time.Hour)))
		}
		recent := deletedUser(t, s, t0.Add(10*time.Hour))
		alive := createUser(t, s)
		cutoff := t0.Add(5 * time.Hour)
		first, err := s.Eraser.EraseDeleted(ctx, cutoff, 3)
		mustNotFail(t, "EraseDeleted", err)
		// Oldest deletion first: due[3] was deleted earliest.
		if got, want := userIDs(first), userIDs([]user.User{due[3], due[2], due[1]}); !slices.Equal(got, want) {
			t.Fatalf("first batch erased %v, want the three oldest deletions %v", got, want)
		}
		for _, u := range first {
			if u.Status() != user.StatusDeleted || u.DeletedAt().IsZero() || u.Email() == "" {
				t.Errorf("EraseDeleted returned %+v, want the user as it was", u.Snapshot())
			}
		}
		rest, err := s.Eraser.EraseDeleted(ctx, cutoff, 3)
		mustNotFail(t, "EraseDeleted", err)
		if len(rest) != 1 || rest[0].ID() != due[0].ID() {
			t.Fatalf("second batch erased %v, want %s", userIDs(rest), due[0].ID())
		}
		if none, err := s.Eraser.EraseDeleted(ctx, cutoff, 3); err != nil || len(none) != 0 {
			t.Fatalf("third batch = %v, %v; want none", userIDs(none), err)
		}
		for _, u := range due {
			checkErased(t, s, u)
		}
		for _, u := range []user.User{recent, alive} {
			if _, err := s.Users.ByID(ctx, u.ID()); err != nil {
				t.Errorf("%s should stay: %v", u.ID(), err)
			}
		}
	})

	run(t, setup, "EraseDeleted in a transaction rolls back with it", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := deletedUser(t, s, t0)
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			got, err := s.Eraser.EraseDeleted(ctx, t0.Add(time.Hour), 10)
			if err != nil {
				return err
			}
			if len(got) != 1 {
				return fmt.Errorf("erased %d users, want 1", len(got))
			}
			return errBoom
		})
		wantErr(t, "WithinTx", err, errBoom)
		got, err := s.Users.ByID(ctx, u.ID())
		mustNotFail(t, "ByID after the rollback", err)
		if d := diffUser(got, u); d != "" {
			t.Errorf("after the rollback:\n%s", d)
		}
		if _, err := s.Credentials.PasswordHash(ctx, u.ID()); err != nil {
			t.Errorf("after the rollback, PasswordHash = %v", err)
		}
		if fs, err := s.Factors.Factors(ctx, u.ID()); err != nil || len(fs) != 1 {
			t.Errorf("after the rollback, %d factors, %v", len(fs), err)
		}
	})

	run(t, setup, "Concurrent erasers never erase a user twice", func(t *testing.T, s Stores) {
		ctx := t.Context()
		const users, workers = 12, 4
		for i := range users {
			deletedUser(t, s, t0.Add(time.Duration(i)*time.Minute))
		}
		var (
			mu     sync.Mutex
			erased []user.ID
			wg     sync.WaitGroup
		)
		for range workers {
			wg.Go(func() {
				for {
					var got []user.User
					err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
						var err error
						got, err = s.Eraser.EraseDeleted(ctx, t0.Add(time.Hour), 2)
						return err
					})
					if err != nil {
						t.Errorf("EraseDeleted: %v", err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					erased = append(erased, userIDs(got)...)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(erased)
		if len(erased) != users || len(slices.Compact(slices.Clone(erased))) != users {
			t.Errorf("erased %d users (%d distinct), want each of %d once", len(erased), len(slices.Compact(erased)), users)
		}
	})
}
