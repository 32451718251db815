// Package errs is the one error vocabulary of the domain. Every rule that can
// fail has a sentinel *Error with a Kind; transports map Kinds to their own
// codes in one place (adapters/httpapi) and never compare strings.
package errs

import (
	"errors"
	"time"
)

// Kind classifies an error for the caller: what went wrong, not where.
type Kind uint8

// The kinds, in the order transports usually map them.
const (
	Internal        Kind = iota // a bug or an infrastructure failure; details stay hidden
	Invalid                     // the input breaks a rule; Fields says which
	NotFound                    // no such thing (or the caller may not know it exists)
	Conflict                    // the state forbids it: a duplicate, a lost race
	Unauthenticated             // credentials missing, wrong, expired or revoked
	Forbidden                   // authenticated but not allowed
	Precondition                // well-formed but semantically refused (HTTP 422)
	RateLimited                 // too many attempts; retry later
	Unavailable                 // overloaded or a dependency is down; retry later
)

var kindNames = [...]string{"internal", "invalid", "not_found", "conflict", "unauthenticated",
	"forbidden", "precondition", "rate_limited", "unavailable"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// FieldError names one invalid input field and why it is invalid.
type FieldError struct {
	Field   string
	Message string
}

// Error is a classified domain error. Code is stable and machine-readable
// ("user.email_taken"); Msg is a short human title safe to show to clients.
type Error struct {
	Kind   Kind
	Code   string
	Msg    string
	Fields []FieldError
	Err    error
	// RetryAfter, on RateLimited and Unavailable errors, says when trying
	// again can succeed (0: unknown).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Msg + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is match on Code, so a sentinel still matches after
// WithFields or Wrap produced a copy of it.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code && t.Code != ""
}

// New returns an Error of kind k.
func New(k Kind, code, msg string) *Error { return &Error{Kind: k, Code: code, Msg: msg} }

// Wrap returns a copy of e that carries cause, for logs; clients still see only e.Msg.
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.Err = cause
	return &c
}

// WithRetryAfter returns a copy of e that says when to try again.
func (e *Error) WithRetryAfter(d time.Duration) *Error {
	c := *e
	c.RetryAfter = d
	return &c
}

// WithFields returns a copy of e that names the invalid fields.
func (e *Error) WithFields(fields ...FieldError) *Error {
	c := *e
	c.Fields = append([]FieldError(nil), fields...)
	return &c
}

// KindOf returns the Kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Validation collects field errors and returns them as one Invalid error.
type Validation struct{ fields []FieldError }

// Add records a problem with field.
func (v *Validation) Add(field, message string) {
	v.fields = append(v.fields, FieldError{field, message})
}

// Check records a problem with field when err is not nil, taking the message from err.
func (v *Validation) Check(field string, err error) {
	if err == nil {
		return
	}
	var e *Error
	if errors.As(err, &e) {
		v.Add(field, e.Msg)
		return
	}
	v.Add(field, err.Error())
}

// Err returns nil when nothing was recorded, else an Invalid error naming every field.
func (v *Validation) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return ErrValidation.WithFields(v.fields...)
}

// ErrValidation is the generic invalid-input error; Fields say what is wrong.
var ErrValidation = New(Invalid, "validation_failed", "the request has invalid fields")

// Merge adds the field errors of an Invalid error to v and returns nil; any
// other error (an infrastructure failure, say) is returned for the caller to
// fail with, so it is never reported as a field problem.
func (v *Validation) Merge(err error) error {
	var e *Error
	if err == nil {
		return nil
	}
	if !errors.As(err, &e) || e.Kind != Invalid {
		return err
	}
	if len(e.Fields) == 0 {
		return err
	}
	v.fields = append(v.fields, e.Fields...)
	return nil
}

// CheckInvalid records err against field when it is an Invalid error and
// returns any other error.
func (v *Validation) CheckInvalid(field string, err error) error {
	if err == nil {
		return nil
	}
	if KindOf(err) != Invalid {
		return err
	}
	v.Check(field, err)
	return nil
}
