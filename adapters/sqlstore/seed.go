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
// creation times every 90 s in threes that tie. Names come from 40 first
// and 40 last names, some with non-ASCII letters (lower-case ones only, so
// SQLite's ASCII lower() folds them as Go does), spelt in ASCII in the
// email and username. The number in the email and username is a hash of
// the seed number, not the number itself: were it the number, whose order
// is the order of creation, a search for "_5" would find a block of users
// created together, a correlation real directories rarely have and that
// would mislead a benchmark.
const (
	seedFirstNames = `[["Ada","ada"],["Alan","alan"],["Grace","grace"],["Linus","linus"],["Margaret","margaret"],` +
		`["Ken","ken"],["Dennis","dennis"],["Barbara","barbara"],["Edsger","edsger"],["Donald","donald"],` +
		`["Frances","frances"],["John","john"],["Radia","radia"],["Tim","tim"],["Vint","vint"],` +
		`["Hedy","hedy"],["Niklaus","niklaus"],["Bjarne","bjarne"],["Guido","guido"],["Anders","anders"],` +
		`["Sophie","sophie"],["Katherine","katherine"],["Dorothy","dorothy"],["Jean","jean"],["Mary","mary"],` +
		`["Annie","annie"],["Evelyn","evelyn"],["Joan","joan"],["Lynn","lynn"],["Shafi","shafi"],` +
		`["Zoë","zoe"],["José","jose"],["Renée","renee"],["André","andre"],["Chloé","chloe"],` +
		`["Noël","noel"],["Inés","ines"],["Jürgen","juergen"],["Søren","soeren"],["Björn","bjoern"]]`
	seedLastNames = `[["Lovelace","lovelace"],["Turing","turing"],["Hopper","hopper"],["Torvalds","torvalds"],` +
		`["Hamilton","hamilton"],["Thompson","thompson"],["Ritchie","ritchie"],["Liskov","liskov"],` +
		`["Dijkstra","dijkstra"],["Knuth","knuth"],["Allen","allen"],["McCarthy","mccarthy"],` +
		`["Perlman","perlman"],["Berners-Lee","berners-lee"],["Cerf","cerf"],["Lamarr","lamarr"],` +
		`["Wirth","wirth"],["Stroustrup","stroustrup"],["van Rossum","vanrossum"],["Hejlsberg","hejlsberg"],` +
		`["Wilson","wilson"],["Johnson","johnson"],["Vaughan","vaughan"],["Bartik","bartik"],` +
		`["Keller","keller"],["Easley","easley"],["Berson","berson"],["Clarke","clarke"],` +
		`["Conway","conway"],["Goldwasser","goldwasser"],["Smith","smith"],["Müller","mueller"],` +
		`["García","garcia"],["Núñez","nunez"],["Dubois","dubois"],["Martín","martin"],` +
		`["Sørensen","soerensen"],["Kowalski","kowalski"],["Nakamura","nakamura"],["Okafor","okafor"]]`
	seedDomains = `["example.com","example.org","mail.test","corp.example"]`
	// seedEpoch is when seed user 0 joined (2023-01-01T00:00:00Z), in Unix seconds.
	seedEpoch = 1672531200
	// seedMax bounds n: the public number, a multiplicative hash modulo
	// 2^32, is unique below it.
	seedMax = 1 << 32
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
	// Dialect pieces: a series, an element of a JSON array (of arrays), a
	// time from Unix seconds, a zero-padded 12-digit hex number.
	series := `WITH RECURSIVE g(n) AS (SELECT CAST(? AS INTEGER) UNION ALL SELECT n + 1 FROM g WHERE n < CAST(? AS INTEGER))`
	elem := func(arr, path string) string { return `json_extract('` + arr + `', '$[' || ` + path + ` || ']')` }
	pair := func(arr, i string, j int) string { return elem(arr, `(`+i+`) || '][`+fmt.Sprint(j)+`'`) }
	ts := func(sec string) string { return `(` + sec + `) * 1000000` }
	hex12 := func(x string) string { return `printf('%012x', ` + x + `)` }
	sep := `char(1)`
	jsonCast := func(x string) string { return x }
	if postgres {
		series = `WITH g(n) AS (SELECT generate_series(?::bigint, ?::bigint))`
		elem = func(arr, i string) string { return `('` + arr + `'::jsonb ->> (` + i + `)::int)` }
		pair = func(arr, i string, j int) string {
			return `('` + arr + `'::jsonb -> (` + i + `)::int ->> ` + fmt.Sprint(j) + `)`
		}
		ts = func(sec string) string { return `to_timestamp(` + sec + `)` }
		hex12 = func(x string) string { return `lpad(to_hex(` + x + `), 12, '0')` }
		sep = `chr(1)`
		jsonCast = func(x string) string { return `(` + x + `)::jsonb` }
	}
	// m is the public number; a, b and c are three independent-looking
	// 16-bit hashes of n that pick the attributes.
	rows := series + `,
h AS (
	SELECT n, m, m / 65536 AS a,
		(n * 2246822519) % 4294967296 / 65536 AS b,
		(n * 3266489917) % 4294967296 / 65536 AS c,
		` + fmt.Sprint(seedEpoch) + ` + n / 3 * 90 AS joined
	FROM (SELECT n, (n * 2654435761) % 4294967296 AS m FROM g) AS g
),
v AS (
	SELECT a, b, c, joined,
		substr(` + hex12("joined * 1000") + `, 1, 8) || '-' || substr(` + hex12("joined * 1000") + `, 9, 4) ||
			'-7000-8000-' || ` + hex12("n") + ` AS id,
		` + pair(seedFirstNames, "a % 40", 1) + ` || '.' || ` + pair(seedLastNames, "b % 40", 1) + ` || '.' || m ||
			'@' || ` + elem(seedDomains, "(c % 4)") + ` AS email,
		` + pair(seedFirstNames, "a % 40", 1) + ` || '_' || m AS username,
		` + pair(seedFirstNames, "a % 40", 0) + ` || ' ' || ` + pair(seedLastNames, "b % 40", 0) + ` AS display_name
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
	if n < 0 || n > seedMax {
		return fmt.Errorf("sqlstore: SeedUsers: n must be 0 to %d", seedMax)
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
	// VACUUM as well on Postgres: it empties the trigram index's pending
	// list, which every search would otherwise read, and marks the pages
	// all-visible for index-only scans.
	analyze := "ANALYZE"
	if db.postgres() {
		analyze = "VACUUM (ANALYZE) users, credentials"
	}
	if _, err := db.w.ExecContext(ctx, analyze); err != nil {
		return fmt.Errorf("sqlstore: seed users: analyze: %w", err)
	}
	return nil
}
