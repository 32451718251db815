package httpapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// buildOpenAPI renders the OpenAPI 3.1 document of the route table. Request
// and response schemas come from the DTO types by reflection (json names,
// omitempty, validate bounds), and each route's error statuses from its
// shape and the error kinds it declares, so the document cannot drift from
// what is decoded and answered.
func buildOpenAPI(routes []route, version string) ([]byte, error) {
	if version == "" {
		version = "dev"
	}
	paths := map[string]map[string]any{}
	problems := map[string]any{}
	for _, rt := range routes {
		op := map[string]any{
			"summary":     rt.summary,
			"tags":        []string{rt.tag},
			"operationId": operationID(rt.method, rt.path),
			"responses":   responses(rt, problems),
		}
		if rt.authed != nil {
			op["security"] = []map[string][]string{{"bearer": {}}}
			// Who may call it: the account's owner or a permission (AC-01).
			op["x-permission"] = string(rt.perm)
			if rt.owner {
				op["x-permission"] = "owner"
			}
		} else {
			op["security"] = []map[string][]string{}
		}
		params := pathParams(rt.path)
		if rt.query != nil {
			params = append(params, queryParams(rt.query)...)
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.body != nil {
			op["requestBody"] = map[string]any{
				"required": !rt.bodyOptional,
				"content":  map[string]any{fiber.MIMEApplicationJSON: map[string]any{"schema": schemaOf(reflect.TypeOf(rt.body), false)}},
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
			"schemas":         map[string]any{"Problem": schemaOf(reflect.TypeOf(Problem{}), true)},
			"responses":       problems,
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// responses lists the success answer of rt and every problem it can
// answer, each a reference to the problem of that status in problems,
// which it adds when missing. There is no default: a status the
// document does not list is a status the route never answers.
func responses(rt route, problems map[string]any) map[string]any {
	ok := map[string]any{"description": rt.summary}
	switch {
	case rt.resp != nil && rt.altResp != nil:
		ok["content"] = map[string]any{fiber.MIMEApplicationJSON: map[string]any{"schema": map[string]any{
			"oneOf": []any{schemaOf(reflect.TypeOf(rt.resp), true), schemaOf(reflect.TypeOf(rt.altResp), true)}}}}
	case rt.resp != nil:
		ok["content"] = map[string]any{fiber.MIMEApplicationJSON: map[string]any{"schema": schemaOf(reflect.TypeOf(rt.resp), true)}}
	case rt.rawResp.mediaType != "":
		ok["description"] = rt.rawResp.description
		ok["content"] = map[string]any{rt.rawResp.mediaType: map[string]any{"schema": map[string]any{"type": "object"}}}
	}
	out := map[string]any{strconv.Itoa(rt.status): ok}
	for _, status := range errorStatuses(rt) {
		name := "Problem" + strconv.Itoa(status)
		if problems[name] == nil {
			problems[name] = problemResponse(status)
		}
		out[strconv.Itoa(status)] = map[string]any{"$ref": "#/components/responses/" + name}
	}
	return out
}

// errorStatuses are the statuses of the problems rt can answer: those of
// every route (a User-Agent with control characters, IV-06; a failure),
// those of its shape (a body, a bearer token, a path parameter), and those
// of the error kinds its use case declares.
func errorStatuses(rt route) []int {
	out := []int{fiber.StatusBadRequest, fiber.StatusInternalServerError}
	if rt.body != nil {
		out = append(out, fiber.StatusRequestEntityTooLarge, fiber.StatusUnsupportedMediaType)
	}
	if rt.authed != nil {
		out = append(out, fiber.StatusUnauthorized)
	}
	if len(pathParams(rt.path)) > 0 {
		out = append(out, fiber.StatusNotFound)
	}
	for _, k := range rt.fails {
		out = append(out, statusOf[k])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// problemResponse is the answer of a problem of status: the Problem schema,
// whose status member is the HTTP status (LO-01).
func problemResponse(status int) map[string]any {
	return map[string]any{
		"description": http.StatusText(status) + ": an RFC 9457 problem",
		"content": map[string]any{mimeProblem: map[string]any{"schema": map[string]any{"allOf": []any{
			map[string]any{"$ref": "#/components/schemas/Problem"},
			map[string]any{"properties": map[string]any{"status": map[string]any{"const": status}}},
		}}}},
	}
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

// schemaOf is the JSON Schema of a DTO type, as a request decodes it or,
// when answer is set, as a response encodes it: a request must carry the
// fields its validate tags require, a response always carries those
// without omitempty.
func schemaOf(t reflect.Type, answer bool) map[string]any {
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
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), answer)}
	case reflect.Map:
		return map[string]any{"type": "object"}
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		addFields(t, answer, props, &required)
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	default:
		return map[string]any{}
	}
}

func addFields(t reflect.Type, answer bool, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			addFields(f.Type, answer, props, required)
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		s := schemaOf(f.Type, answer)
		if answer && !slices.Contains(strings.Split(opts, ","), "omitempty") {
			*required = append(*required, name)
		}
		for _, rule := range strings.Split(f.Tag.Get("validate"), ",") {
			k, v, _ := strings.Cut(rule, "=")
			switch k {
			case "required":
				if !answer {
					*required = append(*required, name)
				}
			case "max":
				if n, err := strconv.Atoi(v); err == nil && s["type"] == "string" {
					s["maxLength"] = n
				}
			}
		}
		props[name] = s
	}
}
