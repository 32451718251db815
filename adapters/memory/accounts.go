package memory

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

var (
	_ ports.AccountImports = (*Users)(nil)
	_ ports.UserEraser     = (*Users)(nil)
)

// Matching returns the users with one of the ids, emails or usernames.
func (r *Users) Matching(ctx context.Context, ids []user.ID, emails, usernames []string) ([]user.User, error) {
	want := map[string]bool{}
	for _, id := range ids {
		want["i"+string(id)] = true
	}
	for _, e := range emails {
		want["e"+strings.ToLower(strings.TrimSpace(e))] = true
	}
	for _, n := range usernames {
		want["u"+strings.ToLower(strings.TrimSpace(n))] = true
	}
	defer r.s.lock(ctx)()
	var out []user.User
	for _, x := range r.s.users {
		if want["i"+string(x.snap.ID)] || want["e"+x.snap.Email] || want["u"+x.snap.Username] {
			u, err := fromUserRow(x)
			if err != nil {
				return nil, err
			}
			out = append(out, u)
		}
	}
	return out, nil
}

// CreateAccounts stores every account or, on a conflict, none.
func (r *Users) CreateAccounts(ctx context.Context, accounts []ports.ImportedAccount) error {
	rows := make([]*userRow, len(accounts))
	for i, a := range accounts {
		row, err := toUserRow(a.User)
		if err != nil {
			return err
		}
		rows[i] = row
	}
	defer r.s.lock(ctx)()
	ids, emails, names := map[user.ID]bool{}, map[string]bool{}, map[string]bool{}
	for _, row := range rows {
		s := row.snap
		switch {
		case r.s.users[string(s.ID)] != nil || ids[s.ID]:
			return user.ErrIDTaken
		case emails[s.Email]:
			return user.ErrEmailTaken
		case names[s.Username]:
			return user.ErrUsernameTaken
		}
		if err := r.conflict(row, string(s.ID)); err != nil {
			return err
		}
		ids[s.ID], emails[s.Email], names[s.Username] = true, true, true
	}
	for i, row := range rows {
		id := string(row.snap.ID)
		r.s.users[id] = row
		r.s.credentials[id] = credentialRow{hash: accounts[i].PasswordHash, updatedAt: row.snap.UpdatedAt}
	}
	onRollback(ctx, func() {
		for _, row := range rows {
			delete(r.s.users, string(row.snap.ID))
			delete(r.s.credentials, string(row.snap.ID))
		}
	})
	return nil
}

// EraseDeleted removes users deleted before before, oldest deletion first,
// with what the databases remove by cascade.
func (r *Users) EraseDeleted(ctx context.Context, before time.Time, limit int) ([]user.User, error) {
	defer r.s.lock(ctx)()
	var due []*userRow
	for _, x := range r.s.users {
		if x.snap.Status == user.StatusDeleted.String() && x.snap.DeletedAt.Before(before) {
			due = append(due, x)
		}
	}
	slices.SortFunc(due, func(a, b *userRow) int {
		if c := a.snap.DeletedAt.Compare(b.snap.DeletedAt); c != 0 {
			return c
		}
		return strings.Compare(string(a.snap.ID), string(b.snap.ID))
	})
	due = due[:min(len(due), max(limit, 0))]
	out := make([]user.User, 0, len(due))
	for _, x := range due {
		u, err := fromUserRow(x)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	for _, x := range due {
		r.s.erase(ctx, x.snap.ID)
	}
	return out, nil
}

// erase deletes the user and every row that references it, as the
// databases' ON DELETE CASCADE does, and registers the undo.
func (s *Store) erase(ctx context.Context, uid user.ID) {
	id := string(uid)
	users, creds, last, act := s.users[id], s.credentials[id], s.lastLogin[id], s.activities[id]
	_, hadCreds := s.credentials[id]
	_, hadLast := s.lastLogin[id]
	_, hadAct := s.activities[id]
	sessions := maps.Clone(s.sessions)
	tokens := maps.Clone(s.tokens)
	factors, enrollments := maps.Clone(s.factors), maps.Clone(s.enrollments)
	codes, hadCodes := s.backupCodes[uid]
	challenges := maps.Clone(s.challenges)

	delete(s.users, id)
	delete(s.credentials, id)
	delete(s.lastLogin, id)
	delete(s.activities, id)
	delete(s.backupCodes, uid)
	maps.DeleteFunc(s.sessions, func(_ string, x *sessionRow) bool { return x.s.UserID == uid })
	maps.DeleteFunc(s.tokens, func(_ string, t tokenRow) bool { return t.uid == uid })
	maps.DeleteFunc(s.factors, func(k factorKey, _ mfa.Factor) bool { return k.uid == uid })
	maps.DeleteFunc(s.enrollments, func(k factorKey, _ mfa.Enrollment) bool { return k.uid == uid })
	maps.DeleteFunc(s.challenges, func(_ session.TokenHash, c mfa.Challenge) bool { return c.UserID == uid })
	onRollback(ctx, func() {
		s.users[id] = users
		restore(s.credentials, id, creds, hadCreds)
		restore(s.lastLogin, id, last, hadLast)
		restore(s.activities, id, act, hadAct)
		restore(s.backupCodes, uid, codes, hadCodes)
		s.sessions, s.tokens, s.factors, s.enrollments, s.challenges = sessions, tokens, factors, enrollments, challenges
	})
}

// restore puts v back under k in m if it was there.
func restore[K comparable, V any](m map[K]V, k K, v V, had bool) {
	if had {
		m[k] = v
	}
}
