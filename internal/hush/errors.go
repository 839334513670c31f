// Package hush holds Hush's domain: the types every other package speaks
// (patients, notes, users, roles), the actor of a request, and the error
// codes that the API and CLI turn into statuses and messages.
//
// # Errors have two audiences
//
// An *Error carries a Code and a Message written for the person at the other
// end: it never contains personal data. Wrapped detail (driver errors, file
// names) goes to the operator's log through Unwrap, never to a client.
package hush

import (
	"errors"
	"fmt"
)

// Error codes.
const (
	EINVALID      = "invalid"      // the input is malformed or breaks a rule
	ENOTFOUND     = "not_found"    // no such thing (or the actor may not know it exists)
	ECONFLICT     = "conflict"     // the state does not allow this change
	EFORBIDDEN    = "forbidden"    // the actor may not do this
	EUNAUTHORIZED = "unauthorized" // no valid credential
	ETOOLARGE     = "too_large"    // the input is over a size limit
	EUNAVAILABLE  = "unavailable"  // busy or down for now; try again
	EINTERNAL     = "internal"     // a fault on our side
)

// Error is a domain error with a safe message.
type Error struct {
	Code    string
	Message string // safe to show: no personal data
	Err     error  // detail for the operator's log
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted safe message. Arguments must not
// be personal data.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error that keeps err as operator-only detail.
func Wrap(code, message string, err error) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// ErrorCode returns the code of err, EINTERNAL for errors that are not *Error.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the safe message of err; errors that are not *Error
// get a generic message so that their text never reaches a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
