package main_test

import (
	"net/url"
	"strings"
	"testing"
)

// signIn registers an account (or, with an empty username, only signs in)
// and returns its id, access and refresh tokens.
func signIn(t *testing.T, s *proc, email, username string) (id, access, refresh string) {
	t.Helper()
	path, body := "/v1/auth/login", map[string]string{"identifier": email, "password": pw}
	if username != "" {
		path, body = "/v1/auth/register", map[string]string{"email": email, "username": username, "password": pw}
	}
	r := s.call(t, "POST", path, "", body)
	if r.status != 200 && r.status != 201 {
		t.Fatalf("%s %s: %d %s", path, email, r.status, r.raw)
	}
	return r.body["user"].(map[string]any)["id"].(string), r.str("accessToken"), r.str("refreshToken")
}

// TestE2E_Administration runs the staff's day through the real binary on
// SQLite and Postgres: roles (AC-05, AC-06), the lifecycle, search, bulk
// (AC-04) and the audit trail of it all.
func TestE2E_Administration(t *testing.T) {
	backends(t, func(t *testing.T, env []string) {
		s := start(t, append(env, "USERMGMT_ADMIN_EMAIL=root@example.com", "USERMGMT_ADMIN_PASSWORD="+pw)...)
		_, root, _ := signIn(t, s, "root@example.com", "")
		ada, adaAccess, adaRefresh := signIn(t, s, "ada@example.com", "ada")
		bob, bobAccess, bobRefresh := signIn(t, s, "bob@example.com", "bob")
		cyd, _, _ := signIn(t, s, "cyd@example.com", "cyd")
		mgr, _, _ := signIn(t, s, "mgr@example.com", "mgr")

		if r := s.call(t, "PUT", "/v1/admin/users/"+mgr+"/roles", root, map[string]any{"roles": []string{"admin"}}); r.status != 200 {
			t.Fatalf("make an admin: %d %s", r.status, r.raw)
		}
		_, mgrAccess, _ := signIn(t, s, "mgr@example.com", "")
		// AC-05: an admin grants no superadmin, touches no peer.
		if r := s.call(t, "PUT", "/v1/admin/users/"+ada+"/roles", mgrAccess, map[string]any{"roles": []string{"superadmin"}}); r.status != 403 {
			t.Fatalf("an admin granted superadmin: %d %s", r.status, r.raw)
		}
		if r := s.call(t, "POST", "/v1/admin/users/"+mgr+"/deactivate", mgrAccess, map[string]string{"reason": "self"}); r.status != 403 {
			t.Fatalf("an admin deactivated themselves: %d %s", r.status, r.raw)
		}

		// AC-06: a role change stops the old token at once; refresh
		// carries the new roles.
		if r := s.call(t, "PUT", "/v1/admin/users/"+ada+"/roles", mgrAccess, map[string]any{"roles": []string{"support"}}); r.status != 200 {
			t.Fatalf("set ada's roles: %d %s", r.status, r.raw)
		}
		if r := s.call(t, "GET", "/v1/auth/verify", adaAccess, nil); r.status != 401 {
			t.Fatalf("ada's token before the change: %d, want 401", r.status)
		}
		ref := s.call(t, "POST", "/v1/auth/refresh", "", map[string]string{"refreshToken": adaRefresh})
		if ref.status != 200 {
			t.Fatalf("ada's refresh after the change: %d %s", ref.status, ref.raw)
		}
		if r := s.call(t, "GET", "/v1/auth/verify", ref.str("accessToken"), nil); r.status != 200 || !strings.Contains(r.header.Get("X-User-Roles"), "support") {
			t.Fatalf("the refreshed token: %d roles %q", r.status, r.header.Get("X-User-Roles"))
		}
		if r := s.call(t, "GET", "/v1/audit", ref.str("accessToken"), nil); r.status != 200 {
			t.Fatalf("support reads the trail: %d %s", r.status, r.raw)
		}

		// Deactivation ends bob's sign-in everywhere at once.
		if r := s.call(t, "POST", "/v1/admin/users/"+bob+"/deactivate", mgrAccess, map[string]string{"reason": "abuse report 7"}); r.status != 200 {
			t.Fatalf("deactivate: %d %s", r.status, r.raw)
		}
		if r := s.call(t, "GET", "/v1/auth/verify", bobAccess, nil); r.status != 401 {
			t.Fatalf("bob's token after deactivation: %d", r.status)
		}
		if r := s.call(t, "POST", "/v1/auth/refresh", "", map[string]string{"refreshToken": bobRefresh}); r.status != 401 {
			t.Fatalf("bob's refresh after deactivation: %d", r.status)
		}
		if r := s.call(t, "DELETE", "/v1/admin/users/"+bob, mgrAccess, map[string]string{"reason": "asked to leave"}); r.status != 200 || r.str("status") != "deleted" {
			t.Fatalf("delete: %d %s", r.status, r.raw)
		}
		if r := s.call(t, "GET", "/v1/admin/users?q=bob", mgrAccess, nil); r.status != 200 || len(r.body["items"].([]any)) != 0 {
			t.Fatalf("a deleted account in the default search: %s", r.raw)
		}
		if r := s.call(t, "GET", "/v1/admin/users?q=bob&status=deleted", mgrAccess, nil); r.status != 200 || len(r.body["items"].([]any)) != 1 {
			t.Fatalf("search for deleted accounts: %s", r.raw)
		}
		if r := s.call(t, "POST", "/v1/admin/users/"+bob+"/restore", mgrAccess, nil); r.status != 200 || r.str("status") != "inactive" {
			t.Fatalf("restore: %d %s", r.status, r.raw)
		}

		// AC-04: one item the caller may not touch fails alone.
		r := s.call(t, "POST", "/v1/admin/users/bulk", mgrAccess, map[string]any{"action": "deactivate", "reason": "cleanup",
			"ids": []string{cyd, mgr, ada}})
		if r.status != 200 {
			t.Fatalf("bulk: %d %s", r.status, r.raw)
		}
		var statuses []string
		for _, x := range r.body["results"].([]any) {
			statuses = append(statuses, x.(map[string]any)["status"].(string))
		}
		if strings.Join(statuses, ",") != "changed,failed,changed" {
			t.Fatalf("bulk statuses %v: %s", statuses, r.raw)
		}

		// Keyset pages: every account once, in order.
		seen, cursor := map[string]bool{}, ""
		for range 10 {
			path := "/v1/admin/users?limit=2&sort=email&status=active"
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			page := s.call(t, "GET", path, root, nil)
			if page.status != 200 {
				t.Fatalf("page: %d %s", page.status, page.raw)
			}
			for _, it := range page.body["items"].([]any) {
				id := it.(map[string]any)["id"].(string)
				if seen[id] {
					t.Fatalf("account %s listed twice", id)
				}
				seen[id] = true
			}
			if cursor = page.str("nextCursor"); cursor == "" {
				break
			}
		}
		if len(seen) != 2 { // root and mgr are the active ones left
			t.Fatalf("paged through %d active accounts, want 2", len(seen))
		}

		// The trail: who did what to bob, from where, in which request.
		trail := s.call(t, "GET", "/v1/audit?target="+bob+"&actor="+mgr, root, nil)
		if trail.status != 200 {
			t.Fatalf("audit: %d %s", trail.status, trail.raw)
		}
		var actions []string
		for _, it := range trail.body["items"].([]any) {
			e := it.(map[string]any)
			if e["ip"] == "" || e["requestId"] == "" {
				t.Errorf("entry without address or request id: %v", e)
			}
			actions = append(actions, e["action"].(string))
		}
		for _, want := range []string{"user.deactivated", "user.deleted", "user.updated", "user.logout"} {
			if !strings.Contains(strings.Join(actions, " "), want) {
				t.Errorf("the trail of bob lacks %s: %v", want, actions)
			}
		}
		if r := s.call(t, "GET", "/v1/audit", mgrAccess, nil); r.status != 200 {
			t.Fatalf("an admin reads the trail: %d", r.status)
		}

		// LO-03: a failed sign-in and a refusal are in the trail too.
		if r := s.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "root@example.com", "password": "wrong " + pw}); r.status != 401 {
			t.Fatalf("a wrong password: %d", r.status)
		}
		rootID := s.call(t, "GET", "/v1/users/me", root, nil).str("id")
		failed := s.call(t, "GET", "/v1/audit?action=user.login&outcome=failure&target="+rootID, root, nil)
		if failed.status != 200 || len(failed.body["items"].([]any)) != 1 {
			t.Fatalf("the failed sign-in in the trail: %d %s", failed.status, failed.raw)
		}
		refused := s.call(t, "GET", "/v1/audit?action=authz.refused&outcome=denied&actor="+mgr, root, nil)
		if refused.status != 200 || len(refused.body["items"].([]any)) < 2 {
			t.Fatalf("the refusals of the admin in the trail: %d %s", refused.status, refused.raw)
		}
	})
}
