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
// malformed header, gives invalid_request (RFC 6750 §2, §3.1). A token
// sent with the DPoP scheme is not a bearer token: see ExtractAccessToken.
func ExtractBearer(src BearerSource, allowQuery bool) (string, error) {
	tok, dpop, err := ExtractAccessToken(src, allowQuery)
	if dpop {
		return "", nil
	}
	return tok, err
}

// ExtractAccessToken is ExtractBearer that also finds a token sent with
// the DPoP scheme (Authorization: DPoP, RFC 9449 §7.1), reporting which
// scheme carried it (dpop). A DPoP token goes in the header only: with
// another in the query or form it is sent more than one way.
func ExtractAccessToken(src BearerSource, allowQuery bool) (tok string, dpop bool, err error) {
	var found []string
	if h := strings.TrimSpace(src.Authorization); h != "" {
		scheme, t, ok := strings.Cut(h, " ")
		// Another scheme (Basic, say) carries no bearer token: the
		// answer is the bare challenge (RFC 6750 §3.1).
		isDPoP := strings.EqualFold(scheme, "dpop")
		if strings.EqualFold(scheme, "bearer") || isDPoP {
			t = strings.TrimSpace(t)
			if !ok || t == "" || strings.ContainsAny(t, " \t") {
				return "", isDPoP, ErrInvalidRequest.WithDescription("the Authorization header is malformed")
			}
			found = append(found, t)
			dpop = isDPoP
		}
	}
	if allowQuery {
		found = append(found, src.Query...)
		found = append(found, src.Form...)
	}
	switch len(found) {
	case 0:
		return "", false, nil
	case 1:
		if found[0] == "" {
			return "", false, ErrInvalidRequest.WithDescription("the access token is empty")
		}
		return found[0], dpop, nil
	default:
		return "", dpop, ErrInvalidRequest.WithDescription("send the access token one way only")
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
