package sqlstore

import (
	"errors"
	"strings"

	"github.com/uptrace/bun/driver/pgdriver"
)

// failure classifies a driver error so repositories can translate it into a
// domain error. Classification uses the driver's error type and
// code, never the text of the message; only the constraint name of a SQLite
// unique violation, which SQLite reports nowhere else, is read from it.
type failure int

const (
	failOther      failure = iota
	failUnique             // unique or primary-key violation
	failForeignKey         // foreign-key violation
	failCheck              // check or not-null violation
	failRetry              // serialization failure or deadlock: the transaction may be retried
)

// SQLite extended result codes (https://sqlite.org/rescode.html).
const (
	sqliteConstraintCheck   = 275
	sqliteConstraintFK      = 787
	sqliteConstraintNotNull = 1299
	sqliteConstraintPK      = 1555
	sqliteConstraintUnique  = 2067
)

// sqliteError is what modernc.org/sqlite's *Error offers; using the
// interface keeps the adapter free of a direct driver import.
type sqliteError interface {
	error
	Code() int
}

// classify returns the failure class of err and, for constraint violations,
// the name of the violated constraint or index when the driver reports it.
func classify(err error) (failure, string) {
	if err == nil {
		return failOther, ""
	}
	var pe pgdriver.Error
	if errors.As(err, &pe) {
		switch pe.Field('C') {
		case "23505":
			return failUnique, pe.Field('n')
		case "23503":
			return failForeignKey, pe.Field('n')
		case "23502", "23514":
			return failCheck, pe.Field('n')
		case "40001", "40P01":
			return failRetry, ""
		}
		return failOther, ""
	}
	var se sqliteError
	if errors.As(err, &se) {
		switch se.Code() {
		case sqliteConstraintUnique, sqliteConstraintPK:
			return failUnique, sqliteConstraintName(se.Error())
		case sqliteConstraintFK:
			return failForeignKey, ""
		case sqliteConstraintCheck, sqliteConstraintNotNull:
			return failCheck, ""
		}
	}
	return failOther, ""
}

// sqliteConstraintName extracts the index of "UNIQUE constraint failed:
// index 'users_email_key'" (expression indexes) or the columns of "UNIQUE
// constraint failed: users.email" (column constraints).
func sqliteConstraintName(msg string) string {
	const marker = "constraint failed: "
	i := strings.LastIndex(msg, marker)
	if i < 0 {
		return ""
	}
	rest := msg[i+len(marker):]
	if name, ok := strings.CutPrefix(rest, "index '"); ok {
		if j := strings.IndexByte(name, '\''); j >= 0 {
			return name[:j]
		}
		return ""
	}
	if j := strings.IndexAny(rest, " ("); j >= 0 {
		rest = rest[:j]
	}
	return rest
}
