// Package credential holds the password rules: the policy a new password must
// meet (NIST SP 800-63B: length in code points, no composition rules, a
// blocklist and context words) and the stored hash type.
package credential

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/usermgmt/usermgmt/core/errs"
)

// PasswordHash is a password hash in PHC string format
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash), or, for an account brought
// in from another system until its first sign-in rehashes it, in bcrypt's
// format ($2a$, $2b$ or $2y$). It never holds a password.
type PasswordHash string

// Limits of the password policy (PW-01, PW-02). Length is counted in Unicode
// code points, after the hasher's NFKC normalisation would apply.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 128
	// MaxPasswordBytes bounds the bytes fed to the hash so a long string of
	// multi-byte characters cannot cost more than a 128-character ASCII one would allow.
	MaxPasswordBytes = 1024
)

// Errors of the password rules.
var (
	ErrTooShort           = errs.New(errs.Invalid, "password.too_short", fmt.Sprintf("must be at least %d characters", MinPasswordLength))
	ErrTooLong            = errs.New(errs.Invalid, "password.too_long", fmt.Sprintf("must be at most %d characters", MaxPasswordLength))
	ErrNotText            = errs.New(errs.Invalid, "password.not_text", "must be valid UTF-8 without control characters")
	ErrCommon             = errs.New(errs.Invalid, "password.common", "is too common; choose a less guessable password")
	ErrContextual         = errs.New(errs.Invalid, "password.contextual", "must not contain your username, email or the service name")
	ErrInvalidCredentials = errs.New(errs.Unauthenticated, "auth.invalid_credentials", "invalid credentials")
	ErrSamePassword       = errs.New(errs.Invalid, "password.unchanged", "must differ from the current password")
	ErrNoPassword         = errs.New(errs.NotFound, "credential.not_found", "no password set")
	ErrUnsupportedHash    = errs.New(errs.Invalid, "credential.unsupported_hash",
		"must be an argon2id hash in PHC form ($argon2id$v=19$...) or a bcrypt hash ($2a$, $2b$ or $2y$)")
)

// UnsupportedHash is ErrUnsupportedHash saying what is wrong with a hash,
// in words that never repeat it.
func UnsupportedHash(why string) error {
	e := *ErrUnsupportedHash
	e.Msg += ": " + why
	return &e
}

// ServiceName is a context word no password may contain (PW-05).
const ServiceName = "usermgmt"

// CheckShape applies the rules that need no lookup: valid text, length
// bounds in code points, no control characters. Any printable character,
// spaces and emoji included, is allowed (PW-04: no composition rules).
func CheckShape(password string) error {
	if !utf8.ValidString(password) {
		return ErrNotText
	}
	if len(password) > MaxPasswordBytes {
		return ErrTooLong
	}
	n := 0
	for _, r := range password {
		if unicode.IsControl(r) {
			return ErrNotText
		}
		n++
	}
	switch {
	case n < MinPasswordLength:
		return ErrTooShort
	case n > MaxPasswordLength:
		return ErrTooLong
	}
	return nil
}

// CheckContext rejects a password that contains a context word: the service
// name, the username or the email's local part (PW-05). Words shorter than
// four characters are ignored, or they would forbid half the dictionary.
func CheckContext(password string, words ...string) error {
	p := fold(password)
	for _, w := range append(words, ServiceName) {
		w = fold(w)
		if len(w) >= 4 && strings.Contains(p, w) {
			return ErrContextual
		}
	}
	return nil
}

// ContextWords returns the words of a user that a password must not contain.
func ContextWords(email, username string) []string {
	local, _, _ := strings.Cut(email, "@")
	return []string{username, local, email}
}

// fold keeps letters and digits, lower-cased, so "Jane.Doe" and "janedoe" compare equal.
func fold(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}
