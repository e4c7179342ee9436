package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
)

// ClientRequest is what a client-authenticated endpoint (token, revoke,
// introspect) receives: the form body, the Authorization header and the
// caller's address (for throttling).
type ClientRequest struct {
	Form          url.Values
	Authorization string
	RemoteAddr    string
	// ClientThrottle, when set, counts this request's failed client
	// authentications instead of Options.ClientThrottle (a speculative
	// run holds them back until its answer is the one sent).
	ClientThrottle Limiter
	// DPoP is the request's DPoP header with its method and URL (token
	// endpoint only; nil or no proofs: none), RFC 9449.
	DPoP *DPoPRequest
}

// Auth methods (RFC 8414 token_endpoint_auth_methods_supported).
const (
	AuthSecretBasic = "client_secret_basic"
	AuthSecretPost  = "client_secret_post"
	AuthNone        = "none"
)

// AuthenticatedClient is a client that proved who it is.
type AuthenticatedClient struct {
	*Client
	Method string
}

// InvalidClientWithBasic reports whether e is invalid_client after the client
// used HTTP Basic, so that the answer must carry WWW-Authenticate.
func InvalidClientWithBasic(err error, r *ClientRequest) bool {
	return errors.Is(err, ErrInvalidClient) && strings.HasPrefix(strings.ToLower(strings.TrimSpace(r.Authorization)), "basic ")
}

// ParseBasic reads an HTTP Basic Authorization header whose user and
// password are form-urlencoded client credentials (RFC 6749 §2.3.1).
func ParseBasic(header string) (id, secretValue string, ok bool) {
	scheme, rest, found := strings.Cut(strings.TrimSpace(header), " ")
	if !found || !strings.EqualFold(scheme, "basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return "", "", false
	}
	user, pass, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	if id, err = url.QueryUnescape(user); err != nil {
		return "", "", false
	}
	if secretValue, err = url.QueryUnescape(pass); err != nil {
		return "", "", false
	}
	// Credentials are text: invalid UTF-8 or control characters (which
	// the database may refuse) are no credentials at all.
	if id == "" || !validCredential(id) || !validCredential(secretValue) {
		return "", "", false
	}
	return id, secretValue, true
}

// validCredential reports whether s is valid UTF-8 without control
// characters.
func validCredential(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// AuthenticateClient identifies and authenticates the client of a token,
// revocation or introspection request: client_secret_basic,
// client_secret_post, or none (client_id alone) for public clients. Two
// methods in one request are invalid_request. Secrets are compared in
// constant time on their SHA-256 digests. Failures are throttled per
// client and per address (429 with RetryAfter once over the limit).
func (s *Server) AuthenticateClient(ctx context.Context, r *ClientRequest) (*AuthenticatedClient, error) {
	var id, sec, method string
	hasSecret := false
	if strings.TrimSpace(r.Authorization) != "" {
		bid, bsec, ok := ParseBasic(r.Authorization)
		if !ok {
			return nil, ErrInvalidClient.WithDescription("the Authorization header is not valid HTTP Basic client authentication")
		}
		if len(r.Form["client_secret"]) > 0 {
			return nil, ErrInvalidRequest.WithDescription("use one client authentication method, not both Basic and client_secret")
		}
		if bodyID := r.Form.Get("client_id"); bodyID != "" && bodyID != bid {
			return nil, ErrInvalidRequest.WithDescription("client_id in the body differs from the Authorization header")
		}
		id, sec, method, hasSecret = bid, bsec, AuthSecretBasic, true
	} else {
		id = r.Form.Get("client_id")
		if _, ok := r.Form["client_secret"]; ok {
			sec, method, hasSecret = r.Form.Get("client_secret"), AuthSecretPost, true
		} else {
			method = AuthNone
		}
	}
	if id == "" {
		return nil, ErrInvalidClient.WithDescription("client authentication is required")
	}
	if len(id) > maxClientIDLength {
		return nil, ErrInvalidClient.WithDescription("unknown client or bad credentials")
	}
	c, err := s.model.GetClient(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		secret.Equal(secret.Digest(sec), make([]byte, 32)) // same work as a known client
		return nil, s.clientFailed(ctx, r, id, "unknown client or bad credentials")
	case errors.As(err, new(*Error)): // a client refused with a reason (ClientModel)
		return nil, s.clientFailed(ctx, r, id, AsError(err).Description)
	case err != nil:
		return nil, serverError(err)
	}
	if c.Public {
		if hasSecret && sec == "" && method == AuthSecretBasic {
			// Libraries that probe for the method (golang.org/x/oauth2)
			// send Basic with an empty secret: that is "none".
			hasSecret = false
		}
		if hasSecret {
			return nil, s.clientFailed(ctx, r, id, "public clients do not use a client secret")
		}
		return &AuthenticatedClient{Client: c, Method: AuthNone}, nil
	}
	if !hasSecret {
		return nil, s.clientFailed(ctx, r, id, "this client must authenticate with its client secret")
	}
	if len(c.SecretHash) == 0 || !secret.Equal(secret.Digest(sec), c.SecretHash) {
		return nil, s.clientFailed(ctx, r, id, "unknown client or bad credentials")
	}
	return &AuthenticatedClient{Client: c, Method: method}, nil
}

// clientFailed counts a failed client authentication and returns the
// invalid_client error, or 429 once the client or the address has failed
// too often. Only failures are throttled: a client presenting its right
// secret (256 random bits cannot be guessed) is never locked out by
// someone else's failures under its client ID.
func (s *Server) clientFailed(ctx context.Context, r *ClientRequest, id, desc string) error {
	limiter, addr := s.clientThrottle, r.RemoteAddr
	if r.ClientThrottle != nil {
		limiter = r.ClientThrottle
	}
	if limiter != nil {
		wait, err := limiter.Blocked(ctx, id, addr)
		if err != nil {
			return serverError(err)
		}
		if wait > 0 {
			return TooManyRequests(wait, "too many failed client authentications; try again later")
		}
		if err := limiter.Fail(ctx, id, addr); err != nil {
			return serverError(err)
		}
	}
	return ErrInvalidClient.WithDescription("%s", desc)
}

// maxClientIDLength bounds the client IDs looked up (ours are 24
// characters).
const maxClientIDLength = 128
