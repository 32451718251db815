package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzCheckDuplicateKeys holds the invariants of the duplicate-key guard
// (IV-01, IV-03): it never panics on any input, and on valid JSON it fails
// only for a repeated key (what is not valid JSON the decoder after it
// rejects).
func FuzzCheckDuplicateKeys(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":1,"a":2}`, `{"a":{"a":1},"b":[{"a":1,"a":2}]}`, `[1,2`, `{"a":"\u0061"}`, `{}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := checkDuplicateKeys([]byte(s))
		if !json.Valid([]byte(s)) {
			return
		}
		if err != nil && !strings.Contains(err.Error(), "appears twice") {
			t.Fatalf("rejected valid JSON %q: %v", s, err)
		}
	})
}

func TestCheckDuplicateKeys(t *testing.T) {
	for doc, dup := range map[string]bool{
		`{"a":1,"b":2}`:              false,
		`{"a":1,"a":2}`:              true,
		`{"a":{"b":1},"b":{"b":2}}`:  false,
		`{"a":[{"x":1},{"x":2}]}`:    false,
		`{"a":[{"x":1,"x":2}]}`:      true,
		`{"outer":{"in":1,"in":2}}`:  true,
		`{"a":"x","\u0061":"y"}`:     true,
		`[{"a":1},{"a":1}]`:          false,
		`{"a":[],"b":{},"c":[[{}]]}`: false,
	} {
		err := checkDuplicateKeys([]byte(doc))
		if (err != nil) != dup {
			t.Errorf("%s: err = %v, want duplicate=%v", doc, err, dup)
		}
	}
}
