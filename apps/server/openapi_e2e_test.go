package main_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Every answer a server under test gives is checked against the
// /openapi.json that server serves, by kin-openapi rather than by the code
// that wrote the document, so a field, a status or a problem that drifts
// from the document fails the test that met it.

// contract is a server's OpenAPI document, ready to check answers with.
type contract struct {
	router routers.Router
	// unrouted holds an answer for a path the document does not list
	// (routers.ErrPathNotFound) to a 404, and one for a method it does not
	// list on a path it does (routers.ErrMethodNotAllowed) to a 405: each
	// a problem as the document's Problem schema says.
	unrouted map[error]*openapi3.Operation
}

func newContract(raw []byte) (*contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("invalid document: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	problem := doc.Components.Schemas["Problem"]
	if problem == nil {
		return nil, errors.New("the document declares no Problem schema")
	}
	problemRef := &openapi3.SchemaRef{Ref: "#/components/schemas/Problem", Value: problem.Value}
	only := func(status int) *openapi3.Operation {
		answer := openapi3.NewResponse().WithDescription("RFC 9457 problem").
			WithContent(openapi3.Content{"application/problem+json": openapi3.NewMediaType().WithSchemaRef(problemRef)})
		return &openapi3.Operation{Responses: openapi3.NewResponses(openapi3.WithStatus(status, &openapi3.ResponseRef{Value: answer}))}
	}
	return &contract{router: router, unrouted: map[error]*openapi3.Operation{
		routers.ErrPathNotFound:     only(http.StatusNotFound),
		routers.ErrMethodNotAllowed: only(http.StatusMethodNotAllowed),
	}}, nil
}

// check returns what is wrong with one answer, or nil.
func (c *contract) check(x exchange) error {
	req, err := http.NewRequestWithContext(context.Background(), x.method, x.path, nil)
	if err != nil {
		return err
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		op, ok := c.unrouted[err]
		if !ok {
			return err
		}
		route = &routers.Route{Method: x.method, Operation: op}
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 x.status,
		Header:                 x.header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(x.body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return err
	}
	// The validator passes any body where the document declares none. The
	// status has passed it, so it resolves to a response, found as it does.
	r := route.Operation.Responses.Status(x.status)
	if r == nil {
		r = route.Operation.Responses.Default()
	}
	if len(r.Value.Content) == 0 && len(x.body) > 0 {
		return fmt.Errorf("a body (%d bytes) where the document declares none", len(x.body))
	}
	return nil
}

// exchange is one request to a server under test and its answer.
type exchange struct {
	method, path string // the path with its query: the document has no servers
	status       int
	header       http.Header
	body         []byte
}

// audit collects the exchanges with one server; they are checked once the
// test is over, against the document that server served.
type audit struct {
	mu        sync.Mutex
	exchanges []exchange
	contract  *contract
}

func (a *audit) record(x exchange) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.exchanges = append(a.exchanges, x)
}

// violations checks the exchanges recorded so far, and forgets them.
func (a *audit) violations() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, x := range a.exchanges {
		if err := a.contract.check(x); err != nil {
			out = append(out, fmt.Sprintf("%s %s answered %d, against /openapi.json: %v", x.method, x.path, x.status, err))
		}
	}
	a.exchanges = nil
	return out
}

// recordingTransport is the shared client's transport: it reads each
// answer of a server under test whole and records it with that server's
// audit. Other hosts (the metrics listener) pass through unrecorded.
type recordingTransport struct {
	next   *http.Transport
	mu     sync.Mutex
	audits map[string]*audit // by host:port
}

func (rt *recordingTransport) watch(host string, a *audit) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.audits[host] = a
}

func (rt *recordingTransport) forget(host string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	delete(rt.audits, host)
}

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := rt.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	rt.mu.Lock()
	a := rt.audits[req.URL.Host]
	rt.mu.Unlock()
	if a == nil {
		return res, nil
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	a.record(exchange{method: req.Method, path: req.URL.RequestURI(), status: res.StatusCode, header: res.Header.Clone(), body: body})
	return res, nil
}

// CloseIdleConnections lets client.CloseIdleConnections reach the pool.
func (rt *recordingTransport) CloseIdleConnections() { rt.next.CloseIdleConnections() }

// audited registers the audit of a starting server at host; at the end of
// t its exchanges are checked against the document it serves (fetched by
// loadContract once it is up), and each violation fails t.
func audited(t *testing.T, host string) *audit {
	t.Helper()
	a := &audit{}
	recorder.watch(host, a)
	t.Cleanup(func() {
		if a.contract == nil {
			return // the server never came up: start has failed t already
		}
		for _, v := range a.violations() {
			t.Error(v)
		}
	})
	return a
}

// loadContract fetches the server's /openapi.json for its audit.
func (p *proc) loadContract(t *testing.T) {
	t.Helper()
	r := p.call(t, "GET", "/openapi.json", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("/openapi.json: %d %s", r.status, r.raw)
	}
	c, err := newContract([]byte(r.raw))
	if err != nil {
		t.Fatalf("/openapi.json: %v", err)
	}
	p.audit.contract = c
}

// TestE2E_OpenAPIContractCatchesDrift: the check the suite runs on every
// answer fails on what drifts from the server's document, and passes
// what does not.
func TestE2E_OpenAPIContractCatchesDrift(t *testing.T) {
	s := start(t)
	const problem = "application/problem+json"
	json := http.Header{"Content-Type": {"application/json"}}
	problemHeader := http.Header{"Content-Type": {problem}}
	tests := []struct {
		name  string
		x     exchange
		wrong string // in the violation; empty when the answer conforms
	}{
		{"conforms", exchange{"GET", "/healthz", 200, json, []byte(`{"status":"ok"}`)}, ""},
		{"a field of the wrong type", exchange{"GET", "/healthz", 200, json, []byte(`{"status":1}`)}, `"string"`},
		{"an undeclared field", exchange{"GET", "/healthz", 200, json, []byte(`{"status":"ok","uptime":3}`)}, "uptime"},
		{"a missing field", exchange{"GET", "/v1/users/me/sessions", 200, json, []byte(`{"items":[{"id":"a"}]}`)}, "ipAddress"},
		{"an undeclared status", exchange{"GET", "/healthz", 418, problemHeader,
			[]byte(`{"type":"urn:usermgmt:problem:teapot","title":"teapot","status":418}`)}, "status is not supported"},
		{"a problem as plain JSON", exchange{"POST", "/v1/auth/login", 401, json,
			[]byte(`{"type":"urn:usermgmt:problem:auth.invalid_credentials","title":"invalid credentials","status":401}`)}, "Content-Type"},
		{"a problem whose status is another", exchange{"POST", "/v1/auth/login", 401, problemHeader,
			[]byte(`{"type":"urn:usermgmt:problem:auth.invalid_credentials","title":"invalid credentials","status":400}`)}, "must be 401"},
		{"a body where none is declared", exchange{"POST", "/v1/auth/logout", 204, json, []byte(`{}`)}, "declares none"},
		{"an unrouted path's problem", exchange{"GET", "/v1/nope", 404, problemHeader,
			[]byte(`{"type":"urn:usermgmt:problem:http.not_found","title":"no such resource","status":404}`)}, ""},
		{"an unrouted path's problem without a title", exchange{"GET", "/v1/nope", 404, problemHeader,
			[]byte(`{"type":"urn:usermgmt:problem:http.not_found","status":404}`)}, "title"},
		{"a success where nothing is routed", exchange{"GET", "/v1/nope", 200, json, []byte(`{}`)}, "status is not supported"},
		{"a 404 for a method a path lacks", exchange{"DELETE", "/v1/auth/login", 404, problemHeader,
			[]byte(`{"type":"urn:usermgmt:problem:http.not_found","title":"no such resource","status":404}`)}, "status is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.audit.contract.check(tt.x)
			switch {
			case tt.wrong == "" && err != nil:
				t.Fatalf("a conforming answer failed: %v", err)
			case tt.wrong != "" && err == nil:
				t.Fatal("the drift passed")
			case tt.wrong != "" && !strings.Contains(err.Error(), tt.wrong):
				t.Fatalf("the violation does not name %q: %v", tt.wrong, err)
			}
		})
	}

	// The same drift on the wire: an answer through the shared client is
	// recorded with the audit of its server and reported with its method,
	// path and status.
	drifted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":1}`))
	}))
	defer drifted.Close()
	a := &audit{contract: s.audit.contract}
	host := strings.TrimPrefix(drifted.URL, "http://")
	recorder.watch(host, a)
	defer recorder.forget(host)
	res, err := client.Get(drifted.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if v := a.violations(); len(v) != 1 || !strings.HasPrefix(v[0], "GET /healthz answered 200") {
		t.Fatalf("violations of a drifted server: %q", v)
	}
}
