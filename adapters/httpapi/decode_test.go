package httpapi

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzCheckKeys holds the invariants of the duplicate-key guard
// (IV-01, IV-03): it never panics on any input, and on valid JSON it fails
// only for a repeated key (what is not valid JSON the decoder after it
// rejects).
func FuzzCheckKeys(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":1,"a":2}`, `{"a":{"a":1},"b":[{"a":1,"a":2}]}`, `[1,2`, `{"a":"\u0061"}`, `{}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := checkKeys([]byte(s), nil)
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
		err := checkKeys([]byte(doc), nil)
		if (err != nil) != dup {
			t.Errorf("%s: err = %v, want duplicate=%v", doc, err, dup)
		}
	}
}

// TestCheckKeys_ExactNamesByType_IV07: where an object fills a struct,
// only its fields' exact JSON names pass, at any depth; maps take any key.
func TestCheckKeys_ExactNamesByType_IV07(t *testing.T) {
	type inner struct {
		Name string `json:"name"`
	}
	type outer struct {
		Inner inner             `json:"inner"`
		List  []inner           `json:"list"`
		Prefs map[string]any    `json:"prefs"`
		Ptr   *inner            `json:"ptr"`
		Tags  map[string]string `json:"tags"`
	}
	typ := reflect.TypeOf(&outer{})
	for doc, want := range map[string]string{
		`{"inner":{"name":"a"},"list":[{"name":"b"}],"prefs":{"Any":1},"ptr":{"name":"c"},"tags":{"X":"y"}}`: "",
		`{"Inner":{}}`:                         "Inner",
		`{"inner":{"NAME":"a"}}`:               "inner.NAME",
		`{"list":[{"name":"b"},{"nAme":"c"}]}`: "list.nAme",
		`{"ptr":{"naſe":"c"}}`:                 "ptr.naſe",
		`{"prefs":{"deep":{"Whatever":1}}}`:    "",
	} {
		err := checkKeys([]byte(doc), typ)
		var u unknownKeyError
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", doc, err)
		case want != "" && (!errors.As(err, &u) || u.path != want):
			t.Errorf("%s: %v, want unknown field %s", doc, err, want)
		}
	}
}
