package eventschema_test

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/usermgmt/usermgmt/adapters/eventschema"
)

// asyncAPIFile is docs/asyncapi.yaml, from this package's directory.
var asyncAPIFile = filepath.Join("..", "..", "docs", "asyncapi.yaml")

// schemaRef is how the document refers to a schema file, relative to docs/.
func schemaRef(name string) string { return "../adapters/eventschema/schemas/" + name + ".json" }

// loadAsyncAPI returns docs/asyncapi.yaml as plain JSON values.
func loadAsyncAPI(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(asyncAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", asyncAPIFile, err)
	}
	// Through JSON, so values compare like those of the schema files.
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("%s is not JSON-compatible: %v", asyncAPIFile, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// lookup returns the value at the slash-separated path in v ("" is v), or nil.
func lookup(v any, p string) any {
	if p == "" {
		return v
	}
	for tok := range strings.SplitSeq(p, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := v.(type) {
		case map[string]any:
			v = x[tok]
		case []any:
			n, err := strconv.Atoi(tok)
			if err != nil || n < 0 || n >= len(x) {
				return nil
			}
			v = x[n]
		default:
			return nil
		}
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }

// deref follows a local $ref ("#/...") in doc.
func deref(t *testing.T, doc map[string]any, v any) any {
	t.Helper()
	for range 8 {
		ref, ok := lookup(v, "$ref").(string)
		if !ok {
			return v
		}
		p, ok := strings.CutPrefix(ref, "#/")
		if !ok {
			t.Fatalf("not a local $ref: %s", ref)
		}
		if v = lookup(doc, p); v == nil {
			t.Fatalf("$ref %s resolves to nothing", ref)
		}
	}
	t.Fatal("$ref chain too long")
	return nil
}

// schemaJSON parses the embedded schema name.
func schemaJSON(t *testing.T, name string) any {
	t.Helper()
	raw, ok := eventschema.Schema(name)
	if !ok {
		t.Fatalf("no embedded schema %s", name)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// checkSchemaIs fails unless s $refs the schema file of name or is, as
// parsed JSON, equal to the embedded schema.
func checkSchemaIs(t *testing.T, where string, s any, name string) {
	t.Helper()
	if ref, ok := lookup(s, "$ref").(string); ok {
		if ref != schemaRef(name) {
			t.Errorf("%s: $ref %s, want %s", where, ref, schemaRef(name))
			return
		}
		// The file the document points at is the one the service embeds.
		raw, err := os.ReadFile(filepath.Join(filepath.Dir(asyncAPIFile), filepath.FromSlash(ref)))
		if err != nil {
			t.Errorf("%s: %v", where, err)
			return
		}
		var file any
		if err := json.Unmarshal(raw, &file); err != nil {
			t.Errorf("%s: %v", where, err)
			return
		}
		if !reflect.DeepEqual(file, schemaJSON(t, name)) {
			t.Errorf("%s: %s differs from the embedded schema", where, ref)
		}
		return
	}
	if !reflect.DeepEqual(s, schemaJSON(t, name)) {
		t.Errorf("%s: inline schema differs from the embedded %s schema", where, name)
	}
}

func TestAsyncAPI(t *testing.T) {
	doc := loadAsyncAPI(t)
	v := newValidator(t)

	if got := lookup(doc, "asyncapi"); got != "3.0.0" {
		t.Errorf("asyncapi = %v, want 3.0.0", got)
	}
	if str(lookup(doc, "info/title")) == "" || str(lookup(doc, "info/version")) == "" {
		t.Error("info needs a title and a version")
	}
	if lookup(doc, "servers/kafka/protocol") != "kafka" ||
		!strings.Contains(str(lookup(doc, "servers/kafka/description")), "USERMGMT_KAFKA_BROKERS") {
		t.Errorf("servers/kafka = %v, want protocol kafka and hosts from USERMGMT_KAFKA_BROKERS", lookup(doc, "servers/kafka"))
	}
	if got := lookup(doc, "channels/userEvents/address"); got != "user-events" {
		t.Errorf("channels/userEvents/address = %v, want user-events", got)
	}
	if got := lookup(doc, "channels/userEvents/bindings/kafka/topic"); got != nil && got != "user-events" {
		t.Errorf("kafka channel binding topic = %v, want user-events", got)
	}

	// The channel's messages are exactly the types with a schema.
	msgs, _ := lookup(doc, "channels/userEvents/messages").(map[string]any)
	var names []string
	for id, m := range msgs {
		m := deref(t, doc, m)
		name := str(lookup(m, "name"))
		names = append(names, name)
		if id != name {
			t.Errorf("channel message %s is named %q", id, name)
		}
		checkMessage(t, v, name, m)
	}
	slices.Sort(names)
	if !slices.Equal(names, eventschema.Types()) {
		t.Errorf("messages %v, want one per type %v", names, eventschema.Types())
	}

	// publishUserEvents sends every one of them on userEvents.
	op := lookup(doc, "operations/publishUserEvents")
	if lookup(op, "action") != "send" || lookup(op, "channel/$ref") != "#/channels/userEvents" {
		t.Errorf("operations/publishUserEvents = action %v, channel %v; want send on #/channels/userEvents",
			lookup(op, "action"), lookup(op, "channel/$ref"))
	}
	refs, _ := lookup(op, "messages").([]any)
	var opNames []string
	for _, r := range refs {
		ref := str(lookup(r, "$ref"))
		name, ok := strings.CutPrefix(ref, "#/channels/userEvents/messages/")
		if !ok {
			t.Errorf("operation message %s is not one of the channel's", ref)
		}
		deref(t, doc, r)
		opNames = append(opNames, name)
	}
	slices.Sort(opNames)
	if !slices.Equal(opNames, eventschema.Types()) {
		t.Errorf("publishUserEvents sends %v, want %v", opNames, eventschema.Types())
	}

	checkRefs(t, doc, doc, "")
}

// checkMessage checks one message: headers, payload schema, examples.
func checkMessage(t *testing.T, v *eventschema.Validator, name string, m any) {
	t.Helper()
	h := lookup(m, "headers")
	if lookup(h, "properties/ce_type/const") != name || lookup(h, "properties/ce_id") == nil {
		t.Errorf("%s: headers need ce_type (const %s) and ce_id: %v", name, name, h)
	}
	if req, _ := lookup(h, "required").([]any); !slices.Contains(req, any("ce_type")) || !slices.Contains(req, any("ce_id")) {
		t.Errorf("%s: headers must require ce_type and ce_id", name)
	}

	// The payload is the envelope, with data following the type's schema.
	p := lookup(m, "payload")
	var envelope, data any
	parts, _ := lookup(p, "allOf").([]any)
	for _, part := range append(parts, p) {
		if lookup(part, "$ref") == schemaRef(eventschema.Envelope) || lookup(part, "$id") == eventschema.BaseURL+"envelope.json" {
			envelope = part
		}
		if d := lookup(part, "properties/data"); d != nil {
			data = d
		}
		if c := lookup(part, "properties/type/const"); c != nil && c != name {
			t.Errorf("%s: payload type const %v", name, c)
		}
	}
	if envelope == nil {
		t.Errorf("%s: payload is not the envelope (%s)", name, schemaRef(eventschema.Envelope))
	} else {
		checkSchemaIs(t, name+" envelope", envelope, eventschema.Envelope)
	}
	if data == nil {
		t.Errorf("%s: payload has no data schema", name)
	} else {
		checkSchemaIs(t, name+" data", data, name)
	}

	// Every example is a valid event of the type, its headers matching.
	examples, _ := lookup(m, "examples").([]any)
	for i, ex := range examples {
		b, err := json.Marshal(lookup(ex, "payload"))
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Validate(b); err != nil {
			t.Errorf("%s example %d: %v", name, i, err)
		}
		if lookup(ex, "payload/type") != name || lookup(ex, "headers/ce_type") != name || lookup(ex, "headers/ce_id") != lookup(ex, "payload/id") {
			t.Errorf("%s example %d: type %v, ce_type %v, ce_id %v, id %v", name, i,
				lookup(ex, "payload/type"), lookup(ex, "headers/ce_type"), lookup(ex, "headers/ce_id"), lookup(ex, "payload/id"))
		}
	}
}

// checkRefs fails on a $ref that leads nowhere: a local pointer into doc,
// or a file beside docs/.
func checkRefs(t *testing.T, doc map[string]any, v any, where string) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["$ref"].(string); ok {
			if p, local := strings.CutPrefix(ref, "#/"); local {
				if lookup(doc, p) == nil {
					t.Errorf("%s: $ref %s resolves to nothing", where, ref)
				}
			} else if _, err := os.Stat(filepath.Join(filepath.Dir(asyncAPIFile), filepath.FromSlash(path.Clean(ref)))); err != nil {
				t.Errorf("%s: $ref %s: %v", where, ref, err)
			}
		}
		for k, c := range x {
			checkRefs(t, doc, c, where+"/"+k)
		}
	case []any:
		for i, c := range x {
			checkRefs(t, doc, c, where+"/"+strconv.Itoa(i))
		}
	}
}
