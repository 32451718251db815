package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/usermgmt/usermgmt/adapters/memory"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/user"
)

// AC-01: every route the router serves declares who may call it: public,
// the account's owner, or a permission. A route mounted outside the table,
// or declared without access, fails here.
func TestRoutesDeclareAccess_AC01(t *testing.T) {
	s := newServer(t)
	access := s.api.AccessForTest()
	served := 0
	for _, r := range s.app.GetRoutes(true) {
		if r.Method == "USE" || r.Method == "HEAD" {
			continue
		}
		served++
		a, ok := access[r.Method+" "+r.Path]
		switch {
		case !ok:
			t.Errorf("%s %s is served but not in the route table", r.Method, r.Path)
		case a == "":
			t.Errorf("%s %s declares no access", r.Method, r.Path)
		case a != "public" && a != "owner" && !role.Known(role.Permission(a)):
			t.Errorf("%s %s declares the unknown permission %q", r.Method, r.Path, a)
		case strings.HasPrefix(r.Path, "/v1/admin/") || strings.HasPrefix(r.Path, "/v1/audit"):
			if a == "public" || a == "owner" {
				t.Errorf("%s %s is an administration route open to %s", r.Method, r.Path, a)
			}
		}
	}
	if served != len(access) {
		t.Errorf("the router serves %d routes, the table declares %d", served, len(access))
	}
}

// staff registers an account holding roles and returns its id and a
// bearer header value.
func (s *server) staff(t *testing.T, name string, roles ...string) (string, string) {
	t.Helper()
	res := s.register(t, name+"@example.com", name)
	u := res["user"].(map[string]any)
	id := u["id"].(string)
	if len(roles) > 0 {
		if _, err := memory.NewUsers(s.store).Update(t.Context(), user.ID(id), func(u *user.User) error {
			_, err := u.ReplaceRoles(nil, roles, u.UpdatedAt())
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	return id, "Bearer " + res["accessToken"].(string)
}

func TestAdminUsersHTTP(t *testing.T) {
	s := newServer(t)
	_, adm := s.staff(t, "admin1", role.Admin)
	_, support := s.staff(t, "helper", role.Support)
	bob, bobAuth := s.staff(t, "bobby")

	r := s.do(t, "GET", "/v1/admin/users?q=BOBBY", nil, "Authorization", adm)
	if r.status != 200 {
		t.Fatalf("search: %d %s", r.status, r.body)
	}
	page := r.json(t)
	if items := page["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != bob {
		t.Fatalf("search q=BOBBY: %s", r.body)
	}
	for q, field := range map[string]string{"limit=0": "limit", "limit=x": "limit", "sort=name": "sort", "order=up": "order",
		"status=gone": "status", "createdAfter=yesterday": "createdAfter", "colour=red": "colour", "q=a&q=b": "q",
		"mfaEnabled=1": "mfaEnabled", "cursor=abc": "cursor"} {
		p := wantProblem(t, s.do(t, "GET", "/v1/admin/users?"+q, nil, "Authorization", adm), 400, "")
		errsOf, _ := p["errors"].([]any)
		if len(errsOf) == 0 || errsOf[0].(map[string]any)["field"] != field {
			t.Errorf("?%s: %v, want an error naming %s", q, p["errors"], field)
		}
	}
	wantProblem(t, s.do(t, "GET", "/v1/admin/users", nil, "Authorization", bobAuth), 403, "auth.permission_denied")

	path := "/v1/admin/users/" + bob + "/deactivate"
	wantProblem(t, s.do(t, "POST", path, map[string]string{"reason": "x"}, "Authorization", support), 403, "auth.permission_denied")
	wantProblem(t, s.do(t, "POST", path, map[string]any{}, "Authorization", adm), 400, "")
	r = s.do(t, "POST", path, map[string]string{"reason": "spam reports"}, "Authorization", adm)
	if r.status != 200 || r.json(t)["status"] != "inactive" {
		t.Fatalf("deactivate: %d %s", r.status, r.body)
	}
	wantProblem(t, s.do(t, "GET", "/v1/users/me", nil, "Authorization", bobAuth), 401, "")

	// AC-03: the admin edit is strict too.
	wantProblem(t, s.do(t, "PATCH", "/v1/admin/users/"+bob, map[string]any{"roles": []string{"admin"}}, "Authorization", adm), 400, "")
	r = s.do(t, "PATCH", "/v1/admin/users/"+bob, map[string]any{"displayName": "Bob B."}, "Authorization", adm)
	if r.status != 200 || r.json(t)["displayName"] != "Bob B." {
		t.Fatalf("edit: %d %s", r.status, r.body)
	}
	wantProblem(t, s.do(t, "GET", "/v1/admin/users/00000000-0000-7000-8000-000000000000", nil, "Authorization", adm), 404, "")

	r = s.do(t, "POST", "/v1/admin/users/bulk", map[string]any{"action": "activate", "ids": []string{bob, "nobody"}}, "Authorization", adm)
	if r.status != 200 {
		t.Fatalf("bulk: %d %s", r.status, r.body)
	}
	var bulk struct {
		Results []struct {
			ID, Status string
			Error      *struct{ Status int }
		}
	}
	if err := json.Unmarshal(r.body, &bulk); err != nil || len(bulk.Results) != 2 || bulk.Results[0].Status != "changed" ||
		bulk.Results[1].Status != "failed" || bulk.Results[1].Error == nil || bulk.Results[1].Error.Status != 404 {
		t.Fatalf("bulk results: %s", r.body)
	}
}

func TestAdminRolesAndAuditHTTP(t *testing.T) {
	s := newServer(t)
	_, root := s.staff(t, "root1", role.SuperAdmin)
	_, adm := s.staff(t, "admin1", role.Admin)
	bob, _ := s.staff(t, "bobby")

	r := s.do(t, "POST", "/v1/admin/roles", map[string]any{"name": "auditor", "permissions": []string{"audit:read"}}, "Authorization", adm)
	if r.status != 201 {
		t.Fatalf("create role: %d %s", r.status, r.body)
	}
	wantProblem(t, s.do(t, "POST", "/v1/admin/roles", map[string]any{"name": "keys", "permissions": []string{"apikeys:manage"}},
		"Authorization", adm), 403, "auth.escalation")
	wantProblem(t, s.do(t, "PUT", "/v1/admin/users/"+bob+"/roles", map[string]any{"roles": []string{"superadmin"}},
		"Authorization", adm), 403, "auth.escalation")
	r = s.do(t, "PUT", "/v1/admin/users/"+bob+"/roles", map[string]any{"roles": []string{"auditor"}}, "Authorization", adm)
	if r.status != 200 || !strings.Contains(string(r.body), `"auditor"`) {
		t.Fatalf("set roles: %d %s", r.status, r.body)
	}
	wantProblem(t, s.do(t, "DELETE", "/v1/admin/roles/auditor", nil, "Authorization", adm), 409, "role.in_use")
	r = s.do(t, "GET", "/v1/admin/roles", nil, "Authorization", adm)
	if r.status != 200 || !strings.Contains(string(r.body), `"superadmin"`) || !strings.Contains(string(r.body), `"auditor"`) {
		t.Fatalf("list roles: %d %s", r.status, r.body)
	}

	// The trail holds the role change, with who, from where and which request.
	wantProblem(t, s.do(t, "GET", "/v1/audit", nil, "Authorization", adm+"x"), 401, "")
	r = s.do(t, "GET", "/v1/audit?action=user.updated&target="+url.QueryEscape(bob), nil, "Authorization", root)
	if r.status != 200 {
		t.Fatalf("audit: %d %s", r.status, r.body)
	}
	var trail struct {
		Items []struct {
			Actor                         struct{ Type, ID string }
			Action, Target, RequestID, IP string
			Details                       map[string]string
			Hash, PrevHash                string
		}
	}
	if err := json.Unmarshal(r.body, &trail); err != nil || len(trail.Items) == 0 {
		t.Fatalf("audit page: %s", r.body)
	}
	e := trail.Items[0]
	if e.Actor.Type != "user" || e.Actor.ID == "" || e.RequestID == "" || e.Hash == "" || e.Target != bob {
		t.Errorf("audit entry %+v lacks who, what or which request", e)
	}
	r = s.do(t, "GET", "/v1/audit/export?action=user.created", nil, "Authorization", root)
	if r.status != 200 || r.header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("export: %d %s", r.status, r.body)
	}
	lines := 0
	for sc := bufio.NewScanner(bytes.NewReader(r.body)); sc.Scan(); lines++ {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["action"] != "user.created" {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
	}
	if lines != 3 { // root1, admin1, bobby
		t.Errorf("exported %d user.created entries, want 3", lines)
	}
	_, plain := s.staff(t, "plain")
	wantProblem(t, s.do(t, "GET", "/v1/audit/export", nil, "Authorization", plain), 403, "auth.permission_denied")

	// Ending every session is one action of its own in the trail, beside
	// the logouts it causes.
	if r := s.do(t, "DELETE", "/v1/admin/sessions", nil, "Authorization", root); r.status != 200 {
		t.Fatalf("end all: %d %s", r.status, r.body)
	}
	_, root2 := s.staff(t, "root2", role.SuperAdmin)
	r = s.do(t, "GET", "/v1/audit?action=admin.sessions.end_all", nil, "Authorization", root2)
	if r.status != 200 || !strings.Contains(string(r.body), `"admin.sessions.end_all"`) {
		t.Fatalf("the end-all action in the trail: %d %s", r.status, r.body)
	}
}
