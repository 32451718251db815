package eventschema

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Schemas of the events usermgmt consumes from other services. They are
// open (extra fields are allowed: producers may add to their events
// without breaking us) but every field usermgmt reads is required and typed.
//
//go:embed consumed/*.json
var consumedFiles embed.FS

// ConsumedBaseURL prefixes the $id of every consumed-event schema.
const ConsumedBaseURL = BaseURL + "consumed/"

// ConsumedTypes returns the consumed event types that have a schema, sorted.
func ConsumedTypes() []string {
	names, err := fs.Glob(consumedFiles, "consumed/*.json")
	if err != nil {
		panic(err) // the pattern is constant and valid
	}
	types := make([]string, 0, len(names))
	for _, n := range names {
		types = append(types, strings.TrimSuffix(path.Base(n), ".json"))
	}
	sort.Strings(types)
	return types
}

// ConsumedValidator checks consumed CloudEvents envelopes. It is safe for
// concurrent use.
type ConsumedValidator struct{ data map[string]*jsonschema.Schema }

// NewConsumed compiles the consumed-event schemas.
func NewConsumed() (*ConsumedValidator, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(jsonschema.SchemeURLLoader{})
	v := &ConsumedValidator{data: map[string]*jsonschema.Schema{}}
	for _, t := range ConsumedTypes() {
		raw, err := consumedFiles.ReadFile("consumed/" + t + ".json")
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("eventschema: consumed/%s.json: %w", t, err)
		}
		if err := c.AddResource(ConsumedBaseURL+t+".json", doc); err != nil {
			return nil, fmt.Errorf("eventschema: consumed/%s.json: %w", t, err)
		}
		if v.data[t], err = c.Compile(ConsumedBaseURL + t + ".json"); err != nil {
			return nil, fmt.Errorf("eventschema: compile consumed/%s.json: %w", t, err)
		}
	}
	return v, nil
}

// Validate checks that envelope is a CloudEvents envelope with an id, a
// consumed type and data matching that type's schema. The error is
// ErrSchemaViolation wrapping a *Violation: the message can never take
// effect and belongs in the dead-letter topic.
func (v *ConsumedValidator) Validate(envelope []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(envelope))
	if err != nil {
		return violation("", "", Problem{"", "not a JSON document: " + err.Error()})
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return violation("", "", Problem{"", "not a JSON object"})
	}
	typ, _ := obj["type"].(string)
	id, _ := obj["id"].(string)
	if id == "" {
		return violation(typ, id, Problem{"/id", "required, missing"})
	}
	sch, ok := v.data[typ]
	if !ok {
		return violation(typ, id, Problem{"/type", "not a consumed event type: " + quote(typ)})
	}
	if err := sch.Validate(obj["data"]); err != nil {
		return violation(typ, id, problems(err, "/data")...)
	}
	return nil
}
