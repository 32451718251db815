package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Seed users are numbered 0 to n-1; number i always gets the same id,
// email, username and attributes, so seeding again skips what is there.
//
// The database computes every row from its number (a series joined to
// multiplicative hashes), so one statement inserts a whole batch and no
// row crosses the wire. Attributes spread like a real directory's: 85%
// active, 10% inactive, 5% deleted; 1% admins, 5% support; 20% with MFA;
// 70% verified; 20% never signed in, the others within a year of joining;
// creation times every 90 s in threes that tie; 40 first and 40 last
// names, some with non-ASCII letters (lower-case ones only, so SQLite's
// ASCII lower() folds them as Go does).
const (
	seedFirstNames = `["Ada","Alan","Grace","Linus","Margaret","Ken","Dennis","Barbara","Edsger","Donald",` +
		`"Frances","John","Radia","Tim","Vint","Hedy","Niklaus","Bjarne","Guido","Anders",` +
		`"Sophie","Katherine","Dorothy","Jean","Mary","Annie","Evelyn","Joan","Lynn","Shafi",` +
		`"Zoë","José","Renée","André","Chloé","Noël","Inés","Jürgen","Søren","Björn"]`
	seedLastNames = `["Lovelace","Turing","Hopper","Torvalds","Hamilton","Thompson","Ritchie","Liskov","Dijkstra","Knuth",` +
		`"Allen","McCarthy","Perlman","Berners-Lee","Cerf","Lamarr","Wirth","Stroustrup","van Rossum","Hejlsberg",` +
		`"Wilson","Johnson","Vaughan","Bartik","Keller","Easley","Berson","Clarke","Conway","Goldwasser",` +
		`"Smith","Müller","García","Núñez","Dubois","Martín","Sørensen","Kowalski","Nakamura","Okafor"]`
	seedDomains = `["example.com","example.org","mail.test","corp.example"]`
	// seedEpoch is when seed user 0 joined (2023-01-01T00:00:00Z), in Unix seconds.
	seedEpoch = 1672531200
)

// seedRoles gives 1% of seed users the admin role and 5% support.
const seedRoles = `CASE WHEN b / 128 % 100 = 0 THEN '["user","admin"]' WHEN b / 128 % 100 < 6 THEN '["user","support"]' ` +
	`ELSE '["user"]' END`

// seedBatch is how many users one statement inserts.
const (
	seedBatchPostgres = 50_000
	seedBatchSQLite   = 10_000
)

// seedSQL returns the statements of one batch, for numbers ? to ?
// (inclusive): how many of its users exist, insert them, insert their
// credentials (password hash and time as two more arguments).
func seedSQL(postgres bool) (count, insertUsers, insertCredentials string) {
	// Dialect pieces: a series, a JSON array element, a time from Unix
	// seconds, a zero-padded 12-digit hex number.
	series := `WITH RECURSIVE g(n) AS (SELECT CAST(? AS INTEGER) UNION ALL SELECT n + 1 FROM g WHERE n < CAST(? AS INTEGER))`
	elem := func(arr, i string) string { return `json_extract('` + arr + `', '$[' || (` + i + `) || ']')` }
	ts := func(sec string) string { return `(` + sec + `) * 1000000` }
	hex12 := func(x string) string { return `printf('%012x', ` + x + `)` }
	sep := `char(1)`
	jsonCast := func(x string) string { return x }
	if postgres {
		jsonCast = func(x string) string { return `(` + x + `)::jsonb` }
		series = `WITH g(n) AS (SELECT generate_series(?::bigint, ?::bigint))`
		elem = func(arr, i string) string { return `('` + arr + `'::jsonb ->> (` + i + `)::int)` }
		ts = func(sec string) string { return `to_timestamp(` + sec + `)` }
		hex12 = func(x string) string { return `lpad(to_hex(` + x + `), 12, '0')` }
		sep = `chr(1)`
	}
	// a, b and c are three independent-looking 16-bit hashes of n.
	rows := series + `,
h AS (
	SELECT n,
		(n * 2654435761) % 4294967296 / 65536 AS a,
		(n * 2246822519) % 4294967296 / 65536 AS b,
		(n * 3266489917) % 4294967296 / 65536 AS c,
		` + fmt.Sprint(seedEpoch) + ` + n / 3 * 90 AS joined
	FROM g
),
v AS (
	SELECT n, a, b, c, joined,
		substr(` + hex12("joined * 1000") + `, 1, 8) || '-' || substr(` + hex12("joined * 1000") + `, 9, 4) ||
			'-7000-8000-' || ` + hex12("n") + ` AS id,
		'seed.' || n || '@' || ` + elem(seedDomains, "c % 4") + ` AS email,
		'seed_' || n AS username,
		` + elem(seedFirstNames, "a % 40") + ` || ' ' || ` + elem(seedLastNames, "b % 40") + ` AS display_name
	FROM h
)`
	count = rows + `
SELECT count(*) FROM users WHERE id IN (SELECT id FROM v)`
	// WHERE true: SQLite needs it to tell ON CONFLICT from a join clause.
	insertUsers = rows + `
INSERT INTO users (id, email, username, display_name, status, roles, email_verified, mfa_enabled,
	preferences, created_at, updated_at, version, search_text, last_login_at, deleted_at)
SELECT id, email, username, display_name,
	CASE WHEN a / 128 % 20 < 17 THEN 'active' WHEN a / 128 % 20 < 19 THEN 'inactive' ELSE 'deleted' END,
	` + jsonCast(seedRoles) + `,
	c / 8 % 10 < 7, c / 128 % 5 = 0, '{}', ` + ts("joined") + `, ` + ts("joined") + `, 1,
	email || ` + sep + ` || username || ` + sep + ` || lower(display_name),
	CASE WHEN b / 8 % 5 = 0 THEN NULL ELSE ` + ts("joined + (a * 977 + b) % 31536000") + ` END,
	CASE WHEN a / 128 % 20 < 19 THEN NULL ELSE ` + ts("joined") + ` END
FROM v WHERE true
ON CONFLICT DO NOTHING`
	insertCredentials = rows + `
INSERT INTO credentials (user_id, password_hash, updated_at)
SELECT u.id, ?, ? FROM users u WHERE u.id IN (SELECT id FROM v)
ON CONFLICT DO NOTHING`
	return count, insertUsers, insertCredentials
}

// SeedUsers makes sure synthetic users 0 to n-1 exist, each with the
// password hash passwordHash, for benchmarks and load tests: batches of
// tens of thousands, one transaction each, skipping a batch that is all
// there already and any single user that is (so a run that was stopped
// resumes, and a second run adds nothing). progress, if not nil, is told
// how many numbers are done after each batch. It ends with ANALYZE, so
// the planner knows the table it just grew.
func SeedUsers(ctx context.Context, db *DB, n int, passwordHash string, progress func(done int)) error {
	batch := seedBatchSQLite
	if db.postgres() {
		batch = seedBatchPostgres
	}
	return seedUsers(ctx, db, n, passwordHash, progress, batch)
}

func seedUsers(ctx context.Context, db *DB, n int, passwordHash string, progress func(done int), batch int) error {
	if n < 0 {
		return errors.New("sqlstore: SeedUsers: n must not be negative")
	}
	if strings.TrimSpace(passwordHash) == "" {
		return errors.New("sqlstore: SeedUsers: a password hash is required")
	}
	count, insertUsers, insertCredentials := seedSQL(db.postgres())
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n) - 1
		var have int
		if err := db.r.NewRaw(count, lo, hi).Scan(ctx, &have); err != nil {
			return fmt.Errorf("sqlstore: seed users %d to %d: count: %w", lo, hi, err)
		}
		if have < hi-lo+1 {
			err := db.runInTx(ctx, func(ctx context.Context) error {
				tx, _ := db.tx(ctx)
				if _, err := tx.NewRaw(insertUsers, lo, hi).Exec(ctx); err != nil {
					return fmt.Errorf("sqlstore: seed users %d to %d: %w", lo, hi, err)
				}
				if _, err := tx.NewRaw(insertCredentials, lo, hi, passwordHash, at(time.Unix(seedEpoch, 0))).Exec(ctx); err != nil {
					return fmt.Errorf("sqlstore: seed credentials of users %d to %d: %w", lo, hi, err)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if progress != nil {
			progress(hi + 1)
		}
	}
	if _, err := db.w.ExecContext(ctx, "ANALYZE"); err != nil {
		return fmt.Errorf("sqlstore: seed users: analyze: %w", err)
	}
	return nil
}
