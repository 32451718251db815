// Package text holds the string rules the domain and its adapters share:
// bounded lengths that never split a UTF-8 sequence.
package text

import "unicode/utf8"

// Truncate cuts s to at most n bytes on a rune boundary, so a bounded
// column or header never ends in half a character.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
