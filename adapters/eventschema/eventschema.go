// Package eventschema holds the published JSON Schemas of usermgmt's events
// (draft 2020-12, embedded: one per event type for its data, plus one for the
// CloudEvents envelope) and checks events against them before they reach the
// outbox.
//
// The schemas are the contract consumers code against; docs/asyncapi.yaml
// refers to the same files. A Validator wraps the event.Encoder given to an
// Outbox, so an event that breaks its schema fails Append and rolls the
// transaction back: a violation is a bug in the emitter, never published.
package eventschema

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/event"
)

// BaseURL prefixes the $id of every schema: <BaseURL><type>.json, and
// <BaseURL>envelope.json for the envelope.
const BaseURL = "https://usermgmt.dev/schemas/events/"

// Envelope is the name Schema knows the envelope's schema by.
const Envelope = "envelope"

//go:embed schemas/*.json
var files embed.FS

// ErrSchemaViolation is the error of an event that does not match its
// schema. It is Internal: the emitter built a wrong event. The wrapped
// *Violation says which event, where and why.
var ErrSchemaViolation = errs.New(errs.Internal, "event.schema_violation", "event does not match its schema")

// Problem is one failed check: where in the envelope, and why.
type Problem struct {
	Pointer string // JSON pointer into the envelope, e.g. /data/loginMethod ("" is the whole envelope)
	Message string
}

// Violation describes an envelope that does not match its schemas.
type Violation struct {
	Type     string // the envelope's type, "" when it has none
	ID       string // the envelope's id, "" when it has none
	Problems []Problem
}

func (v *Violation) Error() string {
	var sb strings.Builder
	if v.Type != "" {
		sb.WriteString(v.Type)
	} else {
		sb.WriteString("(no type)")
	}
	if v.ID != "" {
		sb.WriteString(" " + v.ID)
	}
	for i, p := range v.Problems {
		if i == 0 {
			sb.WriteString(": ")
		} else {
			sb.WriteString("; ")
		}
		ptr := p.Pointer
		if ptr == "" {
			ptr = "(root)"
		}
		sb.WriteString(ptr + ": " + p.Message)
	}
	return sb.String()
}

// Types returns the event types that have a schema, sorted.
func Types() []string {
	names, err := fs.Glob(files, "schemas/*.json")
	if err != nil {
		panic(err) // the pattern is constant and valid
	}
	var types []string
	for _, n := range names {
		if t := strings.TrimSuffix(path.Base(n), ".json"); t != Envelope {
			types = append(types, t)
		}
	}
	sort.Strings(types)
	return types
}

// Schema returns the raw JSON Schema of an event type's data, or of the
// envelope for name Envelope, as published (for serving it at its dataschema
// URI). ok is false for an unknown name.
func Schema(name string) (schema []byte, ok bool) {
	if name == "" || strings.ContainsAny(name, "/\\") {
		return nil, false
	}
	b, err := files.ReadFile("schemas/" + name + ".json")
	if err != nil {
		return nil, false
	}
	return b, true
}

// Validator checks event envelopes against the embedded schemas. It is safe
// for concurrent use.
type Validator struct {
	envelope *jsonschema.Schema
	data     map[string]*jsonschema.Schema
}

// New compiles the embedded schemas.
func New() (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(jsonschema.SchemeURLLoader{}) // everything is embedded: load nothing from disk or network
	names := append(Types(), Envelope)
	for _, n := range names {
		raw, _ := Schema(n)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("eventschema: %s.json: %w", n, err)
		}
		obj, _ := doc.(map[string]any)
		if id, _ := obj["$id"].(string); id != BaseURL+n+".json" {
			return nil, fmt.Errorf("eventschema: %s.json: $id is %q, want %q", n, id, BaseURL+n+".json")
		}
		if err := c.AddResource(BaseURL+n+".json", doc); err != nil {
			return nil, fmt.Errorf("eventschema: %s.json: %w", n, err)
		}
	}
	v := &Validator{data: make(map[string]*jsonschema.Schema, len(names)-1)}
	for _, n := range names {
		sch, err := c.Compile(BaseURL + n + ".json")
		if err != nil {
			return nil, fmt.Errorf("eventschema: compile %s.json: %w", n, err)
		}
		if n == Envelope {
			v.envelope = sch
		} else {
			v.data[n] = sch
		}
	}
	return v, nil
}

// Wrap returns an encoder that encodes with enc and validates the result, so
// an Outbox built with it refuses (and its transaction rolls back on) an
// event that breaks its schema.
func (v *Validator) Wrap(enc event.Encoder) event.Encoder {
	return func(ctx context.Context, e event.Event) ([]byte, error) {
		b, err := enc(ctx, e)
		if err != nil {
			return nil, err
		}
		if err := v.Validate(b); err != nil {
			return nil, err
		}
		return b, nil
	}
}

// Validate checks envelope against the envelope schema, then its data
// against the schema of its type; subject must equal data.userId and
// dataschema must name the type's schema. The error is ErrSchemaViolation
// wrapping a *Violation.
func (v *Validator) Validate(envelope []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(envelope))
	if err != nil {
		return violation("", "", Problem{"", "not a JSON document: " + err.Error()})
	}
	obj, _ := doc.(map[string]any)
	typ, _ := obj["type"].(string)
	id, _ := obj["id"].(string)
	if err := v.envelope.Validate(doc); err != nil {
		return violation(typ, id, problems(err, "")...)
	}
	sch, ok := v.data[typ]
	if !ok {
		return violation(typ, id, Problem{"/type", "no schema for event type " + quote(typ)})
	}
	data := obj["data"]
	if err := sch.Validate(data); err != nil {
		return violation(typ, id, problems(err, "/data")...)
	}
	if uid, _ := data.(map[string]any)["userId"].(string); obj["subject"] != uid {
		return violation(typ, id, Problem{"/subject", "must equal data.userId " + quote(uid)})
	}
	if ds, _ := obj["dataschema"].(string); !strings.HasSuffix(ds, typ+".json") {
		return violation(typ, id, Problem{"/dataschema", "must name the schema of " + typ + " (" + typ + ".json)"})
	}
	return nil
}

func violation(typ, id string, ps ...Problem) error {
	return ErrSchemaViolation.Wrap(&Violation{Type: typ, ID: id, Problems: ps})
}

var printer = message.NewPrinter(language.English)

// problems flattens a validation error into its leaf failures, pointers
// prefixed with prefix (where the validated value sits in the envelope).
func problems(err error, prefix string) []Problem {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Problem{{prefix, err.Error()}}
	}
	var ps []Problem
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		at := prefix + pointer(e.InstanceLocation)
		msg := e.ErrorKind.LocalizedString(printer)
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, m := range k.Missing {
				ps = append(ps, Problem{at + "/" + escape(m), "required, missing"})
			}
		case *kind.AdditionalProperties:
			for _, p := range k.Properties {
				ps = append(ps, Problem{at + "/" + escape(p), "not allowed (additionalProperties false)"})
			}
		// The library's text quotes the value, and a value here is often
		// personal data (an address): errors reach logs, so name the rule only.
		case *kind.Format:
			ps = append(ps, Problem{at, "is not a valid " + k.Want})
		case *kind.Pattern:
			ps = append(ps, Problem{at, "does not match pattern " + k.Want})
		default:
			ps = append(ps, Problem{at, msg})
		}
	}
	walk(ve)
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Pointer < ps[j].Pointer })
	return slices.Compact(ps)
}

func pointer(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteString("/" + escape(t))
	}
	return sb.String()
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// escape escapes a JSON pointer token (RFC 6901).
func escape(tok string) string { return pointerEscaper.Replace(tok) }

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
