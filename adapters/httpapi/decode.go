package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"reflect"
	"strconv"
	"strings"

	"github.com/go-playground/validator/v10"
	"github.com/gofiber/fiber/v2"

	"github.com/usermgmt/usermgmt/core/errs"
)

// decoder reads request bodies strictly (IV-01): JSON content type only,
// no unknown fields, no duplicate keys, no trailing data, then the DTO's
// validate tags. Field names in errors are the JSON names.
type decoder struct{ v *validator.Validate }

func newDecoder() *decoder {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	return &decoder{v: v}
}

// decode fills dst from the request body. An empty body is allowed only when
// optional is set (dst keeps its zero value).
func (d *decoder) decode(c *fiber.Ctx, dst any, optional bool) error {
	body := c.Body()
	empty := len(bytes.TrimSpace(body)) == 0
	if empty && optional {
		return nil
	}
	// The media type is judged first: fasthttp moves a multipart body
	// into its form, which would otherwise read as a missing body.
	if ct := c.Get(fiber.HeaderContentType); (ct != "" || !empty) && !isJSON(ct) {
		return fiber.ErrUnsupportedMediaType
	}
	if empty {
		return errMalformedJSON.WithFields(errs.FieldError{Field: "body", Message: "is required"})
	}
	if err := checkKeys(body, reflect.TypeOf(dst)); err != nil {
		return errMalformedJSON.WithFields(keyFieldError(err))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return errMalformedJSON.WithFields(jsonFieldError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errMalformedJSON.WithFields(errs.FieldError{Field: "body", Message: "must hold exactly one JSON object"})
	}
	var v errs.Validation
	checkText(reflect.ValueOf(dst), "", &v)
	if err := v.Err(); err != nil {
		return err
	}
	return d.validate(dst)
}

// jsonFields maps the JSON names of t's fields, embedded structs' included,
// to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported() && !f.Anonymous:
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			maps.Copy(out, jsonFields(f.Type))
		case name == "":
			out[f.Name] = f.Type
		default:
			out[name] = f.Type
		}
	}
	return out
}

// checkText adds a field error for every decoded string that holds a
// control character (IV-06): a NUL or an escape sequence has no place in
// a name, an identifier or a preference, and some stores refuse a NUL
// outright, which would surface as a 500. Tab is text. Fields tagged
// `text:"secret"` (passwords) are exempt: they are hashed, never stored
// or shown, and a password must stay usable as it was set.
func checkText(v reflect.Value, path string, out *errs.Validation) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			checkText(v.Elem(), path, out)
		}
	case reflect.String:
		if hasControl(v.String()) {
			out.Add(path, "must not contain control characters")
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				checkText(v.Field(i), path, out)
				continue
			}
			if !f.IsExported() || f.Tag.Get("text") == "secret" {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			checkText(v.Field(i), join(path, name), out)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			k := it.Key().String()
			if hasControl(k) {
				out.Add(path, "must not contain control characters")
				continue
			}
			checkText(it.Value(), join(path, k), out)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			checkText(v.Index(i), path+"["+strconv.Itoa(i)+"]", out)
		}
	default: // numbers and booleans hold no text
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// hasControl reports a C0 control other than tab, DEL, or a C1 control.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x20 && r != '\t' || r >= 0x7f && r <= 0x9f
	})
}

func (d *decoder) validate(dst any) error {
	err := d.v.Struct(dst)
	var ves validator.ValidationErrors
	if !errors.As(err, &ves) {
		return err
	}
	var v errs.Validation
	for _, fe := range ves {
		v.Add(fieldPath(fe), ruleMessage(fe))
	}
	return v.Err()
}

// fieldPath is the JSON path of a failed field without the DTO's type name.
func fieldPath(fe validator.FieldError) string {
	ns := fe.Namespace()
	if _, rest, ok := strings.Cut(ns, "."); ok {
		return rest
	}
	return fe.Field()
}

func ruleMessage(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "is required"
	case "email":
		return "must be a valid email address"
	case "max":
		return "must be at most " + fe.Param() + unitOf(fe)
	case "min":
		return "must be at least " + fe.Param() + unitOf(fe)
	default:
		return "fails rule " + fe.Tag()
	}
}

// unitOf is what a length bound counts: items of a list, characters of text.
func unitOf(fe validator.FieldError) string {
	if k := fe.Kind(); k == reflect.Slice || k == reflect.Array || k == reflect.Map {
		return " items"
	}
	return " characters"
}

func jsonFieldError(err error) errs.FieldError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return errs.FieldError{Field: te.Field, Message: "must be a " + jsonKind(te.Type)}
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return errs.FieldError{Field: strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`), Message: "is not a known field"}
	}
	return errs.FieldError{Field: "body", Message: "is not valid JSON"}
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	default:
		return "number"
	}
}

// isJSON reports whether ct is a JSON media type (application/json or
// a +json suffix) in UTF-8.
func isJSON(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return false
	}
	// JSON between systems is UTF-8 (RFC 8259 8.1). A body declared in
	// another charset would be read as UTF-8 all the same, storing text
	// other than what the client meant (IV-09).
	charset, ok := params["charset"]
	return !ok || strings.EqualFold(charset, "utf-8")
}

// unknownKeyError names an object key that is not the exact JSON name of
// a field of the type being filled.
type unknownKeyError struct{ path string }

func (e unknownKeyError) Error() string { return "unknown field " + e.path }

func keyFieldError(err error) errs.FieldError {
	var u unknownKeyError
	if errors.As(err, &u) {
		return errs.FieldError{Field: u.path, Message: "is not a known field"}
	}
	return errs.FieldError{Field: "body", Message: err.Error()}
}

// checkKeys walks the JSON tokens once and fails on an object that names
// a key twice, or, where the object fills a struct of t, names a field
// other than by its exact JSON name (unknownKeyError). Decoders disagree
// on which of two values wins, and encoding/json matches names
// case-insensitively and with Unicode folding ("PASSWORD" and "paſſword"
// fill Password): either way one body could carry a field twice in ways
// a proxy and this service read differently (IV-01, IV-07). A nil t
// checks duplicates only; what is not valid JSON is the decoder's to
// report.
func checkKeys(body []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // a number beyond float64 is valid JSON, not an error here
	type frame struct {
		keys     map[string]struct{}
		isObject bool
		wantKey  bool
		fields   map[string]reflect.Type // the struct's fields; nil: any key
		elem     reflect.Type            // what the next value fills; nil: unchecked
		key      string                  // the object's latest key
		path     string                  // where the object sits, for errors
	}
	var stack []frame
	next := t // what the coming value fills
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return errors.New("is not valid JSON")
		}
		top := len(stack) - 1
		if top >= 0 && stack[top].isObject && stack[top].wantKey {
			f := &stack[top]
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:top]
				continue
			}
			k := tok.(string)
			if _, dup := f.keys[k]; dup {
				return fmt.Errorf("key %q appears twice", k)
			}
			f.keys[k] = struct{}{}
			f.wantKey, f.key = false, k
			if f.fields != nil {
				ft, known := f.fields[k]
				if !known {
					return unknownKeyError{join(f.path, k)}
				}
				f.elem = ft
			}
			next = f.elem
			continue
		}
		if top >= 0 {
			if stack[top].isObject {
				stack[top].wantKey = true
			} else {
				next = stack[top].elem
			}
		}
		var path string // where a value that opens here sits
		if top >= 0 {
			path = stack[top].path
			if stack[top].isObject {
				path = join(path, stack[top].key)
			}
		}
		switch tok {
		case json.Delim('{'):
			fr := frame{keys: map[string]struct{}{}, isObject: true, wantKey: true, path: path}
			if t := deref(next); t != nil && t.Kind() == reflect.Struct {
				fr.fields = jsonFields(t)
			} else if t != nil && t.Kind() == reflect.Map {
				fr.elem = t.Elem()
			}
			stack = append(stack, fr)
		case json.Delim('['):
			fr := frame{path: path}
			if t := deref(next); t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				fr.elem = t.Elem()
			}
			stack = append(stack, fr)
		case json.Delim(']'):
			stack = stack[:top]
		}
	}
}

// deref is t without pointers; nil stays nil.
func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}
