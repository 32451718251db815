package sqlstore_test

import (
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/adapters/sqlstore"
	"github.com/usermgmt/usermgmt/adapters/sqlstore/sqlstoretest"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
)

var benchUsers atomic.Int64

// BenchmarkRotate measures the refresh hot path: every goroutine rotates
// its own session's token over and over (one UPDATE ... RETURNING each).
func BenchmarkRotate(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchmarkRotate(b, sqlstoretest.SQLite(b)) })
	b.Run("postgres", func(b *testing.B) { benchmarkRotate(b, sqlstoretest.Postgres(b)) })
}

func benchmarkRotate(b *testing.B, db *sqlstore.DB) {
	users, sessions := sqlstore.NewUsers(db), sqlstore.NewSessions(db)
	policy := session.Policy{AbsoluteLifetime: 24 * time.Hour, IdleTimeout: 24 * time.Hour}
	now := time.Now().UTC().Truncate(time.Microsecond)
	b.SetParallelism(16) // requests wait on the network and the disk, not the CPU
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		u, err := user.New(user.ID(rand.Text()), fmt.Sprintf("bench%d@example.com", benchUsers.Add(1)), fmt.Sprintf("bench%d", benchUsers.Add(1)), "", now)
		if err != nil {
			b.Error(err)
			return
		}
		if err := users.Create(b.Context(), u); err != nil {
			b.Error(err)
			return
		}
		s, tok := session.New(session.ID(rand.Text()), u.ID(), []byte(rand.Text()), session.Client{}, []string{"pwd"}, policy, now)
		if err := sessions.Create(b.Context(), s); err != nil {
			b.Error(err)
			return
		}
		nonce := make([]byte, 16)
		for pb.Next() {
			_, _ = rand.Read(nonce)
			rot, next := session.PlanRotation(tok, nonce, session.Client{IP: "192.0.2.1"}, policy, now)
			if _, _, err := sessions.Rotate(b.Context(), rot); err != nil {
				b.Error(err)
				return
			}
			tok = next
		}
	})
}
