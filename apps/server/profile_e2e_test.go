package main_test

import (
	"strings"
	"testing"
	"time"
)

// TestE2E_Profile: the owner sets an avatar, a locale and a time zone, and
// 16 KiB of preferences, reads them back from the database, clears one,
// and is refused a zone that is not a place; every answer is held to
// /openapi.json, and the changes go out as user.updated.
func TestE2E_Profile(t *testing.T) {
	backends(t, func(t *testing.T, env []string) {
		s := start(t, env...)
		reg := s.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": "ada@example.com", "username": "ada", "password": pw})
		if reg.status != 201 {
			t.Fatalf("register: %d %s", reg.status, reg.raw)
		}
		at := reg.str("accessToken")
		if me := s.call(t, "GET", "/v1/users/me", at, nil); me.body["avatarUrl"] != nil || me.body["locale"] != nil || me.body["timeZone"] != nil {
			t.Fatalf("a new account has profile fields: %s", me.raw)
		}

		prefs := map[string]any{"theme": "dark", "notes": strings.Repeat("n", 16<<10-len(`{"notes":"","theme":"dark"}`))}
		upd := s.call(t, "PATCH", "/v1/users/me", at, map[string]any{"avatarUrl": "https://cdn.example.com/ada.png?s=128",
			"locale": "en-gb", "timeZone": "Europe/London", "preferences": prefs})
		if upd.status != 200 {
			t.Fatalf("patch me: %d %s", upd.status, upd.raw)
		}
		me := s.call(t, "GET", "/v1/users/me", at, nil)
		for f, want := range map[string]string{"avatarUrl": "https://cdn.example.com/ada.png?s=128", "locale": "en-GB", "timeZone": "Europe/London"} {
			if upd.str(f) != want || me.str(f) != want {
				t.Errorf("%s: patch answered %q, me %q; want %q", f, upd.str(f), me.str(f), want)
			}
		}
		if got, _ := me.body["preferences"].(map[string]any); got["notes"] != prefs["notes"] || got["theme"] != "dark" {
			t.Errorf("16 KiB of preferences did not round-trip: %d keys", len(got))
		}
		if r := s.call(t, "PATCH", "/v1/users/me", at, map[string]any{"preferences": map[string]any{"x": 1}}); r.status != 400 {
			t.Errorf("a key past 16 KiB: %d %s", r.status, r.raw)
		}

		if r := s.call(t, "PATCH", "/v1/users/me", at, map[string]any{"avatarUrl": ""}); r.status != 200 || r.body["avatarUrl"] != nil {
			t.Fatalf("clear avatar: %d %s", r.status, r.raw)
		}
		if me := s.call(t, "GET", "/v1/users/me", at, nil); me.body["avatarUrl"] != nil || me.str("locale") != "en-GB" {
			t.Errorf("after clearing the avatar: %s", me.raw)
		}

		bad := s.call(t, "PATCH", "/v1/users/me", at, map[string]any{"timeZone": "Local"})
		if bad.status != 400 || bad.header.Get("Content-Type") != "application/problem+json" || !strings.Contains(bad.raw, `"field":"timeZone"`) {
			t.Errorf("time zone Local: %d %s", bad.status, bad.raw)
		}

		// Without Kafka the relay logs each event it publishes.
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(s.logs.String(), `"type":"user.updated"`) < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("two user.updated events were not published:\n%s", s.logs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
