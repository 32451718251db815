package httpapi_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/usermgmt/usermgmt/adapters/httpapi"
	"github.com/usermgmt/usermgmt/adapters/memory"
	"github.com/usermgmt/usermgmt/core/errs"
)

func TestOpenAPI_DocumentsEveryRoute(t *testing.T) {
	s := newServer(t)
	r := s.do(t, "GET", "/openapi.json", nil)
	// An independent reader of OpenAPI judges the document: its schemas,
	// references and responses must be valid OpenAPI 3.1.
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(r.body)
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("/openapi.json is not valid OpenAPI: %v", err)
	}
	n := 0
	for _, rt := range s.app.GetRoutes(true) {
		if rt.Method == "HEAD" || rt.Path == "/" || rt.Method == "USE" {
			continue // fiber adds HEAD for every GET; USE are middleware
		}
		n++
		item := doc.Paths.Value(httpapi.OpenAPIPath(rt.Path))
		if item == nil || item.GetOperation(rt.Method) == nil {
			t.Errorf("%s %s is served but not in /openapi.json", rt.Method, rt.Path)
		}
	}
	if n < 12 {
		t.Fatalf("only %d routes found", n)
	}
}

func TestProblems_LO01(t *testing.T) {
	s := newServer(t)
	tests := []struct {
		name        string
		method      string
		path        string
		body        any
		contentType string
		status      int
		typ         string
	}{
		{"unknown path", "GET", "/v1/nope", nil, "", 404, "http.not_found"},
		{"wrong method IV04", "DELETE", "/v1/auth/login", nil, "", 405, "http.method_not_allowed"},
		{"TRACE is off IV04", "TRACE", "/v1/auth/login", nil, "", 405, "http.method_not_allowed"},
		{"wrong content type IV01", "POST", "/v1/auth/login", `{"identifier":"a","password":"b"}`, "text/plain", 415, "http.unsupported_media_type"},
		{"malformed JSON", "POST", "/v1/auth/login", `{"identifier":`, "application/json", 400, "http.malformed_json"},
		{"duplicate key IV01", "POST", "/v1/auth/login", `{"identifier":"a","identifier":"b","password":"c"}`, "application/json", 400, "http.malformed_json"},
		{"unknown field AC03", "POST", "/v1/auth/register", `{"email":"a@b.co","username":"abc","password":"x","roles":["admin"]}`, "application/json", 400, "http.malformed_json"},
		{"trailing data", "POST", "/v1/auth/login", `{"identifier":"a","password":"b"} {}`, "application/json", 400, "http.malformed_json"},
		{"wrong type", "POST", "/v1/auth/login", `{"identifier":1,"password":"b"}`, "application/json", 400, "http.malformed_json"},
		{"missing fields", "POST", "/v1/auth/login", `{}`, "application/json", 400, "validation_failed"},
		{"no bearer", "GET", "/v1/users/me", nil, "", 401, "auth.unauthenticated"},
		{"bad bearer", "GET", "/v1/auth/verify", nil, "", 401, "auth.invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.contentType != "" {
				headers = append(headers, "Content-Type", tt.contentType)
			}
			if tt.name == "bad bearer" {
				headers = append(headers, "Authorization", "Bearer not.a.jwt")
			}
			r := s.do(t, tt.method, tt.path, tt.body, headers...)
			p := wantProblem(t, r, tt.status, tt.typ)
			if tt.status == 405 && r.header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q", r.header.Get("Allow"))
			}
			if tt.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if strings.Contains(string(r.body), "fiber") || strings.Contains(string(r.body), "Cannot ") {
				t.Errorf("framework internals leak: %s", r.body)
			}
			_ = p
		})
	}
}

func TestProblems_ValidationNamesEachField(t *testing.T) {
	s := newServer(t)
	// Header injection (IV-02) stops at the edge, as a control character.
	r := s.do(t, "POST", "/v1/auth/register", map[string]string{"email": "a@b.co\r\nBcc: evil@x.io", "username": "x", "password": "short"})
	if p := wantProblem(t, r, 400, "validation_failed"); !strings.Contains(string(r.body), `"field":"email"`) {
		t.Errorf("errors do not name email: %v", p)
	}
	r = s.do(t, "POST", "/v1/auth/register", map[string]string{"email": "a@b.co Bcc: evil@x.io", "username": "x", "password": "short"})
	p := wantProblem(t, r, 400, "validation_failed")
	got := map[string]bool{}
	for _, e := range p["errors"].([]any) {
		got[e.(map[string]any)["field"].(string)] = true
	}
	for _, f := range []string{"email", "username", "password"} {
		if !got[f] {
			t.Errorf("errors do not name %s: %s", f, r.body)
		}
	}
}

func TestProblems_StatusForEveryKind(t *testing.T) {
	want := map[errs.Kind]int{errs.Internal: 500, errs.Invalid: 400, errs.NotFound: 404, errs.Conflict: 409,
		errs.Unauthenticated: 401, errs.Forbidden: 403, errs.Precondition: 422, errs.RateLimited: 429, errs.Unavailable: 503}
	for k := errs.Internal; k <= errs.Unavailable; k++ {
		if _, ok := want[k]; !ok {
			t.Fatalf("kind %v has no expected status", k)
		}
	}
	for kind, status := range want {
		t.Run(kind.String(), func(t *testing.T) {
			r := renderError(t, errs.New(kind, "test.code", "a title"))
			p := wantProblem(t, r, status, "")
			if kind == errs.Internal {
				if strings.Contains(string(r.body), "a title") || strings.Contains(string(r.body), "test.code") {
					t.Errorf("internal error leaked: %s", r.body)
				}
			} else if p["type"] != "urn:usermgmt:problem:test.code" {
				t.Errorf("type = %v", p["type"])
			}
			if (status == 429 || status == 503) && r.header.Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
		})
	}
	t.Run("plain error is a generic 500", func(t *testing.T) {
		r := renderError(t, errors.New("pq: relation users does not exist at 10.0.0.5"))
		wantProblem(t, r, 500, "internal")
		if strings.Contains(string(r.body), "pq:") || strings.Contains(string(r.body), "10.0.0.5") {
			t.Errorf("internal error leaked: %s", r.body)
		}
	})
}

func TestRegisterLoginVerifyMe(t *testing.T) {
	s := newServer(t)
	reg := s.register(t, "Ada@Example.com", "ada")
	user := reg["user"].(map[string]any)
	if user["email"] != "ada@example.com" || user["status"] != "active" || reg["tokenType"] != "Bearer" || reg["expiresIn"].(float64) != 900 {
		t.Fatalf("register response: %v", reg)
	}
	r := s.do(t, "POST", "/v1/auth/login", map[string]string{"identifier": "ADA", "password": password})
	if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	at := r.json(t)["accessToken"].(string)
	v := s.do(t, "GET", "/v1/auth/verify", nil, "Authorization", "Bearer "+at)
	if v.status != 200 || v.header.Get("X-User-Id") != user["id"] || v.header.Get("X-User-Roles") != "user" {
		t.Fatalf("verify: %d %v %s", v.status, v.header, v.body)
	}
	me := s.do(t, "PATCH", "/v1/users/me", map[string]any{"displayName": "Ada L.", "preferences": map[string]any{"theme": "dark"}}, "Authorization", "Bearer "+at)
	if me.status != 200 || me.json(t)["displayName"] != "Ada L." {
		t.Fatalf("patch me: %d %s", me.status, me.body)
	}
	mass := s.do(t, "PATCH", "/v1/users/me", map[string]any{"emailVerified": true}, "Authorization", "Bearer "+at)
	wantProblem(t, mass, 400, "http.malformed_json")
	got := s.do(t, "GET", "/v1/users/me", nil, "Authorization", "Bearer "+at).json(t)
	if got["emailVerified"] != false || got["preferences"].(map[string]any)["theme"] != "dark" {
		t.Fatalf("me: %v", got)
	}
}

func TestLogin_NoEnumeration_LG01(t *testing.T) {
	s := newServer(t)
	s.register(t, "ada@example.com", "ada")
	unknown := s.do(t, "POST", "/v1/auth/login", map[string]string{"identifier": "nobody@example.com", "password": password})
	wrong := s.do(t, "POST", "/v1/auth/login", map[string]string{"identifier": "ada@example.com", "password": "not the password"})
	pu, pw := wantProblem(t, unknown, 401, "auth.invalid_credentials"), wantProblem(t, wrong, 401, "auth.invalid_credentials")
	delete(pu, "requestId")
	delete(pw, "requestId")
	a, _ := json.Marshal(pu)
	b, _ := json.Marshal(pw)
	if string(a) != string(b) {
		t.Errorf("bodies differ:\n%s\n%s", a, b)
	}
	for _, h := range []string{"Content-Type", "WWW-Authenticate", "Cache-Control", "Set-Cookie"} {
		if unknown.header.Get(h) != wrong.header.Get(h) {
			t.Errorf("header %s differs: %q vs %q", h, unknown.header.Get(h), wrong.header.Get(h))
		}
	}
}

func TestRefresh_ReuseOverHTTP_SE04(t *testing.T) {
	s := newServer(t)
	reg := s.register(t, "ada@example.com", "ada")
	rt := reg["refreshToken"].(string)
	first := s.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": rt})
	if first.status != 200 {
		t.Fatalf("refresh: %d %s", first.status, first.body)
	}
	next := first.json(t)
	// Reuse is answered exactly like a token that never existed (SE-11).
	reused := wantProblem(t, s.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": rt}), 401, "auth.invalid_refresh_token")
	unknown := wantProblem(t, s.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": strings.Repeat("A", 43)}), 401, "auth.invalid_refresh_token")
	delete(reused, "requestId")
	delete(unknown, "requestId")
	a, _ := json.Marshal(reused)
	b, _ := json.Marshal(unknown)
	if string(a) != string(b) {
		t.Errorf("reuse answers %s, an unknown token %s", a, b)
	}
	wantProblem(t, s.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": next["refreshToken"].(string)}), 401, "auth.invalid_refresh_token")
	wantProblem(t, s.do(t, "GET", "/v1/auth/verify", nil, "Authorization", "Bearer "+next["accessToken"].(string)), 401, "auth.session_revoked")
}

func TestBodyLimit_IV01(t *testing.T) {
	s := newServer(t)
	base := s.listen(t)
	// Announce a body over the limit and send none: the server must answer
	// from the headers alone, before reading a byte of it.
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /v1/auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 70<<10)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	wantProblem(t, response{status: res.StatusCode, header: res.Header, body: b}, 413, "http.body_too_large")
}

func TestRefresh_TwentyParallel_SE05(t *testing.T) {
	s := newServer(t)
	base := s.listen(t)
	rt := s.register(t, "ada@example.com", "ada")["refreshToken"].(string)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 20}}
	// Warm one connection per worker so the requests race, not the dials.
	var warm sync.WaitGroup
	for range 20 {
		warm.Add(1)
		go func() {
			defer warm.Done()
			if res, err := client.Get(base + "/healthz"); err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}()
	}
	warm.Wait()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var winners []string
	start := make(chan struct{})
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := client.Post(base+"/v1/auth/refresh", "application/json", strings.NewReader(`{"refreshToken":"`+rt+`"}`))
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			var out map[string]any
			_ = json.NewDecoder(res.Body).Decode(&out)
			if res.StatusCode == 200 {
				mu.Lock()
				winners = append(winners, out["refreshToken"].(string))
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d refreshes succeeded, want 1", len(winners))
	}
	if r := s.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": winners[0]}); r.status != 200 {
		t.Fatalf("the live descendant fails: %d %s", r.status, r.body)
	}
}

func TestLogout_VerifyFailsAtOnce_SE03(t *testing.T) {
	s := newServer(t)
	at := s.register(t, "ada@example.com", "ada")["accessToken"].(string)
	if r := s.do(t, "POST", "/v1/auth/logout", nil, "Authorization", "Bearer "+at); r.status != 204 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	wantProblem(t, s.do(t, "GET", "/v1/auth/verify", nil, "Authorization", "Bearer "+at), 401, "auth.session_revoked")
}

func TestChangePassword(t *testing.T) {
	s := newServer(t)
	at := s.register(t, "ada@example.com", "ada")["accessToken"].(string)
	weak := s.do(t, "POST", "/v1/auth/password/change", map[string]string{"currentPassword": password, "newPassword": "password"}, "Authorization", "Bearer "+at)
	wantProblem(t, weak, 400, "validation_failed")
	wrong := s.do(t, "POST", "/v1/auth/password/change", map[string]string{"currentPassword": "nope nope nope", "newPassword": "another fine passphrase"}, "Authorization", "Bearer "+at)
	wantProblem(t, wrong, 400, "validation_failed")
	ok := s.do(t, "POST", "/v1/auth/password/change", map[string]string{"currentPassword": password, "newPassword": "another fine passphrase"}, "Authorization", "Bearer "+at)
	if ok.status != 204 {
		t.Fatalf("change: %d %s", ok.status, ok.body)
	}
	if r := s.do(t, "POST", "/v1/auth/login", map[string]string{"identifier": "ada", "password": "another fine passphrase"}); r.status != 200 {
		t.Fatalf("login with new password: %d", r.status)
	}
}

// A client's X-Request-Id is kept only from a trusted proxy: anyone else
// could stamp another request's id on their own in the audit trail.
func TestRequestID(t *testing.T) {
	if got := newServer(t).do(t, "GET", "/healthz", nil, "X-Request-Id", "abc-123").header.Get("X-Request-Id"); got == "abc-123" || got == "" {
		t.Errorf("an untrusted client's id = %q, want one of the server's", got)
	}
	s := newServer(t, "0.0.0.0/0", "::/0")
	if got := s.do(t, "GET", "/healthz", nil, "X-Request-Id", "abc-123").header.Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("a trusted proxy's id = %q", got)
	}
	if got := s.do(t, "GET", "/healthz", nil, "X-Request-Id", "evil\x01value").header.Get("X-Request-Id"); got == "" || strings.Contains(got, "evil") {
		t.Errorf("unsafe id kept: %q", got)
	}
}

func TestJWKSAndHealth(t *testing.T) {
	s := newServer(t)
	r := s.do(t, "GET", "/.well-known/jwks.json", nil)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(r.body, &set); err != nil || len(set.Keys) == 0 || set.Keys[0]["kty"] != "OKP" {
		t.Fatalf("jwks: %s", r.body)
	}
	if _, leaked := set.Keys[0]["d"]; leaked {
		t.Fatal("private key in JWKS")
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := s.do(t, "GET", p, nil); r.status != 200 {
			t.Errorf("%s: %d", p, r.status)
		}
	}
}

// TestRoutes_DenyByDefault_AC01 walks the served routes: every one is in
// the OpenAPI document with an explicit security declaration, and every
// route that declares bearer refuses a request without a token.
func TestRoutes_DenyByDefault_AC01(t *testing.T) {
	s := newServer(t)
	var doc struct {
		Paths map[string]map[string]struct {
			Security []map[string][]string `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(s.do(t, "GET", "/openapi.json", nil).body, &doc); err != nil {
		t.Fatal(err)
	}
	public := map[string]bool{"POST /v1/auth/register": true, "POST /v1/auth/login": true, "POST /v1/auth/refresh": true,
		"GET /healthz": true, "GET /readyz": true, "GET /.well-known/jwks.json": true, "GET /openapi.json": true,
		"GET /schemas/events/:name": true, "POST /v1/auth/password/forgot": true, "POST /v1/auth/password/reset": true,
		"POST /v1/auth/email/verify": true, "POST /v1/auth/email/resend": true,
		"POST /v1/auth/login/mfa": true, "POST /v1/auth/login/mfa/send": true}
	for _, rt := range s.app.GetRoutes(true) {
		if rt.Method == "HEAD" || rt.Method == "USE" {
			continue
		}
		op, ok := doc.Paths[httpapi.OpenAPIPath(rt.Path)][strings.ToLower(rt.Method)]
		if !ok || op.Security == nil {
			t.Errorf("%s %s declares no access", rt.Method, rt.Path)
			continue
		}
		key := rt.Method + " " + rt.Path
		if isPublic := len(op.Security) == 0; isPublic != public[key] {
			t.Errorf("%s: public = %v, want %v", key, isPublic, public[key])
		}
		if !public[key] {
			if r := s.do(t, rt.Method, rt.Path, nil); r.status != 401 {
				t.Errorf("%s without a token: %d, want 401", key, r.status)
			}
		}
	}
}

func TestSessions_ListAndEnd_SE09_AC02(t *testing.T) {
	s := newServer(t)
	at := s.register(t, "ada@example.com", "ada")["accessToken"].(string)
	other := s.do(t, "POST", "/v1/auth/login", map[string]string{"identifier": "ada", "password": password}, "User-Agent", "phone/1.0").json(t)
	list := s.do(t, "GET", "/v1/users/me/sessions", nil, "Authorization", "Bearer "+at).json(t)["items"].([]any)
	if len(list) != 2 {
		t.Fatalf("sessions: %v", list)
	}
	newest := list[0].(map[string]any)
	if newest["userAgent"] != "phone/1.0" || newest["current"] != false || list[1].(map[string]any)["current"] != true {
		t.Fatalf("sessions: %v", list)
	}
	mallory := s.register(t, "mallory@example.com", "mallory")
	malloryToken := mallory["accessToken"].(string)
	mine := s.do(t, "GET", "/v1/users/me/sessions", nil, "Authorization", "Bearer "+malloryToken).json(t)["items"].([]any)[0].(map[string]any)["id"].(string)
	wantProblem(t, s.do(t, "DELETE", "/v1/users/me/sessions/"+mine, nil, "Authorization", "Bearer "+at), 404, "session.not_found")
	if r := s.do(t, "DELETE", "/v1/users/me/sessions/"+newest["id"].(string), nil, "Authorization", "Bearer "+at); r.status != 204 {
		t.Fatalf("end session: %d %s", r.status, r.body)
	}
	wantProblem(t, s.do(t, "GET", "/v1/auth/verify", nil, "Authorization", "Bearer "+other["accessToken"].(string)), 401, "auth.session_revoked")
	if r := s.do(t, "DELETE", "/v1/users/me/sessions", nil, "Authorization", "Bearer "+at); r.status != 200 || r.json(t)["ended"].(float64) != 0 {
		t.Fatalf("end others: %d %s", r.status, r.body)
	}
}

func TestPasswordReset_OverHTTP_LG01_LG07(t *testing.T) {
	s := newServer(t)
	s.register(t, "ada@example.com", "ada")
	known := s.do(t, "POST", "/v1/auth/password/forgot", map[string]string{"email": "ada@example.com"},
		"Host", "evil.example", "X-Forwarded-Host", "evil.example")
	unknown := s.do(t, "POST", "/v1/auth/password/forgot", map[string]string{"email": "nobody@example.com"})
	if known.status != 202 || unknown.status != 202 || string(known.body) != string(unknown.body) {
		t.Fatalf("answers differ: %d %s / %d %s", known.status, known.body, unknown.status, unknown.body)
	}
	resets := func() []memory.Mail {
		var out []memory.Mail
		for _, m := range s.mailbox.Messages() {
			if m.Kind == "password_reset" {
				out = append(out, m)
			}
		}
		return out
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(resets()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no reset mail")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the unknown address's request has had time to (not) send
	mails := resets()
	if len(mails) != 1 || mails[0].To != "ada@example.com" || !strings.HasPrefix(mails[0].Link, "https://id.example.com/reset-password#token=") {
		t.Fatalf("mails = %+v (links come from the public URL, never the Host header)", mails)
	}
	tok := strings.TrimPrefix(mails[0].Link, "https://id.example.com/reset-password#token=")
	if r := s.do(t, "POST", "/v1/auth/password/reset", map[string]string{"token": tok, "newPassword": "a fresh long passphrase"}); r.status != 204 {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	wantProblem(t, s.do(t, "POST", "/v1/auth/password/reset", map[string]string{"token": tok, "newPassword": "another long passphrase"}), 400, "auth.invalid_reset_token")
	if r := s.do(t, "POST", "/v1/auth/login", map[string]string{"identifier": "ada", "password": "a fresh long passphrase"}); r.status != 200 {
		t.Fatalf("login with the new password: %d", r.status)
	}
}

func TestEmailVerification_OverHTTP(t *testing.T) {
	s := newServer(t)
	at := s.register(t, "ada@example.com", "ada")["accessToken"].(string)
	var link string
	for _, m := range s.mailbox.Messages() {
		if m.Kind == "email_verification" && m.To == "ada@example.com" {
			link = m.Link
		}
	}
	tok := strings.TrimPrefix(link, "https://id.example.com/verify-email#token=")
	if tok == link {
		t.Fatalf("verification link %q", link)
	}
	wantProblem(t, s.do(t, "POST", "/v1/auth/email/verify", map[string]string{"token": strings.Repeat("x", 43)}), 400, "auth.invalid_verification_token")
	if r := s.do(t, "POST", "/v1/auth/email/verify", map[string]string{"token": tok}); r.status != 204 {
		t.Fatalf("verify: %d %s", r.status, r.body)
	}
	if me := s.do(t, "GET", "/v1/users/me", nil, "Authorization", "Bearer "+at).json(t); me["emailVerified"] != true {
		t.Fatalf("me = %v", me)
	}
	if r := s.do(t, "POST", "/v1/auth/email/resend", map[string]string{"email": "nobody@example.com"}); r.status != 202 {
		t.Fatalf("resend: %d", r.status)
	}
}
