package adaptertest

import (
	"context"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/core/credential"
)

// Credentials is the contract of ports.Credentials.
func Credentials(t *testing.T, setup Setup) {
	run(t, setup, "a user without a password is ErrNoPassword", func(t *testing.T, s Stores) {
		u := createUser(t, s)
		_, err := s.Credentials.PasswordHash(t.Context(), u.ID())
		wantErr(t, "PasswordHash", err, credential.ErrNoPassword)
	})

	run(t, setup, "set, get and replace", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u, other := createUser(t, s), createUser(t, s)
		const h1 = credential.PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo")
		const h2 = credential.PasswordHash("$argon2id$v=19$m=65536,t=3,p=2$bmV3c2FsdA$bmV3aGFzaG5ld2hhc2g")
		mustNotFail(t, "SetPasswordHash", s.Credentials.SetPasswordHash(ctx, u.ID(), h1, t0))
		got, err := s.Credentials.PasswordHash(ctx, u.ID())
		mustNotFail(t, "PasswordHash", err)
		if got != h1 {
			t.Fatalf("PasswordHash = %q, want %q", got, h1)
		}
		mustNotFail(t, "SetPasswordHash (replace)", s.Credentials.SetPasswordHash(ctx, u.ID(), h2, t0.Add(time.Hour)))
		got, err = s.Credentials.PasswordHash(ctx, u.ID())
		mustNotFail(t, "PasswordHash", err)
		if got != h2 {
			t.Fatalf("after replace PasswordHash = %q, want %q", got, h2)
		}
		_, err = s.Credentials.PasswordHash(ctx, other.ID())
		wantErr(t, "PasswordHash of another user", err, credential.ErrNoPassword)
	})

	run(t, setup, "the recovery mark survives a rehash, clears, and rolls back", func(t *testing.T, s Stores) {
		ctx := t.Context()
		u := createUser(t, s)
		wantErr(t, "SetRecovered without a password", s.Credentials.SetRecovered(ctx, u.ID(), t0), credential.ErrNoPassword)
		const h = credential.PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo")
		mustNotFail(t, "SetPasswordHash", s.Credentials.SetPasswordHash(ctx, u.ID(), h, t0))
		if got, err := s.Credentials.Recovered(ctx, u.ID()); err != nil || !got.IsZero() {
			t.Fatalf("Recovered before any = %v, %v", got, err)
		}
		mustNotFail(t, "SetRecovered", s.Credentials.SetRecovered(ctx, u.ID(), t0))
		mustNotFail(t, "SetPasswordHash (a rehash)", s.Credentials.SetPasswordHash(ctx, u.ID(), h, t0.Add(time.Minute)))
		if got, _ := s.Credentials.Recovered(ctx, u.ID()); !sameTime(got, t0) {
			t.Fatalf("Recovered after a rehash = %v, want %v", got, t0)
		}
		err := s.Tx.WithinTx(ctx, func(ctx context.Context) error {
			if err := s.Credentials.SetRecovered(ctx, u.ID(), time.Time{}); err != nil {
				return err
			}
			return errBoom
		})
		wantErr(t, "WithinTx", err, errBoom)
		if got, _ := s.Credentials.Recovered(ctx, u.ID()); !sameTime(got, t0) {
			t.Fatalf("Recovered after a rollback = %v", got)
		}
		mustNotFail(t, "clear", s.Credentials.SetRecovered(ctx, u.ID(), time.Time{}))
		if got, _ := s.Credentials.Recovered(ctx, u.ID()); !got.IsZero() {
			t.Fatalf("Recovered after clearing = %v", got)
		}
	})
}
