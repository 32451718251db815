package user

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// normalizeAvatarURL validates an avatar address; "" clears it. Other
// users' browsers fetch it, so it must be https (no mixed content, no
// javascript: or data: URL), carry no credentials (they would be shown to
// every viewer and land in user.updated), and name a public DNS host: an IP
// literal or a single label such as localhost would have each viewer's
// browser request an address on its own network. It is kept to printable
// ASCII, as email addresses are, so look-alike hosts cannot hide in it; an
// international host goes in its xn-- form.
func normalizeAvatarURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if len(s) > MaxAvatarURLLength || !printableASCII(s) {
		return "", ErrInvalidAvatarURL
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Opaque != "" || u.User != nil || !hostname(u.Hostname()) ||
		internalHost(u.Hostname()) || !validPort(u.Port()) {
		return "", ErrInvalidAvatarURL
	}
	// Host names compare case-insensitively; one spelling keeps a no-op
	// update from reading as a change.
	u.Host = strings.ToLower(u.Host)
	out := u.String()
	if len(out) > MaxAvatarURLLength {
		return "", ErrInvalidAvatarURL
	}
	return out, nil
}

// internalHost reports whether host is a name reserved for a machine's or
// a network's own use (RFC 6761, 6762 and common practice): other users'
// browsers load the avatar, and must not be sent into their own network.
func internalHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	for _, suffix := range []string{".localhost", ".localdomain", ".local", ".internal", ".home.arpa", ".lan", ".intranet", ".corp"} {
		if strings.HasSuffix(h, suffix) || h == suffix[1:] {
			return true
		}
	}
	return false
}

// validPort accepts no port or a port from 1 to 65535.
func validPort(p string) bool {
	if p == "" {
		return true
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && p[0] != '0'
}

// normalizeLocale validates a BCP 47 language tag (RFC 5646) and returns
// it in the canonical case, en-us as en-US; "" clears it. The rule is the
// grammar, written here because core depends on the standard library only.
// Where it and golang.org/x/text/language both accept a tag they agree on
// its case (the tests hold that), but this rule neither looks subtags up in
// the registry nor replaces deprecated ones: iw stays iw. Stricter than
// the grammar, it refuses what no user's locale is: a private-use or
// grandfathered tag, a language subtag of four or more letters (none is
// registered), and a repeated variant or extension (RFC 5646 2.2.5, 2.2.6).
func normalizeLocale(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if len(s) > MaxLocaleLength {
		return "", ErrInvalidLocale
	}
	tag, ok := canonicalTag(s)
	if !ok {
		return "", ErrInvalidLocale
	}
	return tag, nil
}

func canonicalTag(s string) (string, bool) {
	sub := strings.Split(strings.ToLower(s), "-")
	for _, t := range sub {
		if t == "" || len(t) > 8 || !alnum(t) {
			return "", false
		}
	}
	if len(sub[0]) < 2 || len(sub[0]) > 3 || !alpha(sub[0]) {
		return "", false
	}
	i := 1
	for n := 0; n < 3 && i < len(sub) && len(sub[i]) == 3 && alpha(sub[i]); n++ { // extlang
		i++
	}
	if i < len(sub) && len(sub[i]) == 4 && alpha(sub[i]) { // script
		sub[i] = strings.ToUpper(sub[i][:1]) + sub[i][1:]
		i++
	}
	if i < len(sub) && (len(sub[i]) == 2 && alpha(sub[i]) || len(sub[i]) == 3 && digits(sub[i])) { // region
		sub[i] = strings.ToUpper(sub[i])
		i++
	}
	seen := map[string]bool{}
	for ; i < len(sub) && (len(sub[i]) >= 5 || len(sub[i]) == 4 && isDigit(sub[i][0])); i++ { // variants
		if seen[sub[i]] {
			return "", false
		}
		seen[sub[i]] = true
	}
	for i < len(sub) && len(sub[i]) == 1 { // extensions, then private use
		single := sub[i]
		if seen[single] {
			return "", false
		}
		seen[single] = true
		i++
		start := i
		for i < len(sub) && (len(sub[i]) > 1 || single == "x") {
			i++
		}
		if i == start {
			return "", false
		}
		if single == "x" {
			break
		}
	}
	if i != len(sub) {
		return "", false
	}
	return strings.Join(sub, "-"), true
}

func alnum(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') })
}

func alpha(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 'a' || r > 'z' })
}

func digits(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' })
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// timeZoneRE is the shape of an IANA zone name: components of ASCII
// letters, digits, '.', '_', '+' and '-', each starting with a letter,
// so neither "." nor ".." nor an absolute path can reach the file system.
var timeZoneRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._+-]*(?:/[A-Za-z][A-Za-z0-9._+-]*)*$`)

// notAZone reports the names a tz database holds that are not places:
// the server's own zone, the POSIX default rules, the placeholder zone and
// the copies under posix/ and right/ (the latter counting leap seconds,
// which no clock a user reads does).
func notAZone(s string) bool {
	switch s {
	case "Local", "localtime", "posixrules", "Factory":
		return true
	}
	return strings.HasPrefix(s, "posix/") || strings.HasPrefix(s, "right/")
}

// normalizeTimeZone validates an IANA time zone name; "" clears it. The
// zone must be one time.LoadLocation finds, so it depends on the tz
// database the process has: the server embeds one (time/tzdata) for hosts
// without it. "Local" and "localtime" are refused: they name the server's
// own zone, not a place, and would change meaning with the host.
func normalizeTimeZone(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if len(s) > MaxTimeZoneLength || !timeZoneRE.MatchString(s) || notAZone(s) {
		return "", ErrInvalidTimeZone
	}
	if _, err := time.LoadLocation(s); err != nil {
		return "", ErrInvalidTimeZone
	}
	return s, nil
}
