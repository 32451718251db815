package httpapi_test

import (
	"bufio"
	"errors"
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

// TestFraming_OneLengthOneType_IV09: fasthttp lets the last of two
// Content-Length lines win, so `Content-Length: 24` then `Content-Length: 0`
// leaves the 24 bytes on the connection as a second request, one a proxy
// that believes the first line never sent. Such a request, and one whose
// body length or media type is stated twice or in conflicting ways, is a
// 400 problem naming the header, and the connection is closed before
// anything after it is read.
func TestFraming_OneLengthOneType_IV09(t *testing.T) {
	s := newServer(t)
	base := s.listen(t)
	const smuggled = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
	login := `{"identifier":"ada","password":"x"}`
	for _, tc := range []struct{ name, head, body, header string }{
		{"two lengths, the last zero", fmt.Sprintf("Content-Type: application/json\r\nContent-Length: %d\r\nContent-Length: 0\r\n", len(smuggled)), smuggled, "Content-Length"},
		{"two lengths, the last covering", fmt.Sprintf("Content-Type: application/json\r\nContent-Length: 0\r\nContent-Length: %d\r\n", len(smuggled)), smuggled, "Content-Length"},
		{"two equal lengths", fmt.Sprintf("Content-Type: application/json\r\nContent-Length: %d\r\nContent-Length: %d\r\n", len(login), len(login)), login, "Content-Length"},
		{"chunked and a length", fmt.Sprintf("Content-Type: application/json\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n", len(smuggled)), "0\r\n\r\n" + smuggled, "Transfer-Encoding"},
		{"a coding fasthttp would read as chunked", "Content-Type: application/json\r\nTransfer-Encoding: gzip\r\n", "0\r\n\r\n" + smuggled, "Transfer-Encoding"},
		{"two codings", "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n" + smuggled, "Transfer-Encoding"},
		{"two media types", fmt.Sprintf("Content-Type: application/json\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n", len(login)), login, "Content-Type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answers, closed := rawExchange(t, base, "POST /v1/auth/login HTTP/1.1\r\nHost: t\r\n"+tc.head+"\r\n"+tc.body)
			if len(answers) == 0 {
				t.Fatal("no answer")
			}
			p := wantProblem(t, answers[0], 400, "http.ambiguous_request")
			if !strings.Contains(string(answers[0].body), `"field":"`+tc.header+`"`) {
				t.Errorf("the problem does not name %s: %v", tc.header, p)
			}
			if answers[0].header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("headers: %v", answers[0].header)
			}
			if len(answers) > 1 || !closed {
				t.Fatalf("the connection served on after an ambiguous request: %d answers, closed %v", len(answers), closed)
			}
		})
	}

	// One of each still passes, in any case of the header names.
	answers, _ := rawExchange(t, base, fmt.Sprintf("POST /v1/auth/login HTTP/1.1\r\nHost: t\r\ncontent-type: application/json\r\ncontent-length: %d\r\nConnection: close\r\n\r\n%s", len(login), login))
	if len(answers) != 1 || answers[0].status != 401 {
		t.Fatalf("a plain request: %+v", answers)
	}
	chunked := fmt.Sprintf("POST /v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(login), login)
	if answers, _ := rawExchange(t, base, chunked); len(answers) != 1 || answers[0].status != 401 {
		t.Fatalf("a chunked request: %+v", answers)
	}
}

// TestJSONCharset_IV09: JSON exchanged between systems is UTF-8 (RFC
// 8259 8.1), so a body declared in another charset is 415, not read as
// UTF-8 regardless; no charset, or utf-8 in any case, is JSON.
func TestJSONCharset_IV09(t *testing.T) {
	s := newServer(t)
	body := `{"identifier":"ada","password":"x"}`
	for _, ct := range []string{"application/json; charset=latin1", "application/json; charset=iso-8859-1", "application/json;charset=utf-16"} {
		wantProblem(t, s.do(t, "POST", "/v1/auth/login", body, "Content-Type", ct), 415, "http.unsupported_media_type")
	}
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "application/json; charset=UTF-8", `application/json; charset="utf-8"`} {
		if r := s.do(t, "POST", "/v1/auth/login", body, "Content-Type", ct); r.status != 401 {
			t.Errorf("%s: %d %s", ct, r.status, r.body)
		}
	}
}

// TestUnknownMethod_IV09: a method Fiber does not know (the HTTP/2
// preface's PRI among them) is refused before any route runs, as a
// problem with the security headers, and the connection is closed: what
// follows a preface is not HTTP/1.1.
func TestUnknownMethod_IV09(t *testing.T) {
	s := newServer(t)
	base := s.listen(t)
	for _, req := range []string{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "BREW /healthz HTTP/1.1\r\nHost: t\r\n\r\n"} {
		answers, closed := rawExchange(t, base, req)
		if len(answers) != 1 || !closed {
			t.Fatalf("%q: %d answers, closed %v", req, len(answers), closed)
		}
		wantProblem(t, answers[0], 400, "http.unknown_method")
		if h := answers[0].header; h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%q lacks the security headers: %v", req, h)
		}
	}
}

// rawExchange writes req as is on a new connection and reads every answer
// until the server closes it (closed) or falls silent for a second.
func rawExchange(t *testing.T, base, req string) (answers []response, closed bool) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := br.Peek(1); err != nil {
			return answers, errors.Is(err, io.EOF)
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", len(answers)+1, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		answers = append(answers, response{status: res.StatusCode, header: res.Header, body: b})
	}
}

// TestUnparsableHeaders_EchoNothing_LO01: a request whose headers fasthttp
// cannot parse gets a problem with a fixed title; the parser's message,
// which quotes the raw request, never reaches the client.
func TestUnparsableHeaders_EchoNothing_LO01(t *testing.T) {
	s := newServer(t)
	base := s.listen(t)
	for _, cl := range []string{"Content-Length: 39, 39", "Content-Length : 5"} {
		r := rawRequest(t, base, "POST /v1/auth/login HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer CANARY-SECRET-123\r\n"+cl+"\r\n\r\n")
		if r.status < 400 || r.status >= 500 {
			t.Fatalf("%s: status %d", cl, r.status)
		}
		if strings.Contains(string(r.body), "CANARY") || strings.Contains(string(r.body), "Buffer size") {
			t.Fatalf("%s: the answer quotes the request: %s", cl, r.body)
		}
	}
}
