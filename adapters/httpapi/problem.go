package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/usermgmt/usermgmt/core/errs"
)

// statusOf maps each error kind to its HTTP status: the one place where
// domain errors become HTTP (G7).
var statusOf = map[errs.Kind]int{
	errs.Internal:        fiber.StatusInternalServerError,
	errs.Invalid:         fiber.StatusBadRequest,
	errs.NotFound:        fiber.StatusNotFound,
	errs.Conflict:        fiber.StatusConflict,
	errs.Unauthenticated: fiber.StatusUnauthorized,
	errs.Forbidden:       fiber.StatusForbidden,
	errs.Precondition:    fiber.StatusUnprocessableEntity,
	errs.RateLimited:     fiber.StatusTooManyRequests,
	errs.Unavailable:     fiber.StatusServiceUnavailable,
}

// mimeProblem is the media type of every error answer (RFC 9457).
const mimeProblem = "application/problem+json"

// ProblemTypeBase prefixes the type URI of every problem; the rest is the
// error's stable code, so clients switch on type, never on title or detail.
const ProblemTypeBase = "urn:usermgmt:problem:"

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type      string         `json:"type"`
	Title     string         `json:"title"`
	Status    int            `json:"status"`
	Detail    string         `json:"detail,omitempty"`
	Instance  string         `json:"instance,omitempty"`
	RequestID string         `json:"requestId,omitempty"`
	Errors    []ProblemField `json:"errors,omitempty"`
}

// ProblemField names one invalid field of a request.
type ProblemField struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem types for transport-level failures that have no domain error.
var (
	errNotFound         = errs.New(errs.NotFound, "http.not_found", "no such resource")
	errMethodNotAllowed = errs.New(errs.Invalid, "http.method_not_allowed", "method not allowed")
	errUnsupportedMedia = errs.New(errs.Invalid, "http.unsupported_media_type", "content type must be application/json")
	errBodyTooLarge     = errs.New(errs.Invalid, "http.body_too_large", "request body is too large")
	errMalformedJSON    = errs.New(errs.Invalid, "http.malformed_json", "request body is not valid JSON for this endpoint")
	errAmbiguousRequest = errs.New(errs.Invalid, "http.ambiguous_request", "the request states its length or media type more than once or in conflicting ways")
	errUnknownMethod    = errs.New(errs.Invalid, "http.unknown_method", "the request method is not one this server knows")
	errUnauthenticated  = errs.New(errs.Unauthenticated, "auth.unauthenticated", "authentication required")
	errNotReady         = errs.New(errs.Unavailable, "server.not_ready", "a dependency is unreachable")
	errInternal         = errs.New(errs.Internal, "internal", "internal server error")
)

// retryAfterSeconds is what 429 and 503 answers ask clients to wait.
const retryAfterSeconds = 1

// retryAfter is when the client may try again: the error's own estimate,
// rounded up to whole seconds, or the default.
func retryAfter(err error) int {
	var de *errs.Error
	if errors.As(err, &de) && de.RetryAfter > 0 {
		return int((de.RetryAfter + time.Second - 1) / time.Second)
	}
	return retryAfterSeconds
}

// problemFor turns any error a handler returned into a problem. Internal
// errors are logged with the request id and shown only as a generic title.
func problemFor(c *fiber.Ctx, err error, log *slog.Logger) Problem {
	var fe *fiber.Error
	var de *errs.Error
	p := Problem{Instance: c.Path(), RequestID: requestID(c)}
	switch {
	case errors.As(err, &de) && de.Kind != errs.Internal:
		p.Status, p.Title, p.Type = statusOf[de.Kind], de.Msg, ProblemTypeBase+de.Code
		for _, f := range de.Fields {
			p.Errors = append(p.Errors, ProblemField(f))
		}
		if len(p.Errors) > 0 {
			p.Detail = "see errors for each invalid field"
		}
	case errors.As(err, &fe):
		p = transportProblem(p, fe)
	default:
		log.ErrorContext(c.UserContext(), "request failed", "err", err, "method", c.Method(), "path", c.Path(), "requestId", p.RequestID)
		p.Status, p.Title, p.Type = fiber.StatusInternalServerError, errInternal.Msg, ProblemTypeBase+errInternal.Code
		p.Detail = "quote requestId when reporting this"
	}
	return p
}

func transportProblem(p Problem, fe *fiber.Error) Problem {
	var e *errs.Error
	switch fe.Code {
	case fiber.StatusNotFound:
		e = errNotFound
	case fiber.StatusMethodNotAllowed:
		e = errMethodNotAllowed
	case fiber.StatusRequestEntityTooLarge:
		e = errBodyTooLarge
	case fiber.StatusUnsupportedMediaType:
		e = errUnsupportedMedia
	default:
		// The status's own text, never the error's: fasthttp's messages for
		// unparsable headers quote the raw request, headers a proxy added
		// (credentials) included.
		p.Status, p.Title, p.Type = fe.Code, strings.ToLower(utils.StatusMessage(fe.Code)), ProblemTypeBase+"http."+strconv.Itoa(fe.Code)
		return p
	}
	p.Status, p.Title, p.Type = fe.Code, e.Msg, ProblemTypeBase+e.Code
	return p
}

// errorHandler renders every error as application/problem+json whose status
// equals the HTTP status (LO-01).
func errorHandler(log *slog.Logger, allow func(path string) string) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		p := problemFor(c, err, log)
		body, mErr := json.Marshal(p)
		if mErr != nil {
			body = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500}`)
			p.Status = fiber.StatusInternalServerError
		}
		switch p.Status {
		case fiber.StatusTooManyRequests, fiber.StatusServiceUnavailable:
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retryAfter(err)))
		case fiber.StatusUnauthorized:
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer error="invalid_token"`)
		case fiber.StatusMethodNotAllowed:
			if a := allow(c.Path()); a != "" {
				c.Set(fiber.HeaderAllow, a)
			}
		}
		setSecurityHeaders(c)
		c.Set(fiber.HeaderContentType, mimeProblem)
		return c.Status(p.Status).Send(body)
	}
}
