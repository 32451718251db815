package httpapi

import "testing"

// TestParseHop_IV08: a hop with a port or brackets is still the client's
// address; what is not an address is refused.
func TestParseHop_IV08(t *testing.T) {
	for hop, want := range map[string]string{
		"203.0.113.7":           "203.0.113.7",
		" 203.0.113.7 ":         "203.0.113.7",
		"203.0.113.7:5678":      "203.0.113.7",
		"[2001:db8::8]:1234":    "2001:db8::8",
		"[2001:db8::7]":         "2001:db8::7",
		"2001:db8::9":           "2001:db8::9",
		"::ffff:198.51.100.1":   "198.51.100.1",
		"[::ffff:10.0.0.1]:443": "10.0.0.1",
		"garbage":               "",
		"unknown":               "",
		"1.2.3.4 5.6.7.8":       "",
		"fe80::1%eth0":          "",
		"[fe80::1%eth0]:1":      "",
		"[2001:db8::8":          "",
		"2001:db8::8]":          "",
		"[1.2.3.4]:80":          "",
		"[1.2.3.4]":             "",
		"[::]:1":                "",
		"0.0.0.0":               "",
		"1.2.3.4:99999":         "",
		"":                      "",
	} {
		ip, ok := parseHop(hop)
		if got := ip.String(); ok != (want != "") || ok && got != want {
			t.Errorf("parseHop(%q) = %s, %v; want %q", hop, got, ok, want)
		}
	}
}
