package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"reflect"
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
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return errMalformedJSON.WithFields(errs.FieldError{Field: "body", Message: "is required"})
	}
	if !isJSON(c.Get(fiber.HeaderContentType)) {
		return fiber.ErrUnsupportedMediaType
	}
	if err := checkDuplicateKeys(body); err != nil {
		return errMalformedJSON.WithFields(errs.FieldError{Field: "body", Message: err.Error()})
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return errMalformedJSON.WithFields(jsonFieldError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errMalformedJSON.WithFields(errs.FieldError{Field: "body", Message: "must hold exactly one JSON object"})
	}
	return d.validate(dst)
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
		return "must be at most " + fe.Param() + " characters"
	case "min":
		return "must be at least " + fe.Param() + " characters"
	default:
		return "fails rule " + fe.Tag()
	}
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

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// checkDuplicateKeys walks the JSON tokens and fails on an object that
// names a key twice: decoders disagree on which value wins, which is how
// parser-differential attacks slip a field past a validator.
func checkDuplicateKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // a number beyond float64 is valid JSON, not an error here
	type frame struct {
		keys     map[string]struct{}
		isObject bool
		wantKey  bool
	}
	var stack []frame
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
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:top]
				continue
			}
			k := tok.(string)
			if _, dup := stack[top].keys[k]; dup {
				return fmt.Errorf("key %q appears twice", k)
			}
			stack[top].keys[k] = struct{}{}
			stack[top].wantKey = false
			continue
		}
		if top >= 0 && stack[top].isObject {
			stack[top].wantKey = true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{keys: map[string]struct{}{}, isObject: true, wantKey: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim(']'):
			stack = stack[:top]
		}
	}
}
