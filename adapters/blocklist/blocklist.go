// Package blocklist implements ports.PasswordBlocklist with an embedded list
// of the most common passwords (PW-05, NIST SP 800-63B 5.1.1.2).
//
// The list is the ranked "passwords" frequency list that zxcvbn ships
// (30,000 entries, most common first), generated into passwords.txt.gz by
// the gen module next to this file; see gen/main.go.
//
// Matching is deliberately simple so a refusal can be explained to a user:
// the password, NFKC-normalised and lower-cased, is blocked when it is on the
// list, or when it is a listed word of at least six characters followed only
// by digits, symbols or spaces ("Monkey2024!"), the commonest way people pad a
// weak password to pass a length rule.
package blocklist

//go:generate env GOWORK=off go -C gen run . -out ../passwords.txt.gz

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/usermgmt/usermgmt/ports"
)

//go:embed passwords.txt.gz
var passwordsGz []byte

// minStemRunes is the shortest listed word that still blocks a password
// padded with digits or symbols: shorter stems ("love", "abc") would refuse
// reasonable passwords that merely start with a common syllable.
const minStemRunes = 6

// List is an immutable set of common passwords, safe for concurrent use.
type List struct {
	set map[string]struct{}
}

var _ ports.PasswordBlocklist = (*List)(nil)

// New loads the embedded list. It panics only if the embedded data is
// corrupt, which the package tests rule out at build time.
func New() *List {
	l, err := parse(passwordsGz)
	if err != nil {
		panic(fmt.Sprintf("blocklist: embedded list: %v", err))
	}
	return l
}

func parse(gz []byte) (*List, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	defer zr.Close()
	set := make(map[string]struct{}, 32768)
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if w := normalise(sc.Text()); w != "" {
			set[w] = struct{}{}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return &List{set: set}, nil
}

// Len reports how many distinct passwords the list holds.
func (l *List) Len() int { return len(l.set) }

// Blocked reports whether password is common. It never fails; the error is
// there for blocklists that call out (e.g. a breached-password service).
func (l *List) Blocked(_ context.Context, password string) (bool, error) {
	p := normalise(password)
	if _, ok := l.set[p]; ok {
		return true, nil
	}
	stem := strings.TrimRightFunc(p, isPadding)
	if stem != p && utf8.RuneCountInString(stem) >= minStemRunes {
		if _, ok := l.set[stem]; ok {
			return true, nil
		}
	}
	return false, nil
}

// normalise applies the hasher's NFKC normalisation, so the blocklist judges
// the same string that gets hashed, then folds case: "PassWord" is as
// guessable as "password".
func normalise(s string) string {
	return strings.ToLower(norm.NFKC.String(s))
}

func isPadding(r rune) bool {
	return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r)
}
