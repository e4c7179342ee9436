package oauth

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// ParseForm decodes an application/x-www-form-urlencoded body of the
// client-authenticated endpoints (token, revoke, introspect, device
// code). Repeated parameters are kept (the endpoints refuse them and name
// them, RFC 6749 §3.1, §3.2). A body that is not valid form encoding, or
// a name or value that is not valid UTF-8 or contains NUL, is
// invalid_request: nothing malformed reaches the database.
func ParseForm(body string) (url.Values, error) {
	form, err := url.ParseQuery(body)
	if err != nil {
		return nil, ErrInvalidRequest.WithDescription("the body is not valid form encoding")
	}
	for k, vals := range form {
		if !validText(k) {
			return nil, ErrInvalidRequest.WithDescription("a parameter name is not valid UTF-8 text")
		}
		for _, v := range vals {
			if !validText(v) {
				return nil, ErrInvalidRequest.WithDescription("the %s parameter is not valid UTF-8 text", truncate(k, 32))
			}
		}
	}
	return form, nil
}

// validText reports whether s is valid UTF-8 without NUL.
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
