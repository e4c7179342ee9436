package oauth

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an OAuth error response (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1;
// OIDC Core §3.1.2.6). The predefined values below are templates: derive
// one with a description by calling WithDescription.
type Error struct {
	// Code is the "error" value, e.g. "invalid_grant".
	Code string `json:"error"`
	// Description is the human-readable "error_description".
	Description string `json:"error_description,omitempty"`
	// Status is the HTTP status the token endpoint answers with.
	Status int `json:"-"`
	// RetryAfter, when positive, is sent as Retry-After (seconds).
	RetryAfter int `json:"-"`
	// cause is an internal error that is logged, never shown.
	cause error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// Unwrap returns the internal cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// Is matches errors by code, so errors.Is(err, ErrInvalidGrant) holds for
// every invalid_grant whatever its description.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// WithDescription returns a copy of e with the description set.
func (e *Error) WithDescription(format string, args ...any) *Error {
	c := *e
	c.Description = fmt.Sprintf(format, args...)
	return &c
}

func newError(code string, status int) *Error { return &Error{Code: code, Status: status} }

// The OAuth error codes Gatehouse answers with.
var (
	ErrInvalidRequest          = newError("invalid_request", http.StatusBadRequest)
	ErrInvalidClient           = newError("invalid_client", http.StatusUnauthorized)
	ErrInvalidGrant            = newError("invalid_grant", http.StatusBadRequest)
	ErrUnauthorizedClient      = newError("unauthorized_client", http.StatusBadRequest)
	ErrUnsupportedGrantType    = newError("unsupported_grant_type", http.StatusBadRequest)
	ErrUnsupportedResponseType = newError("unsupported_response_type", http.StatusBadRequest)
	ErrInvalidScope            = newError("invalid_scope", http.StatusBadRequest)
	ErrAccessDenied            = newError("access_denied", http.StatusForbidden)
	ErrServerError             = newError("server_error", http.StatusInternalServerError)
	ErrLoginRequired           = newError("login_required", http.StatusBadRequest)
	ErrConsentRequired         = newError("consent_required", http.StatusBadRequest)
	ErrRequestNotSupported     = newError("request_not_supported", http.StatusBadRequest)
	ErrRequestURINotSupported  = newError("request_uri_not_supported", http.StatusBadRequest)
	ErrInvalidRequestURI       = newError("invalid_request_uri", http.StatusBadRequest) // OIDC Core §3.1.2.6, RFC 9126 §4
	ErrInvalidToken            = newError("invalid_token", http.StatusUnauthorized)
	ErrInsufficientScope       = newError("insufficient_scope", http.StatusForbidden)
	ErrInvalidTarget           = newError("invalid_target", http.StatusBadRequest)          // RFC 8707 §2
	ErrInvalidRedirectURI      = newError("invalid_redirect_uri", http.StatusBadRequest)    // RFC 7591 §3.2.2
	ErrInvalidClientMetadata   = newError("invalid_client_metadata", http.StatusBadRequest) // RFC 7591 §3.2.2
	// ErrTooManyRequests answers throttled attempts: 429 with
	// Retry-After (SPEC.md §3).
	ErrTooManyRequests = newError("too_many_requests", http.StatusTooManyRequests)
)

// serverError wraps an internal failure (storage, say) as server_error;
// the cause is kept for the log and never shown.
func serverError(cause error) *Error {
	e := ErrServerError.WithDescription("the server could not complete the request")
	e.cause = cause
	return e
}

// AsError converts any error into an *Error: OAuth errors stay as they
// are, anything else becomes server_error.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return serverError(err)
}
