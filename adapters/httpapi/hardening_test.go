package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDecode_OnlyExactFieldNames_IV07: encoding/json fills Password from
// "PASSWORD" or "paſſword" too, so a body could name one field twice in
// ways a proxy sees as two; every spelling but the exact one is refused.
func TestDecode_OnlyExactFieldNames_IV07(t *testing.T) {
	s := newServer(t)
	s.register(t, "ada@example.com", "ada")
	for _, body := range []string{
		`{"identifier":"ada","password":"x","PASSWORD":"` + password + `"}`,
		`{"identifier":"ada","paſſword":"` + password + `"}`,
		`{"identifier":"ada","Password":"` + password + `"}`,
		`{"IDENTIFIER":"ada","password":"` + password + `"}`,
		`{"identifier":"ada","password":"` + password + `","\u0050assword":"x"}`,
	} {
		r := s.do(t, "POST", "/v1/auth/login", body)
		p := wantProblem(t, r, 400, "http.malformed_json")
		if !strings.Contains(string(r.body), "is not a known field") {
			t.Errorf("%s: %v", body, p)
		}
	}
	// The exact names still sign in.
	if r := s.do(t, "POST", "/v1/auth/login", `{"identifier":"ada","password":"`+password+`"}`); r.status != 200 {
		t.Fatalf("exact names: %d %s", r.status, r.body)
	}
}

// TestControlCharacters_IV06: a NUL or an escape in an identifier, a
// profile string, a preference or the User-Agent is a 400 problem naming
// the field, never a 500, and changes nothing.
func TestControlCharacters_IV06(t *testing.T) {
	s := newServer(t)
	at := s.register(t, "ada@example.com", "ada")["accessToken"].(string)
	auth := []string{"Authorization", "Bearer " + at}

	for _, tc := range []struct{ path, method, body, field string }{
		{"/v1/auth/login", "POST", `{"identifier":"ada\u0000","password":"x"}`, "identifier"},
		{"/v1/auth/password/forgot", "POST", `{"email":"ada@example.com\u0000"}`, "email"},
		{"/v1/users/me", "PATCH", `{"displayName":"Ada\u001b[31m"}`, "displayName"},
		{"/v1/users/me", "PATCH", `{"preferences":{"theme":"da\u0000rk"}}`, "preferences.theme"},
		{"/v1/users/me", "PATCH", `{"preferences":{"list":["a","\u0085"]}}`, "preferences.list[1]"},
		{"/v1/users/me", "PATCH", `{"preferences":{"k\u0000":"v"}}`, "preferences"},
	} {
		r := s.do(t, tc.method, tc.path, tc.body, auth...)
		wantProblem(t, r, 400, "validation_failed")
		if !strings.Contains(string(r.body), `"field":"`+tc.field+`"`) {
			t.Errorf("%s %s: error does not name %s: %s", tc.method, tc.body, tc.field, r.body)
		}
	}
	me := s.do(t, "GET", "/v1/users/me", nil, auth...).json(t)
	if me["displayName"] != "ada" || len(me["preferences"].(map[string]any)) != 0 {
		t.Fatalf("a refused update changed the account: %v", me)
	}
	// A tab is text, and a password may hold anything it was set with.
	if r := s.do(t, "PATCH", "/v1/users/me", `{"preferences":{"sig":"a\tb"}}`, auth...); r.status != 200 {
		t.Fatalf("tab: %d %s", r.status, r.body)
	}
	if r := s.do(t, "POST", "/v1/auth/login", `{"identifier":"ada","password":"x\u0000y"}`); r.status != 401 {
		t.Fatalf("control character in a password: %d %s", r.status, r.body)
	}

	base := s.listen(t)
	for _, ua := range []string{"curl\x00/8", "ua\x1b[2J", "ua\x7f"} {
		res := rawRequest(t, base, "GET /v1/users/me HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer "+at+"\r\nUser-Agent: "+ua+"\r\n\r\n")
		wantProblem(t, res, 400, "validation_failed")
	}
}

// TestTransportAnswers_IV09: answers fasthttp makes before any route runs
// (a body or header section too large) carry the security headers, and a
// multipart body is 415, like any body that is not JSON.
func TestTransportAnswers_IV09(t *testing.T) {
	s := newServer(t)
	base := s.listen(t)
	tooLarge := rawRequest(t, base, fmt.Sprintf("POST /v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 70<<10))
	bigHeaders := rawRequest(t, base, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: "+strings.Repeat("a", 9000)+"\r\n\r\n")
	for _, r := range []response{tooLarge, bigHeaders} {
		if r.status != 413 && r.status != 431 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%d lacks the security headers: %v", r.status, r.header)
		}
	}

	body := "--b\r\nContent-Disposition: form-data; name=\"identifier\"\r\n\r\nada\r\n--b--\r\n"
	r := s.do(t, "POST", "/v1/auth/login", body, "Content-Type", "multipart/form-data; boundary=b")
	wantProblem(t, r, 415, "http.unsupported_media_type")
	r = s.do(t, "POST", "/v1/auth/login", "identifier=ada&password=x", "Content-Type", "application/x-www-form-urlencoded")
	wantProblem(t, r, 415, "http.unsupported_media_type")
}

// rawRequest writes req as is on a new connection and reads the answer:
// for requests net/http would refuse to send.
func rawRequest(t *testing.T, base, req string) response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}
}
