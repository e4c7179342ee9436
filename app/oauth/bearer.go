package oauth

import (
	"context"
	"strings"
)

// Access is what a valid access token grants.
type Access struct {
	Token  *Token
	User   *User // nil for client-credentials tokens
	Scopes []string
}

// BearerSource is where a resource request may carry its token
// (RFC 6750 §2): the Authorization header, and the access_token query or
// form parameter.
type BearerSource struct {
	Authorization string
	Query         []string // values of the access_token query parameter
	Form          []string // values of the access_token form parameter
}

// ExtractBearer finds the access token of a resource request. The query
// and form forms count only while allowQuery (allow_query_access_token)
// is on. No token at all gives ("", nil); more than one way, or a
// malformed header, gives invalid_request (RFC 6750 §2, §3.1).
func ExtractBearer(src BearerSource, allowQuery bool) (string, error) {
	var found []string
	if h := strings.TrimSpace(src.Authorization); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		// Another scheme (Basic, say) carries no bearer token: the
		// answer is the bare challenge (RFC 6750 §3.1).
		if strings.EqualFold(scheme, "bearer") {
			tok = strings.TrimSpace(tok)
			if !ok || tok == "" || strings.ContainsAny(tok, " \t") {
				return "", ErrInvalidRequest.WithDescription("the Authorization header is malformed")
			}
			found = append(found, tok)
		}
	}
	if allowQuery {
		found = append(found, src.Query...)
		found = append(found, src.Form...)
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		if found[0] == "" {
			return "", ErrInvalidRequest.WithDescription("the access token is empty")
		}
		return found[0], nil
	default:
		return "", ErrInvalidRequest.WithDescription("send the access token one way only")
	}
}

// AuthenticateAccessToken checks a bearer token (getAccessToken): it must
// be an access token that is neither expired nor revoked, and its user
// must still exist and be enabled. Failures are invalid_token.
func (s *Server) AuthenticateAccessToken(ctx context.Context, plain string) (*Access, error) {
	t, u, e := s.liveToken(ctx, plain)
	if e != nil {
		return nil, e
	}
	if t.Kind != KindAccess {
		return nil, ErrInvalidToken.WithDescription("a refresh token is not an access token")
	}
	scopes, e := s.usableScopes(ctx, t)
	if e != nil {
		return nil, e
	}
	return &Access{Token: t, User: u, Scopes: scopes}, nil
}

// usableScopes are the scopes a live token grants now: all it was issued
// with, except that a token without a user grants its machine scopes
// only (rule 51), also one issued before the upgrade that brought the
// flag, or before an admin took a scope's flag away.
func (s *Server) usableScopes(ctx context.Context, t *Token) ([]string, error) {
	scopes := strings.Fields(t.Scope)
	if t.UserID != nil || len(scopes) == 0 {
		return scopes, nil
	}
	all, err := s.listScopes(ctx)
	if err != nil {
		return nil, err
	}
	machine := make(map[string]bool, len(all))
	for _, sc := range all {
		machine[sc.ID] = sc.Machine
	}
	kept := scopes[:0]
	for _, sc := range scopes {
		if machine[sc] {
			kept = append(kept, sc)
		}
	}
	return kept, nil
}

// ScopeError is insufficient_scope with the scopes that would have
// allowed the request (RFC 6750 §3.1).
type ScopeError struct {
	Err    *Error
	Needed []string
}

// Error implements error.
func (e *ScopeError) Error() string { return e.Err.Error() }

// Unwrap exposes the OAuth error to errors.As.
func (e *ScopeError) Unwrap() error { return e.Err }

// CheckResource decides whether the access allows method on the resource
// path (verifyScope): a granted scope must guard it. Resources no scope
// guards are refused (deny by default). A refusal is a *ScopeError.
func (s *Server) CheckResource(ctx context.Context, a *Access, method, resource string) error {
	all, err := s.listScopes(ctx)
	if err != nil {
		return err
	}
	ok, needed := VerifyScope(all, a.Scopes, method, resource)
	if ok {
		return nil
	}
	if len(needed) == 0 {
		return &ScopeError{Err: ErrInsufficientScope.WithDescription("no scope grants access to %s %s", strings.ToUpper(method), truncate(resource, 100))}
	}
	return &ScopeError{Err: ErrInsufficientScope.WithDescription("the access token lacks the scope this resource needs"), Needed: needed}
}
