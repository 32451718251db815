package httpapi_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/usermgmt/usermgmt/core/user"
)

func TestUpdateMe_Profile(t *testing.T) {
	s := newServer(t)
	auth := []string{"Authorization", "Bearer " + s.register(t, "ada@example.com", "ada")["accessToken"].(string)}

	fresh := s.do(t, "GET", "/v1/users/me", nil, auth...).json(t)
	for _, f := range []string{"avatarUrl", "locale", "timeZone"} {
		if _, ok := fresh[f]; ok {
			t.Errorf("an unset %s is in the answer: %v", f, fresh)
		}
	}

	r := s.do(t, "PATCH", "/v1/users/me", map[string]any{"avatarUrl": "https://cdn.example.com/ada.png",
		"locale": "en-gb", "timeZone": "Europe/London"}, auth...)
	if r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	want := map[string]any{"avatarUrl": "https://cdn.example.com/ada.png", "locale": "en-GB", "timeZone": "Europe/London"}
	for _, got := range []map[string]any{r.json(t), s.do(t, "GET", "/v1/users/me", nil, auth...).json(t)} {
		for f, v := range want {
			if got[f] != v {
				t.Errorf("%s = %v, want %v", f, got[f], v)
			}
		}
	}

	// An absent field stays; an empty one clears.
	r = s.do(t, "PATCH", "/v1/users/me", map[string]any{"avatarUrl": "", "locale": ""}, auth...)
	got := r.json(t)
	if _, ok := got["avatarUrl"]; ok || r.status != 200 || got["locale"] != nil || got["timeZone"] != "Europe/London" {
		t.Errorf("clear: %d %s", r.status, r.body)
	}

	// Preferences of 16 KiB fit; a byte more is refused.
	fits := map[string]any{"k": strings.Repeat("a", user.MaxPreferencesBytes-8)}
	if r := s.do(t, "PATCH", "/v1/users/me", map[string]any{"preferences": fits}, auth...); r.status != 200 {
		t.Errorf("16 KiB of preferences: %d %s", r.status, r.body)
	}
	over := map[string]any{"k": strings.Repeat("a", user.MaxPreferencesBytes-7)}
	wantFieldProblem(t, s.do(t, "PATCH", "/v1/users/me", map[string]any{"preferences": over}, auth...), "validation_failed", "preferences")
}

func TestUpdateMe_ProfileRefusals(t *testing.T) {
	s := newServer(t)
	auth := []string{"Authorization", "Bearer " + s.register(t, "ada@example.com", "ada")["accessToken"].(string)}
	tests := []struct {
		body  string
		typ   string
		field string
	}{
		{`{"avatarUrl":"http://cdn.example.com/a.png"}`, "validation_failed", "avatarUrl"},
		{`{"avatarUrl":"https://u:p@cdn.example.com/a.png"}`, "validation_failed", "avatarUrl"},
		{`{"avatarUrl":"https://cdn.example.com/` + strings.Repeat("a", 2048) + `"}`, "validation_failed", "avatarUrl"},
		{`{"locale":"english"}`, "validation_failed", "locale"},
		{`{"locale":"en_US"}`, "validation_failed", "locale"},
		{`{"timeZone":"Local"}`, "validation_failed", "timeZone"},
		{`{"timeZone":"/etc/localtime"}`, "validation_failed", "timeZone"},
		{`{"timeZone":"Mars/Olympus_Mons"}`, "validation_failed", "timeZone"},
		{`{"timeZone":"Europe/Paris\u0000"}`, "validation_failed", "timeZone"},
		{`{"avatarUrl":null,"locale":42}`, "http.malformed_json", "locale"},
		// Mass assignment stays impossible (AC-03).
		{`{"emailVerified":true}`, "http.malformed_json", "emailVerified"},
		{`{"avatarURL":"https://cdn.example.com/a.png"}`, "http.malformed_json", "avatarURL"},
		{`{"timezone":"Europe/Paris"}`, "http.malformed_json", "timezone"},
	}
	for _, tc := range tests {
		wantFieldProblem(t, s.do(t, "PATCH", "/v1/users/me", tc.body, auth...), tc.typ, tc.field)
	}
	if me := s.do(t, "GET", "/v1/users/me", nil, auth...).json(t); me["timeZone"] != nil || me["avatarUrl"] != nil || me["emailVerified"] != false {
		t.Errorf("a refused update changed the account: %v", me)
	}
}

// wantFieldProblem checks a 400 problem of type typ that names field.
func wantFieldProblem(t *testing.T, r response, typ, field string) {
	t.Helper()
	p := wantProblem(t, r, 400, typ)
	var fields []string
	for _, e := range p["errors"].([]any) {
		fields = append(fields, e.(map[string]any)["field"].(string))
	}
	if !slices.Contains(fields, field) {
		b, _ := json.Marshal(p)
		t.Errorf("problem does not name %s: %s", field, b)
	}
}

// The answer's optional profile fields are optional in the document too,
// and the request documents the bounds the transport applies.
func TestOpenAPI_ProfileFields(t *testing.T) {
	s := newServer(t)
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody struct {
				Content map[string]struct{ Schema schema }
			}
			Responses map[string]struct {
				Content map[string]struct{ Schema schema }
			}
		}
	}
	if err := json.Unmarshal(s.do(t, "GET", "/openapi.json", nil).body, &doc); err != nil {
		t.Fatal(err)
	}
	op := doc.Paths["/v1/users/me"]["patch"]
	req := op.RequestBody.Content["application/json"].Schema
	resp := op.Responses["200"].Content["application/json"].Schema
	for f, max := range map[string]int{"avatarUrl": 2048, "locale": 64, "timeZone": 64} {
		if p, ok := req.Properties[f]; !ok || p.Type != "string" || p.MaxLength != max {
			t.Errorf("request %s: %+v", f, p)
		}
		if p, ok := resp.Properties[f]; !ok || p.Type != "string" || slices.Contains(resp.Required, f) {
			t.Errorf("response %s: %+v (required %v)", f, p, resp.Required)
		}
	}
	if len(req.Required) != 0 || req.AdditionalProperties {
		t.Errorf("request schema: required %v, additionalProperties %v", req.Required, req.AdditionalProperties)
	}
}

type schema struct {
	Type                 string
	MaxLength            int
	Required             []string
	AdditionalProperties bool
	Properties           map[string]schema
}
