package httpapi

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/usermgmt/usermgmt/core/errs"
)

// decodeQuery fills dst, a pointer to a query DTO (fields tagged
// `query:"name"`, of type string, *bool, int or time.Time, with optional
// `validate:"max=N"` / `validate:"min=N,max=N"` bounds), from the query
// string. As with bodies, it is strict: an unknown or repeated parameter,
// or a value that does not parse, is a 400 naming the parameter.
func decodeQuery(c *fiber.Ctx, dst any) error {
	v := reflect.ValueOf(dst).Elem()
	fields := queryFields(v.Type())
	var bad errs.Validation
	seen := map[string]bool{}
	c.Context().QueryArgs().VisitAll(func(k, val []byte) {
		name := string(k)
		idx, ok := fields[name]
		switch {
		case !ok:
			bad.Add(name, "is not a parameter of this route")
		case seen[name]:
			bad.Add(name, "must be given once")
		default:
			seen[name] = true
			if msg := setQueryField(v.FieldByIndex(idx), v.Type().FieldByIndex(idx), string(val)); msg != "" {
				bad.Add(name, msg)
			}
		}
	})
	return bad.Err()
}

// queryFields maps parameter names to field index paths; the fields of an
// embedded struct are the parameters of the outer one.
func queryFields(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for _, f := range reflect.VisibleFields(t) {
		if name := f.Tag.Get("query"); name != "" {
			out[name] = f.Index
		}
	}
	return out
}

var boolType = reflect.TypeOf((*bool)(nil))

// setQueryField parses s into f and returns what is wrong with it, or "".
func setQueryField(f reflect.Value, sf reflect.StructField, s string) string {
	minN, maxN := queryBounds(sf)
	switch {
	case f.Type() == timeType:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return "must be an RFC 3339 time such as 2026-01-31T12:00:00Z"
		}
		f.Set(reflect.ValueOf(t.UTC()))
	case f.Type() == boolType:
		b, err := strconv.ParseBool(s)
		if err != nil || (s != "true" && s != "false") {
			return "must be true or false"
		}
		f.Set(reflect.ValueOf(&b))
	case f.Kind() == reflect.Int:
		n, err := strconv.Atoi(s)
		canonical := err == nil && strconv.Itoa(n) == s // no sign, no leading zeros
		if !canonical || (minN != nil && n < *minN) || (maxN != nil && n > *maxN) {
			return fmt.Sprintf("must be an integer from %d to %d", orZero(minN), orZero(maxN))
		}
		f.SetInt(int64(n))
	case f.Kind() == reflect.String:
		if !utf8.ValidString(s) || (maxN != nil && utf8.RuneCountInString(s) > *maxN) {
			return fmt.Sprintf("must be valid text of at most %d characters", orZero(maxN))
		}
		f.SetString(s)
	default:
		return "is not supported"
	}
	return ""
}

func queryBounds(sf reflect.StructField) (minN, maxN *int) {
	for _, rule := range strings.Split(sf.Tag.Get("validate"), ",") {
		k, v, _ := strings.Cut(rule, "=")
		n, err := strconv.Atoi(v)
		if err != nil {
			continue
		}
		switch k {
		case "min":
			minN = &n
		case "max":
			maxN = &n
		}
	}
	return minN, maxN
}

func orZero(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// queryParams documents the parameters of a query DTO in OpenAPI.
func queryParams(dto any) []map[string]any {
	var out []map[string]any
	for _, sf := range reflect.VisibleFields(reflect.TypeOf(dto)) {
		name := sf.Tag.Get("query")
		if name == "" {
			continue
		}
		s := schemaOf(sf.Type, false)
		minN, maxN := queryBounds(sf)
		if s["type"] == "integer" {
			if minN != nil {
				s["minimum"] = *minN
			}
			if maxN != nil {
				s["maximum"] = *maxN
			}
		} else if s["type"] == "string" && maxN != nil {
			s["maxLength"] = *maxN
		}
		p := map[string]any{"name": name, "in": "query", "required": false, "schema": s}
		if d := sf.Tag.Get("doc"); d != "" {
			p["description"] = d
		}
		out = append(out, p)
	}
	return out
}
