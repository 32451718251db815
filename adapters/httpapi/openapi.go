package httpapi

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// buildOpenAPI renders the OpenAPI 3.1 document of the route table. Request
// and response schemas come from the DTO types by reflection (json names,
// validate bounds), so the document cannot drift from what is decoded.
func buildOpenAPI(routes []route, version string) ([]byte, error) {
	if version == "" {
		version = "dev"
	}
	paths := map[string]map[string]any{}
	for _, rt := range routes {
		op := map[string]any{
			"summary":     rt.summary,
			"tags":        []string{rt.tag},
			"operationId": operationID(rt.method, rt.path),
			"responses":   responses(rt),
		}
		if rt.authed != nil {
			op["security"] = []map[string][]string{{"bearer": {}}}
		} else {
			op["security"] = []map[string][]string{}
		}
		if params := pathParams(rt.path); len(params) > 0 {
			op["parameters"] = params
		}
		if rt.body != nil {
			op["requestBody"] = map[string]any{
				"required": !rt.bodyOptional,
				"content":  map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.body))}},
			}
		}
		p := OpenAPIPath(rt.path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(rt.method)] = op
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "usermgmt",
			"version":     version,
			"description": "User management: accounts, passwords, sessions and tokens. Errors are RFC 9457 application/problem+json.",
		},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
			"schemas":         map[string]any{"Problem": schemaOf(reflect.TypeOf(Problem{}))},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

func responses(rt route) map[string]any {
	ok := map[string]any{"description": rt.summary}
	switch {
	case rt.resp != nil && rt.altResp != nil:
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{
			"oneOf": []any{schemaOf(reflect.TypeOf(rt.resp)), schemaOf(reflect.TypeOf(rt.altResp))}}}}
	case rt.resp != nil:
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.resp))}}
	case rt.rawResp != "":
		ok["description"] = rt.rawResp
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
	}
	problem := map[string]any{"description": "RFC 9457 problem",
		"content": map[string]any{"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}}
	return map[string]any{strconv.Itoa(rt.status): ok, "default": problem}
}

// OpenAPIPath turns a Fiber route (/users/:id) into an OpenAPI path
// template (/users/{id}).
func OpenAPIPath(route string) string {
	parts := strings.Split(route, "/")
	for i, p := range parts {
		if name, ok := strings.CutPrefix(p, ":"); ok {
			parts[i] = "{" + name + "}"
		}
	}
	return strings.Join(parts, "/")
}

func pathParams(route string) []map[string]any {
	var out []map[string]any
	for _, p := range strings.Split(route, "/") {
		if name, ok := strings.CutPrefix(p, ":"); ok {
			out = append(out, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
	}
	return out
}

func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, part := range strings.FieldsFunc(path, func(r rune) bool { return r == '/' || r == '.' || r == '-' || r == ':' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

var timeType = reflect.TypeOf(time.Time{})

// schemaOf is the JSON Schema of a DTO type.
func schemaOf(t reflect.Type) map[string]any {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object"}
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		addFields(t, props, &required)
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	default:
		return map[string]any{}
	}
}

func addFields(t reflect.Type, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			addFields(f.Type, props, required)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		s := schemaOf(f.Type)
		for _, rule := range strings.Split(f.Tag.Get("validate"), ",") {
			k, v, _ := strings.Cut(rule, "=")
			switch k {
			case "required":
				*required = append(*required, name)
			case "max":
				if n, err := strconv.Atoi(v); err == nil && s["type"] == "string" {
					s["maxLength"] = n
				}
			}
		}
		props[name] = s
	}
}
