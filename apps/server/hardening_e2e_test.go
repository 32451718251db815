package main_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestE2E_ForwardedForEveryLine_IV08: behind a trusted proxy that appends
// its own X-Forwarded-For line (HAProxy does), the client's own line is
// not believed: the session records the right-most untrusted hop.
func TestE2E_ForwardedForEveryLine_IV08(t *testing.T) {
	s := start(t, "USERMGMT_TRUSTED_PROXIES=127.0.0.1/32")
	if r := s.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": "ada@example.com", "username": "ada", "password": pw}); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	req, err := http.NewRequestWithContext(t.Context(), "POST", s.base+"/v1/auth/login",
		strings.NewReader(`{"identifier":"ada","password":"`+pw+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	// The client forged the first line; the proxy appended the second.
	req.Header["X-Forwarded-For"] = []string{"198.51.100.66", "203.0.113.7:41234"} // HAProxy may add the port
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var login struct{ AccessToken string }
	err = json.NewDecoder(res.Body).Decode(&login)
	res.Body.Close()
	if res.StatusCode != 200 || err != nil || login.AccessToken == "" {
		t.Fatalf("login: %d %v", res.StatusCode, err)
	}
	list := s.call(t, "GET", "/v1/users/me/sessions", login.AccessToken, nil)
	items, _ := list.body["items"].([]any)
	if len(items) == 0 {
		t.Fatalf("sessions: %s", list.raw)
	}
	if ip := items[0].(map[string]any)["ipAddress"]; ip != "203.0.113.7" {
		t.Fatalf("the session's address is %v, want the proxy-appended 203.0.113.7", ip)
	}
}

// TestE2E_ExactFieldNames_IV07: a second spelling of a field that Go's
// decoder would fold into the first is refused, not signed in.
func TestE2E_ExactFieldNames_IV07(t *testing.T) {
	s := start(t)
	if r := s.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": "ada@example.com", "username": "ada", "password": pw}); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	for _, body := range []string{
		`{"identifier":"ada","password":"x","PASSWORD":"` + pw + `"}`,
		`{"identifier":"ada","paſſword":"` + pw + `"}`,
	} {
		res, err := client.Post(s.base+"/v1/auth/login", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 400 || strings.Contains(string(raw), "accessToken") {
			t.Fatalf("%s: %d %s", body, res.StatusCode, raw)
		}
	}
	// A multipart body is a media type the API does not take (IV-09).
	var form bytes.Buffer
	w := multipart.NewWriter(&form)
	_ = w.WriteField("identifier", "ada")
	_ = w.WriteField("password", pw)
	_ = w.Close()
	res, err := client.Post(s.base+"/v1/auth/login", w.FormDataContentType(), &form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 415 || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("multipart login: %d %v", res.StatusCode, res.Header)
	}
}

// TestE2E_ForwardAuthAssurance_SE13: forward-auth tells the gateway how the
// session authenticated, and an access token issued before the account
// gained a second factor no longer passes it.
func TestE2E_ForwardAuthAssurance_SE13(t *testing.T) {
	s := start(t)
	reg := s.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": "ada@example.com", "username": "ada", "password": pw})
	if reg.status != 201 {
		t.Fatalf("register: %d %s", reg.status, reg.raw)
	}
	aal1 := reg.str("accessToken")
	v := s.call(t, "GET", "/v1/auth/verify", aal1, nil)
	if v.status != 200 || v.header.Get("X-User-Aal") != "aal1" || v.body["aal"] != "aal1" || len(v.body["amr"].([]any)) != 1 {
		t.Fatalf("verify before MFA: %d %v %s", v.status, v.header, v.raw)
	}
	s.verifyAddress(t)
	setup := s.call(t, "POST", "/v1/users/me/mfa/totp", aal1, map[string]string{"password": pw})
	if setup.status != 200 {
		t.Fatalf("begin totp: %d %s", setup.status, setup.raw)
	}
	conf := s.call(t, "POST", "/v1/users/me/mfa/totp/confirm", aal1, map[string]string{"code": totpCode(t, setup.str("secret"), 0)})
	if conf.status != 200 || conf.str("accessToken") == "" || conf.str("refreshToken") == "" {
		t.Fatalf("confirm: %d %s", conf.status, conf.raw)
	}
	if r := s.call(t, "GET", "/v1/auth/verify", aal1, nil); r.status != 401 {
		t.Fatalf("a password-only token of an account with MFA passed forward-auth: %d %s", r.status, r.raw)
	}
	if r := s.call(t, "POST", "/v1/auth/refresh", "", map[string]string{"refreshToken": reg.str("refreshToken")}); r.status != 401 {
		t.Fatalf("the password-only session refreshed: %d %s", r.status, r.raw)
	}
	v = s.call(t, "GET", "/v1/auth/verify", conf.str("accessToken"), nil)
	if v.status != 200 || v.header.Get("X-User-Aal") != "aal2" || v.body["aal"] != "aal2" {
		t.Fatalf("verify at AAL2: %d %v %s", v.status, v.header, v.raw)
	}
	if r := s.call(t, "POST", "/v1/auth/refresh", "", map[string]string{"refreshToken": conf.str("refreshToken")}); r.status != 200 {
		t.Fatalf("the replacing session cannot refresh: %d %s", r.status, r.raw)
	}
}

// TestE2E_StartTellsWhatItDid_SE14: the default issuer is the deployment's
// own public URL, and an administrator address that belongs to an
// ordinary account is reported at start instead of silently ignored.
func TestE2E_StartTellsWhatItDid_SE14(t *testing.T) {
	dir := t.TempDir()
	s := start(t, "USERMGMT_DATA_DIR="+dir, "USERMGMT_PUBLIC_URL=https://id.example.com")
	reg := s.call(t, "POST", "/v1/auth/register", "", map[string]string{"email": "root@example.com", "username": "root", "password": pw})
	if reg.status != 201 {
		t.Fatalf("register: %d %s", reg.status, reg.raw)
	}
	claims := reg.str("accessToken")
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(claims, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Iss string   `json:"iss"`
		Aud []string `json:"aud"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Iss != "https://id.example.com" || len(c.Aud) != 1 || c.Aud[0] != c.Iss {
		t.Fatalf("iss %q aud %v (%v), want the public URL", c.Iss, c.Aud, err)
	}
	s.stop(t)

	s = start(t, "USERMGMT_DATA_DIR="+dir, "USERMGMT_PUBLIC_URL=https://id.example.com",
		"USERMGMT_ADMIN_EMAIL=root@example.com", "USERMGMT_ADMIN_PASSWORD="+pw)
	if !strings.Contains(s.logs.String(), "not an administrator") {
		t.Fatalf("no word at start that USERMGMT_ADMIN_EMAIL names an ordinary account:\n%s", s.logs)
	}
	if r := s.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "root", "password": pw}); r.status != 200 || r.body["user"].(map[string]any)["role"] != "user" {
		t.Fatalf("the ordinary account changed: %d %s", r.status, r.raw)
	}
}

// TestE2E_SmuggledRequestIsNeverServed_IV09: `Content-Length: N` then
// `Content-Length: 0` made fasthttp read the N bytes after the headers as
// a second request, one a proxy believing the first line would have
// passed along as a body, unchecked: here, a registration. The request is
// now refused and its connection closed, so the registration never runs;
// and the HTTP/2 preface is refused as a problem, not in plain text.
func TestE2E_SmuggledRequestIsNeverServed_IV09(t *testing.T) {
	s := start(t)
	host := strings.TrimPrefix(s.base, "http://")
	reg := `{"email":"mallory@example.com","username":"mallory","password":"` + pw + `"}`
	smuggled := fmt.Sprintf("POST /v1/auth/register HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", host, len(reg), reg)
	answers := rawAnswers(t, host, fmt.Sprintf("POST /v1/auth/logout HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nContent-Length: 0\r\n\r\n%s", host, len(smuggled), smuggled))
	if len(answers) != 1 || answers[0].StatusCode != 400 {
		t.Fatalf("answers to a request with a smuggled one: %v", statuses(answers))
	}
	if r := s.call(t, "POST", "/v1/auth/login", "", map[string]string{"identifier": "mallory", "password": pw}); r.status != 401 {
		t.Fatalf("the smuggled registration ran: login %d %s", r.status, r.raw)
	}

	answers = rawAnswers(t, host, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	if len(answers) != 1 {
		t.Fatalf("answers to the HTTP/2 preface: %v", statuses(answers))
	}
	if h := answers[0].Header; answers[0].StatusCode != 400 || h.Get("Content-Type") != "application/problem+json" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("the HTTP/2 preface: %d %v", answers[0].StatusCode, h)
	}
}

// rawAnswers writes req as is on a new connection to host and reads every
// answer until the server closes it or falls silent for two seconds.
func rawAnswers(t *testing.T, host, req string) []*http.Response {
	t.Helper()
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var answers []*http.Response
	for {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			return answers
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		answers = append(answers, res)
	}
}

func statuses(rs []*http.Response) []int {
	out := make([]int, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.StatusCode)
	}
	return out
}
