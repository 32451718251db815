package adaptertest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/user"
)

// Users is the contract of ports.Users.
func Users(t *testing.T, setup Setup) {
	run(t, setup, "every field round-trips through ByID, ByEmail and ByUsername", func(t *testing.T, s Stores) {
		ctx := t.Context()
		want, err := user.Rehydrate(user.Stored{
			ID: user.ID(newID(t)), Email: "jane.doe" + unique() + "@example.com", Username: "jane_doe" + unique(),
			DisplayName: "Jane Döe ✓", Status: user.StatusInactive.String(),
			Roles:         []string{user.RoleUser, user.RoleAdmin, "org:billing"},
			EmailVerified: true, MFAEnabled: true,
			Preferences: user.Preferences{
				"theme":  "dark",
				"locale": "de-AT",
				"count":  42.0,
				"ratio":  0.125,
				"off":    false,
				"none":   nil,
				"empty":  map[string]any{},
				"notify": map[string]any{"email": true, "digest": "weekly", "hours": []any{9.0, 17.5}, "deep": map[string]any{"x": []any{"a", map[string]any{"y": 1.0}}}},
			},
			AvatarURL: "https://cdn.example.com/avatars/jane.png?s=128&v=2#large", Locale: "de-AT-u-ca-gregory",
			TimeZone:  "America/Argentina/Buenos_Aires",
			CreatedAt: t0, UpdatedAt: t0.Add(90*time.Minute + 789*time.Microsecond), Version: 7,
		})
		mustNotFail(t, "Rehydrate", err)
		mustNotFail(t, "Create", s.Users.Create(ctx, want))

		got, err := s.Users.ByID(ctx, want.ID())
		mustNotFail(t, "ByID", err)
		if d := diffUser(got, want); d != "" {
			t.Errorf("ByID differs:\n%s", d)
		}
		got, err = s.Users.ByEmail(ctx, strings.ToUpper(want.Email()))
		mustNotFail(t, "ByEmail (upper case)", err)
		if d := diffUser(got, want); d != "" {
			t.Errorf("ByEmail differs:\n%s", d)
		}
		got, err = s.Users.ByUsername(ctx, strings.ToUpper(want.Username()))
		mustNotFail(t, "ByUsername (upper case)", err)
		if d := diffUser(got, want); d != "" {
			t.Errorf("ByUsername differs:\n%s", d)
		}
	})

	run(t, setup, "a new user round-trips", func(t *testing.T, s Stores) {
		want := createUser(t, s)
		got, err := s.Users.ByID(t.Context(), want.ID())
		mustNotFail(t, "ByID", err)
		if d := diffUser(got, want); d != "" {
			t.Errorf("ByID differs:\n%s", d)
		}
	})

	run(t, setup, "duplicate email is ErrEmailTaken, whatever its case", func(t *testing.T, s Stores) {
		ctx := t.Context()
		n := unique()
		first := newUserWith(t, "dup"+n+"@example.com", "first"+n)
		mustNotFail(t, "Create first", s.Users.Create(ctx, first))
		for _, email := range []string{"dup" + n + "@example.com", "DUP" + n + "@Example.COM"} {
			second := newUserWith(t, email, "second"+unique())
			wantErr(t, "Create "+email, s.Users.Create(ctx, second), user.ErrEmailTaken)
			_, err := s.Users.ByID(ctx, second.ID())
			wantErr(t, "ByID of the rejected user", err, user.ErrNotFound)
		}
	})

	run(t, setup, "duplicate username is ErrUsernameTaken, whatever its case", func(t *testing.T, s Stores) {
		ctx := t.Context()
		n := unique()
		first := newUserWith(t, "a"+n+"@example.com", "taken"+n)
		mustNotFail(t, "Create first", s.Users.Create(ctx, first))
		second := newUserWith(t, "b"+n+"@example.com", "TAKEN"+n)
		wantErr(t, "Create", s.Users.Create(ctx, second), user.ErrUsernameTaken)
		_, err := s.Users.ByEmail(ctx, second.Email())
		wantErr(t, "ByEmail of the rejected user", err, user.ErrNotFound)
	})

	run(t, setup, "of 20 concurrent Creates of one email exactly one succeeds", func(t *testing.T, s Stores) {
		ctx := t.Context()
		email := "race" + unique() + "@example.com"
		const n = 20
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			u := newUserWith(t, email, "racer"+unique())
			wg.Go(func() { errs[i] = s.Users.Create(ctx, u) })
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, user.ErrEmailTaken):
				t.Errorf("Create %d: got %v, want nil or ErrEmailTaken", i, err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d Creates succeeded, want exactly 1", ok)
		}
		if _, err := s.Users.ByEmail(ctx, email); err != nil {
			t.Fatalf("ByEmail: %v", err)
		}
	})

	run(t, setup, "20 concurrent Creates of distinct users all succeed", func(t *testing.T, s Stores) {
		ctx := t.Context()
		const n = 20
		users := make([]user.User, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			users[i] = newUser(t)
			wg.Go(func() { errs[i] = s.Users.Create(ctx, users[i]) })
		}
		wg.Wait()
		for i, err := range errs {
			mustNotFail(t, fmt.Sprintf("Create %d", i), err)
			if _, err := s.Users.ByID(ctx, users[i].ID()); err != nil {
				t.Fatalf("ByID %d: %v", i, err)
			}
		}
	})

	run(t, setup, "unknown users are ErrNotFound", func(t *testing.T, s Stores) {
		ctx := t.Context()
		createUser(t, s)
		_, err := s.Users.ByID(ctx, user.ID(newID(t)))
		wantErr(t, "ByID", err, user.ErrNotFound)
		_, err = s.Users.ByEmail(ctx, "nobody@example.com")
		wantErr(t, "ByEmail", err, user.ErrNotFound)
		_, err = s.Users.ByUsername(ctx, "nobody")
		wantErr(t, "ByUsername", err, user.ErrNotFound)
		called := false
		_, err = s.Users.Update(ctx, user.ID(newID(t)), func(*user.User) error { called = true; return nil })
		wantErr(t, "Update", err, user.ErrNotFound)
		if called {
			t.Error("Update called fn for an unknown user")
		}
	})

	run(t, setup, "Update applies fn and persists the result", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		t1 := t0.Add(time.Hour + time.Microsecond)
		name := "Renamed User"
		avatar, locale, zone := "https://cdn.example.com/r.png", "pt-BR", "America/Sao_Paulo"
		got, err := s.Users.Update(ctx, u.ID(), func(u *user.User) error {
			if err := u.GrantRole(user.RoleAdmin, t1); err != nil {
				return err
			}
			u.MarkEmailVerified(t1)
			_, err := u.UpdateProfile(user.ProfileUpdate{DisplayName: &name, AvatarURL: &avatar, Locale: &locale, TimeZone: &zone,
				Preferences: user.Preferences{"theme": "light", "nested": map[string]any{"a": []any{1.0, "b"}}}}, t1)
			return err
		})
		mustNotFail(t, "Update", err)
		if !got.HasRole(user.RoleAdmin) || !got.EmailVerified() || got.DisplayName() != name ||
			got.AvatarURL() != avatar || got.Locale() != locale || got.TimeZone() != zone ||
			!got.UpdatedAt().Equal(t1) || got.Version() <= u.Version() {
			t.Fatalf("Update returned %+v: fn's changes are missing", got.Snapshot())
		}
		stored, err := s.Users.ByID(ctx, u.ID())
		mustNotFail(t, "ByID", err)
		if d := diffUser(stored, got); d != "" {
			t.Errorf("stored user differs from Update's result:\n%s", d)
		}
	})

	run(t, setup, "an error from fn aborts Update and is returned", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		_, err := s.Users.Update(ctx, u.ID(), func(u *user.User) error {
			if err := u.GrantRole(user.RoleAdmin, t0.Add(time.Hour)); err != nil {
				return err
			}
			return errBoom
		})
		wantErr(t, "Update", err, errBoom)
		stored, err := s.Users.ByID(ctx, u.ID())
		mustNotFail(t, "ByID", err)
		if d := diffUser(stored, u); d != "" {
			t.Errorf("an aborted Update changed the user:\n%s", d)
		}
	})

	run(t, setup, "concurrent Updates lose no write", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		const n = 10
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = s.Users.Update(ctx, u.ID(), func(u *user.User) error {
					return u.GrantRole(fmt.Sprintf("role_%d", i), t0.Add(time.Duration(i+1)*time.Second))
				})
			})
		}
		wg.Wait()
		for i, err := range errs {
			mustNotFail(t, fmt.Sprintf("Update %d", i), err)
		}
		got, err := s.Users.ByID(ctx, u.ID())
		mustNotFail(t, "ByID", err)
		for i := range n {
			if r := fmt.Sprintf("role_%d", i); !got.HasRole(r) {
				t.Errorf("role %s is missing: a concurrent Update lost it (roles %v)", r, got.Roles())
			}
		}
		if got.Version() != u.Version()+n {
			t.Errorf("version %d, want %d", got.Version(), u.Version()+n)
		}
	})
}
