package adaptertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
)

// Transactor is the contract of ports.Transactor over every repository.
func Transactor(t *testing.T, setup Setup) {
	const h1 = credential.PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$b2xkc2FsdA$b2xkaGFzaA")
	const h2 = credential.PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA")

	// writeAll writes through every repository inside ctx: a new user with a
	// password, session and event, plus changes to the existing user u0 and
	// its session s0.
	type written struct {
		u    user.User
		s    session.Session
		e    event.Event
		role string
	}
	writeAll := func(ctx context.Context, t *testing.T, s Stores, u0 user.User, s0 session.Session) (written, error) {
		t.Helper()
		w := written{u: newUser(t), role: "tx_role"}
		if err := s.Users.Create(ctx, w.u); err != nil {
			return w, err
		}
		if err := s.Credentials.SetPasswordHash(ctx, w.u.ID(), h1, t0); err != nil {
			return w, err
		}
		w.s, _ = newSession(t, w.u.ID(), t0)
		if err := s.Sessions.Create(ctx, w.s); err != nil {
			return w, err
		}
		w.e = newEvent(t, string(w.u.ID()), t0)
		if err := s.Outbox.Append(ctx, w.e); err != nil {
			return w, err
		}
		if _, err := s.Users.Update(ctx, u0.ID(), func(u *user.User) error { return u.GrantRole(w.role, t0.Add(time.Hour)) }); err != nil {
			return w, err
		}
		if err := s.Credentials.SetPasswordHash(ctx, u0.ID(), h2, t0.Add(time.Hour)); err != nil {
			return w, err
		}
		if _, err := s.Sessions.Revoke(ctx, s0.ID, session.ReasonManual, t0.Add(time.Hour)); err != nil {
			return w, err
		}
		return w, nil
	}
	// seed creates u0 (password h1) and its session s0 outside any transaction.
	seed := func(t *testing.T, s Stores) (user.User, session.Session) {
		t.Helper()
		u0 := createUser(t, s)
		mustNotFail(t, "SetPasswordHash", s.Credentials.SetPasswordHash(t.Context(), u0.ID(), h1, t0))
		s0, _ := createSession(t, s, u0.ID(), t0)
		return u0, s0
	}
	checkCommitted := func(t *testing.T, s Stores, w written, u0 user.User, s0 session.Session) {
		t.Helper()
		ctx := t.Context()
		_, err := s.Users.ByID(ctx, w.u.ID())
		mustNotFail(t, "ByID of the new user", err)
		h, err := s.Credentials.PasswordHash(ctx, w.u.ID())
		if err != nil || h != h1 {
			t.Errorf("PasswordHash of the new user = %q, %v; want %q", h, err, h1)
		}
		_, err = s.Sessions.ByID(ctx, w.s.ID)
		mustNotFail(t, "Sessions.ByID of the new session", err)
		recs, err := peek(ctx, s, 10)
		mustNotFail(t, "Claim", err)
		checkClaimed(t, recs, nil, w.e)
		u, err := s.Users.ByID(ctx, u0.ID())
		mustNotFail(t, "ByID of u0", err)
		if !u.HasRole(w.role) {
			t.Errorf("u0's update was not committed: roles %v", u.Roles())
		}
		if h, err := s.Credentials.PasswordHash(ctx, u0.ID()); err != nil || h != h2 {
			t.Errorf("u0's password hash = %q, %v; want %q", h, err, h2)
		}
		if got, err := s.Sessions.ByID(ctx, s0.ID); err != nil || !got.Revoked() {
			t.Errorf("s0 revoked = %v, %v; want revoked", got.Revoked(), err)
		}
	}
	checkRolledBack := func(t *testing.T, s Stores, w written, u0 user.User, s0 session.Session) {
		t.Helper()
		ctx := t.Context()
		_, err := s.Users.ByID(ctx, w.u.ID())
		wantErr(t, "ByID of the rolled-back user", err, user.ErrNotFound)
		_, err = s.Users.ByEmail(ctx, w.u.Email())
		wantErr(t, "ByEmail of the rolled-back user", err, user.ErrNotFound)
		_, err = s.Credentials.PasswordHash(ctx, w.u.ID())
		wantErr(t, "PasswordHash of the rolled-back user", err, credential.ErrNoPassword)
		_, err = s.Sessions.ByID(ctx, w.s.ID)
		wantErr(t, "Sessions.ByID of the rolled-back session", err, session.ErrNotFound)
		recs, err := peek(ctx, s, 10)
		mustNotFail(t, "Claim", err)
		checkClaimed(t, recs, nil)
		u, err := s.Users.ByID(ctx, u0.ID())
		mustNotFail(t, "ByID of u0", err)
		if d := diffUser(u, u0); d != "" {
			t.Errorf("u0 changed although the transaction rolled back:\n%s", d)
		}
		if h, err := s.Credentials.PasswordHash(ctx, u0.ID()); err != nil || h != h1 {
			t.Errorf("u0's password hash = %q, %v; want the original %q", h, err, h1)
		}
		got, err := s.Sessions.ByID(ctx, s0.ID)
		mustNotFail(t, "Sessions.ByID of s0", err)
		if d := diffSession(got, s0); d != "" {
			t.Errorf("s0 changed although the transaction rolled back:\n%s", d)
		}
		// The rolled-back email and username are free again.
		mustNotFail(t, "Create of the rolled-back user", s.Users.Create(ctx, w.u))
	}

	run(t, setup, "commit keeps the writes of every repository", func(t *testing.T, s Stores) {
		u0, s0 := seed(t, s)
		var w written
		err := s.Tx.WithinTx(t.Context(), func(ctx context.Context) error {
			var err error
			w, err = writeAll(ctx, t, s, u0, s0)
			return err
		})
		mustNotFail(t, "WithinTx", err)
		checkCommitted(t, s, w, u0, s0)
	})

	run(t, setup, "an error rolls back the writes of every repository", func(t *testing.T, s Stores) {
		u0, s0 := seed(t, s)
		var w written
		err := s.Tx.WithinTx(t.Context(), func(ctx context.Context) error {
			var err error
			if w, err = writeAll(ctx, t, s, u0, s0); err != nil {
				t.Errorf("writes inside the transaction: %v", err)
			}
			return errBoom
		})
		wantErr(t, "WithinTx", err, errBoom)
		checkRolledBack(t, s, w, u0, s0)
	})

	run(t, setup, "a nested WithinTx joins the outer transaction", func(t *testing.T, s Stores) {
		u0, s0 := seed(t, s)
		var w written
		err := s.Tx.WithinTx(t.Context(), func(ctx context.Context) error {
			return s.Tx.WithinTx(ctx, func(ctx context.Context) error {
				var err error
				w, err = writeAll(ctx, t, s, u0, s0)
				return err
			})
		})
		mustNotFail(t, "WithinTx", err)
		checkCommitted(t, s, w, u0, s0)
	})

	run(t, setup, "an error in a nested WithinTx rolls back the outer writes too", func(t *testing.T, s Stores) {
		u0, s0 := seed(t, s)
		var w written
		outer := newUser(t)
		err := s.Tx.WithinTx(t.Context(), func(ctx context.Context) error {
			if err := s.Users.Create(ctx, outer); err != nil {
				return err
			}
			return s.Tx.WithinTx(ctx, func(ctx context.Context) error {
				var err error
				if w, err = writeAll(ctx, t, s, u0, s0); err != nil {
					t.Errorf("writes inside the nested transaction: %v", err)
				}
				return errBoom
			})
		})
		wantErr(t, "WithinTx", err, errBoom)
		_, err = s.Users.ByID(t.Context(), outer.ID())
		wantErr(t, "ByID of the outer transaction's user", err, user.ErrNotFound)
		checkRolledBack(t, s, w, u0, s0)
	})

	run(t, setup, "reads inside a transaction see its writes", func(t *testing.T, s Stores) {
		u := newUser(t)
		err := s.Tx.WithinTx(t.Context(), func(ctx context.Context) error {
			if err := s.Users.Create(ctx, u); err != nil {
				return err
			}
			got, err := s.Users.ByEmail(ctx, u.Email())
			if err != nil {
				return err
			}
			if got.ID() != u.ID() {
				return errors.New("ByEmail inside the transaction found another user")
			}
			if err := s.Credentials.SetPasswordHash(ctx, u.ID(), h1, t0); err != nil {
				return err
			}
			if h, err := s.Credentials.PasswordHash(ctx, u.ID()); err != nil || h != h1 {
				return errors.Join(errors.New("PasswordHash inside the transaction"), err)
			}
			return nil
		})
		mustNotFail(t, "WithinTx", err)
	})

	run(t, setup, "a rejected Create leaves the transaction usable", func(t *testing.T, s Stores) {
		taken := createUser(t, s)
		before, after := newUser(t), newUser(t)
		err := s.Tx.WithinTx(t.Context(), func(ctx context.Context) error {
			if err := s.Users.Create(ctx, before); err != nil {
				return err
			}
			err := s.Users.Create(ctx, newUserWith(t, taken.Email(), "other"+unique()))
			if !errors.Is(err, user.ErrEmailTaken) {
				return errors.Join(errors.New("create of a taken email did not fail with ErrEmailTaken"), err)
			}
			err = s.Users.Create(ctx, newUserWith(t, "other"+unique()+"@example.com", taken.Username()))
			if !errors.Is(err, user.ErrUsernameTaken) {
				return errors.Join(errors.New("create of a taken username did not fail with ErrUsernameTaken"), err)
			}
			if err := s.Users.Create(ctx, after); err != nil {
				return err
			}
			_, err = s.Users.Update(ctx, after.ID(), func(u *user.User) error { return u.GrantRole("late", t0.Add(time.Hour)) })
			return err
		})
		mustNotFail(t, "WithinTx", err)
		for _, u := range []user.User{before, after} {
			_, err := s.Users.ByID(t.Context(), u.ID())
			mustNotFail(t, "ByID after commit", err)
		}
	})

	run(t, setup, "a domain error inside the transaction comes back as is", func(t *testing.T, s Stores) {
		u := createUser(t, s)
		err := s.Tx.WithinTx(t.Context(), func(ctx context.Context) error {
			return s.Users.Create(ctx, newUserWith(t, u.Email(), "other"+unique()))
		})
		wantErr(t, "WithinTx", err, user.ErrEmailTaken)
	})
}
