package adaptertest

import (
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
}
