// Package httpapi is the HTTP transport of usermgmt on Fiber v2: routes,
// strict DTO decoding and validation, authentication middleware, and the one
// place where domain errors become RFC 9457 problem+json responses.
package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/usermgmt/usermgmt/core/admin"
	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/identity"
)

// Options configure the API.
type Options struct {
	Logger *slog.Logger
	// JWKS returns the current JSON Web Key Set document.
	JWKS func() []byte
	// Ready reports whether dependencies can serve; nil means always ready.
	Ready func(ctx context.Context) error
	// TrustedProxies are the peers whose X-Forwarded-For is believed (LG-03).
	TrustedProxies []netip.Prefix
	// BodyLimit caps request bodies in bytes (default 64 KiB, IV-01).
	BodyLimit int
	// Middleware runs before every route (tracing).
	Middleware []fiber.Handler
	// ObserveRequest, if set, learns every request's method, route template
	// ("unmatched" when no route matched), final status and duration.
	ObserveRequest func(method, route string, status int, d time.Duration)
	// Version is reported by /openapi.json.
	Version string
	// EventSchema returns the JSON Schema document called name (an event
	// type, or "envelope"), served where events' dataschema points.
	EventSchema func(name string) ([]byte, bool)
}

// UseCases are the use cases the routes serve; all are required.
type UseCases struct {
	Accounts   *identity.Accounts
	Passwords  *identity.Passwords
	SignIn     *identity.SignIn
	Challenges *identity.Challenges
	Sessions   *identity.Sessions
	MFA        *identity.MFA
	Admin      AdminUseCases
}

// AdminUseCases are the administration use cases.
type AdminUseCases struct {
	Users     *admin.Users
	Roles     *admin.Roles
	Directory *admin.Directory
	Trail     *admin.Trail
}

// API serves the use cases over HTTP.
type API struct {
	uc      UseCases
	opt     Options
	dec     *decoder
	routes  []route
	openapi []byte
}

// New returns the API over the use cases uc.
func New(uc UseCases, opt Options) (*API, error) {
	if uc.Accounts == nil || uc.Passwords == nil || uc.SignIn == nil || uc.Challenges == nil || uc.Sessions == nil || uc.MFA == nil ||
		uc.Admin.Users == nil || uc.Admin.Roles == nil || uc.Admin.Directory == nil || uc.Admin.Trail == nil {
		return nil, errors.New("httpapi.New: missing use case")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.BodyLimit == 0 {
		opt.BodyLimit = 64 << 10
	}
	if opt.JWKS == nil {
		return nil, errors.New("httpapi.New: JWKS source is required")
	}
	a := &API{uc: uc, opt: opt, dec: newDecoder()}
	a.routes = a.routeTable()
	for _, rt := range a.routes {
		if err := rt.checkAccess(); err != nil {
			return nil, fmt.Errorf("httpapi.New: %w", err)
		}
	}
	doc, err := buildOpenAPI(a.routes, opt.Version)
	if err != nil {
		return nil, err
	}
	a.openapi = doc
	return a, nil
}

// App returns a standalone Fiber app serving the API, with the server
// settings the service wants: no banner, no version header, bounded bodies
// and timeouts, strict routing.
func (a *API) App() *fiber.App {
	app := fiber.New(fiber.Config{
		AppName:               "",
		ServerHeader:          "",
		DisableStartupMessage: true,
		StrictRouting:         true,
		CaseSensitive:         true,
		Immutable:             true, // values outlive the handler (caches, sessions)
		BodyLimit:             a.opt.BodyLimit,
		ReadTimeout:           15 * time.Second,
		WriteTimeout:          15 * time.Second,
		// A kept-alive connection holds a descriptor and a slot of the
		// connection caps while it idles (IV-05). 65 s outlasts the 60 s
		// idle timeout of common proxies (AWS ALB, nginx upstream
		// keepalive), which thus close a pooled connection before the
		// server does and never send a request on one it has just closed.
		IdleTimeout:  65 * time.Second,
		ErrorHandler: errorHandler(a.opt.Logger, a.allowed),
	})
	a.Mount(app)
	a.refuseUnknownMethods(app)
	return app
}

// refuseUnknownMethods answers a request whose method Fiber does not know
// (PRI, which opens the HTTP/2 preface, or any other token) with a problem
// and the security headers (IV-09). Fiber answers those itself in plain
// text before any middleware runs, so the server's handler is wrapped.
// The connection is closed: what follows a preface is not HTTP/1.1, and
// the body of an unknown method is framed by rules this server cannot know.
func (a *API) refuseUnknownMethods(app *fiber.App) {
	known := app.Config().RequestMethods
	serve := app.Server().Handler
	render := errorHandler(a.opt.Logger, a.allowed)
	app.Server().Handler = func(rctx *fasthttp.RequestCtx) {
		if slices.Contains(known, string(rctx.Method())) {
			serve(rctx)
			return
		}
		c := app.AcquireCtx(rctx)
		defer app.ReleaseCtx(c)
		rctx.SetConnectionClose()
		_ = render(c, errUnknownMethod)
	}
}

// Mount registers the API's routes on a host's router. Errors are rendered
// by the API itself, so the host's ErrorHandler never sees them and the
// final status is known to the request metrics.
func (a *API) Mount(r fiber.Router) {
	r.Use(a.requestID, a.observe, a.renderErrors, a.recoverPanic, a.securityHeaders, checkFraming, checkUserAgent)
	for _, m := range a.opt.Middleware {
		r.Use(m)
	}
	a.register(r)
}

// observe reports each request to ObserveRequest once its answer is final.
func (a *API) observe(c *fiber.Ctx) error {
	if a.opt.ObserveRequest == nil {
		return c.Next()
	}
	start := time.Now()
	err := c.Next()
	route := "unmatched"
	if rt := c.Route(); rt != nil && rt.Method != "USE" {
		route = rt.Path
	}
	a.opt.ObserveRequest(c.Method(), route, c.Response().StatusCode(), time.Since(start))
	return err
}

func (a *API) register(r fiber.Router) {
	for _, rt := range a.routes {
		h := rt.public
		if rt.authed != nil {
			h = a.withClaims(rt.authed)
		}
		if rt.body == nil && rt.method != fiber.MethodGet {
			h = noBody(h)
		}
		// What changes state is audited with who asked, from where; reads
		// (verify, the hot path, among them) skip the bookkeeping.
		if rt.method != fiber.MethodGet {
			h = a.auditing(h)
		}
		r.Add(rt.method, rt.path, h)
	}
}

// errUnexpectedBody refuses a body on a route that takes none: a field
// sent there would be ignored, and a client that believes it set
// something must be told it did not (AC-03).
var errUnexpectedBody = errs.ErrValidation.WithFields(errs.FieldError{Field: "body", Message: "this route takes no body"})

// noBody refuses any body but an empty one or an empty JSON object.
func noBody(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if b := bytes.TrimSpace(c.Body()); len(b) > 0 && !bytes.Equal(b, []byte("{}")) {
			return errUnexpectedBody
		}
		return h(c)
	}
}

// auditing gives the use cases the request's address, user agent and id,
// which the audit trail records with each action.
func (a *API) auditing(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.SetUserContext(audit.WithRequest(c.UserContext(), audit.Request{IP: a.clientIP(c),
			UserAgent: c.Get(fiber.HeaderUserAgent), RequestID: ensureRequestID(c)}))
		return h(c)
	}
}

// renderErrors renders a handler's error as problem+json in place.
func (a *API) renderErrors(c *fiber.Ctx) error {
	err := c.Next()
	if err == nil {
		return nil
	}
	return errorHandler(a.opt.Logger, a.allowed)(c, err)
}

// allowed lists the methods routed for path, for the Allow header of a 405.
func (a *API) allowed(path string) string {
	var ms []string
	for _, rt := range a.routes {
		if rt.path == path && !slices.Contains(ms, rt.method) {
			ms = append(ms, rt.method)
		}
	}
	return strings.Join(ms, ", ")
}

const headerRequestID = "X-Request-Id"

// requestID keeps a sane incoming X-Request-Id or makes one, and echoes it.
func (a *API) requestID(c *fiber.Ctx) error {
	// A request id names the request in logs and the audit trail, so, like
	// X-Forwarded-For, it is taken only from a trusted proxy: anyone else
	// could stamp another request's id on their own.
	if peer, err := netip.ParseAddr(c.Context().RemoteIP().String()); err != nil || !a.trusted(peer) {
		c.Request().Header.Del(headerRequestID)
	}
	ensureRequestID(c)
	return c.Next()
}

// ensureRequestID assigns the request its id once; errors raised before any
// middleware ran (an oversized body) still get one.
func ensureRequestID(c *fiber.Ctx) string {
	if id, ok := c.Locals(headerRequestID).(string); ok {
		return id
	}
	id := c.Get(headerRequestID)
	if !validRequestID(id) {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Locals(headerRequestID, id)
	c.Set(headerRequestID, id)
	return id
}

func validRequestID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '-', ch == '_', ch == '.':
		default:
			return false
		}
	}
	return true
}

func requestID(c *fiber.Ctx) string { return ensureRequestID(c) }

// recoverPanic turns a panic into a 500 problem; the process survives (LO-06).
func (a *API) recoverPanic(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			a.opt.Logger.ErrorContext(c.UserContext(), "panic in handler", "panic", r, "path", c.Path(),
				"requestId", requestID(c), "stack", string(debug.Stack()))
			err = errInternal
		}
	}()
	return c.Next()
}

func (a *API) securityHeaders(c *fiber.Ctx) error {
	setSecurityHeaders(c)
	return c.Next()
}

// setSecurityHeaders is also called when rendering errors, since answers
// that fasthttp produces before any middleware runs (413, 431) go straight
// to the error handler.
func setSecurityHeaders(c *fiber.Ctx) {
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderCacheControl, "no-store")
}

var (
	headerContentLength    = []byte(fiber.HeaderContentLength)
	headerTransferEncoding = []byte(fiber.HeaderTransferEncoding)
	headerContentType      = []byte(fiber.HeaderContentType)
	codingChunked          = []byte("chunked")
)

// checkFraming refuses a request that states its body's length or media
// type more than once or in conflicting ways, and closes the connection
// (IV-09). fasthttp keeps the last of several Content-Length and
// Content-Type lines, reads every Transfer-Encoding but identity as
// chunked and lets it override a length, while a proxy in front may
// believe the first line, or the length: the bytes the two split
// differently become a request the proxy never saw. fasthttp has parsed
// only this request by now; closing the connection leaves whatever
// follows it unread. Duplicates are only visible in the raw header
// section, as fasthttp keeps one value of each.
func checkFraming(c *fiber.Ctx) error {
	var lengths, codings, types int
	chunked := true
	c.Request().Header.VisitAllInOrder(func(k, v []byte) {
		switch {
		case bytes.EqualFold(k, headerContentLength):
			lengths++
		case bytes.EqualFold(k, headerTransferEncoding):
			codings++
			chunked = chunked && bytes.EqualFold(bytes.TrimSpace(v), codingChunked)
		case bytes.EqualFold(k, headerContentType):
			types++
		}
	})
	var f errs.FieldError
	switch {
	case lengths > 1:
		f = errs.FieldError{Field: fiber.HeaderContentLength, Message: "must appear at most once"}
	case codings > 1 || (codings == 1 && !chunked):
		f = errs.FieldError{Field: fiber.HeaderTransferEncoding, Message: "must be chunked, stated once"}
	case codings == 1 && lengths == 1:
		f = errs.FieldError{Field: fiber.HeaderTransferEncoding, Message: "must not come with Content-Length"}
	case types > 1:
		f = errs.FieldError{Field: fiber.HeaderContentType, Message: "must appear at most once"}
	default:
		return c.Next()
	}
	c.Context().SetConnectionClose()
	return errAmbiguousRequest.WithFields(f)
}

// errBadUserAgent refuses a User-Agent with control characters: it is
// stored with the session and shown to the user (IV-06).
var errBadUserAgent = errs.ErrValidation.WithFields(errs.FieldError{Field: "User-Agent", Message: "must not contain control characters"})

func checkUserAgent(c *fiber.Ctx) error {
	if hasControl(c.Get(fiber.HeaderUserAgent)) {
		return errBadUserAgent
	}
	return c.Next()
}

// clientIP is the peer address, or, when the peer is a trusted proxy, the
// right-most X-Forwarded-For address that is not a trusted proxy (LG-03):
// the left-most entries are whatever the client chose to send.
func (a *API) clientIP(c *fiber.Ctx) string {
	peer, err := netip.ParseAddr(c.Context().RemoteIP().String())
	if err != nil {
		return ""
	}
	if !a.trusted(peer) {
		return peer.String()
	}
	hops := forwardedFor(c)
	for i := len(hops) - 1; i >= 0; i-- {
		ip, ok := parseHop(hops[i])
		if !ok {
			break
		}
		if !a.trusted(ip) {
			return ip.String()
		}
	}
	return peer.String()
}

// parseHop reads one X-Forwarded-For hop. Proxies write an address, or
// one with a port ("192.0.2.7:5678", "[2001:db8::7]:443"), or a bracketed
// IPv6 address: each is the client's address, and a port must not turn it
// into garbage that leaves every such client in the proxy's budget (IV-08).
func parseHop(hop string) (netip.Addr, bool) {
	hop = strings.TrimSpace(hop)
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(hop); err == nil {
		ip = ap.Addr()
	} else if inner, ok := strings.CutPrefix(hop, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		if ip, err = netip.ParseAddr(inner); !ok || err != nil || !ip.Is6() {
			return netip.Addr{}, false
		}
	} else if ip, err = netip.ParseAddr(hop); err != nil {
		return netip.Addr{}, false
	}
	// A zone names an interface of the proxy, and an unspecified address
	// no client: neither is a client's address.
	if ip.Zone() != "" || ip.IsUnspecified() {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// forwardedFor lists the X-Forwarded-For hops of every header line in
// order: a proxy that appends its own line (HAProxy does) instead of
// extending the client's must not leave the client's line as the only one
// read (RFC 9110 5.3: repeated lines are one comma-separated list).
func forwardedFor(c *fiber.Ctx) []string {
	var hops []string
	for _, line := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
		hops = append(hops, strings.Split(string(line), ",")...)
	}
	return hops
}

func (a *API) trusted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range a.opt.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
