package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
)

// ClientRequest is what a client-authenticated endpoint (token, revoke,
// introspect, device authorization, PAR) receives: the form body, the
// Authorization header, the caller's address (for throttling) and the
// endpoint's URL (an aud client assertions may name).
type ClientRequest struct {
	Form          url.Values
	Authorization string
	RemoteAddr    string
	// Endpoint is the absolute URL of the endpoint that received the
	// request ("" when unknown): client assertions may name it as aud
	// besides the issuer and the token endpoint.
	Endpoint string
	// ClientThrottle, when set, counts this request's failed client
	// authentications instead of Options.ClientThrottle (a speculative
	// run holds them back until its answer is the one sent).
	ClientThrottle Limiter
	// DPoP is the request's DPoP header with its method and URL (token
	// endpoint only; nil or no proofs: none), RFC 9449.
	DPoP *DPoPRequest
}

// Auth methods (RFC 8414 token_endpoint_auth_methods_supported, RFC 7591
// token_endpoint_auth_method).
const (
	AuthSecretBasic   = "client_secret_basic"
	AuthSecretPost    = "client_secret_post"
	AuthSecretJWT     = "client_secret_jwt"
	AuthPrivateKeyJWT = "private_key_jwt"
	AuthNone          = "none"
)

// AuthMethods are the client authentication methods Gatehouse supports,
// as listed in the discovery document.
var AuthMethods = []string{AuthSecretBasic, AuthSecretPost, AuthSecretJWT, AuthPrivateKeyJWT, AuthNone}

// ClientAssertionTypeJWT is the client_assertion_type of JWT client
// assertions (RFC 7523 §2.2).
const ClientAssertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

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
// revocation, introspection, device authorization or pushed authorization
// request, by the method the client registered
// (Client.TokenEndpointAuthMethod):
//
//   - client_secret_basic and client_secret_post: the secret, in HTTP
//     Basic or in the body — either one whichever of the two the client
//     registered, as before the field existed: the secret is the same and
//     libraries that probe (golang.org/x/oauth2) try both. Secrets are
//     compared in constant time on their SHA-256 digests;
//   - client_secret_jwt: a client assertion (RFC 7523 §2.2, OIDC Core §9)
//     signed with HS256 and the client secret itself (Client.SecretKey);
//   - private_key_jwt: a client assertion signed with one of the client's
//     public keys (Client.JWKS or Client.JWKSURI, through the KeySource);
//   - none: client_id alone (public clients);
//   - "" (clients made before the field): the secret in Basic or the body,
//     or none for a public client.
//
// Client assertions are client_assertion_type
// urn:ietf:params:oauth:client-assertion-type:jwt-bearer with
// client_assertion: iss = sub = client_id, aud the issuer, the token
// endpoint or the endpoint that receives it, at most 5 minutes of life,
// a jti used once (Server.VerifyAssertion); client_id in the body is
// optional and must then be the assertion's sub. A client presenting
// another method than its own gets invalid_client naming the method
// expected. Two methods in one request are invalid_request. Every failed
// authentication is 401 invalid_client with its cause, throttled per
// client and per address (429 with RetryAfter once over the limit).
func (s *Server) AuthenticateClient(ctx context.Context, r *ClientRequest) (*AuthenticatedClient, error) {
	var id, sec, method string
	hasSecret := false
	_, hasAssertion := r.Form["client_assertion"]
	_, hasAssertionType := r.Form["client_assertion_type"]
	assertionSent := hasAssertion || hasAssertionType
	if strings.TrimSpace(r.Authorization) != "" {
		bid, bsec, ok := ParseBasic(r.Authorization)
		if !ok {
			return nil, ErrInvalidClient.WithDescription("the Authorization header is not valid HTTP Basic client authentication")
		}
		if len(r.Form["client_secret"]) > 0 {
			return nil, ErrInvalidRequest.WithDescription("use one client authentication method, not both Basic and client_secret")
		}
		if assertionSent {
			return nil, ErrInvalidRequest.WithDescription("use one client authentication method, not both Basic and client_assertion")
		}
		if bodyID := r.Form.Get("client_id"); bodyID != "" && bodyID != bid {
			return nil, ErrInvalidRequest.WithDescription("client_id in the body differs from the Authorization header")
		}
		id, sec, method, hasSecret = bid, bsec, AuthSecretBasic, true
	} else if assertionSent {
		if _, ok := r.Form["client_secret"]; ok {
			return nil, ErrInvalidRequest.WithDescription("use one client authentication method, not both client_secret and client_assertion")
		}
		return s.authenticateAssertion(ctx, r)
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
	if jwtMethod(c.TokenEndpointAuthMethod) {
		// A client secret is not how this client authenticates, even
		// when it is right (client_secret_jwt: the secret must not
		// travel).
		if hasSecret {
			return nil, s.clientFailed(ctx, r, id, fmt.Sprintf("this client authenticates with %s (a signed client_assertion), not with its client secret", c.TokenEndpointAuthMethod))
		}
		return nil, s.clientFailed(ctx, r, id, fmt.Sprintf("this client authenticates with %s: send client_assertion_type %s and a signed client_assertion", c.TokenEndpointAuthMethod, ClientAssertionTypeJWT))
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

// minHMACKeyBytes is the shortest HS256 key (RFC 7518 §3.2: at least the
// hash's size). Generated secrets are longer.
const minHMACKeyBytes = 32

// jwtMethod reports whether method authenticates with client assertions.
func jwtMethod(method string) bool { return method == AuthSecretJWT || method == AuthPrivateKeyJWT }

// authenticateAssertion authenticates a client by a JWT client assertion
// (client_secret_jwt, private_key_jwt).
func (s *Server) authenticateAssertion(ctx context.Context, r *ClientRequest) (*AuthenticatedClient, error) {
	switch {
	case len(r.Form["client_assertion_type"]) != 1 || r.Form.Get("client_assertion_type") == "":
		return nil, ErrInvalidRequest.WithDescription("client_assertion needs client_assertion_type %s", ClientAssertionTypeJWT)
	case r.Form.Get("client_assertion_type") != ClientAssertionTypeJWT:
		return nil, ErrInvalidClient.WithDescription("client_assertion_type %q is not supported (only %s)", truncate(r.Form.Get("client_assertion_type"), 100), ClientAssertionTypeJWT)
	case len(r.Form["client_assertion"]) != 1 || r.Form.Get("client_assertion") == "":
		return nil, ErrInvalidRequest.WithDescription("client_assertion_type was sent without a client_assertion")
	}
	raw := r.Form.Get("client_assertion")
	iss, sub, err := PeekAssertion(raw)
	if err != nil {
		return nil, ErrInvalidClient.WithDescription("the client assertion cannot be read: %s", AssertionReason(err))
	}
	id := r.Form.Get("client_id")
	switch {
	case sub == "":
		return nil, ErrInvalidClient.WithDescription("the client assertion has no sub (it must be the client_id)")
	case iss != sub:
		return nil, s.clientFailed(ctx, r, sub, fmt.Sprintf("the client assertion's iss %q and sub %q differ: both must be the client_id", truncate(iss, 100), truncate(sub, 100)))
	case id != "" && id != sub:
		return nil, s.clientFailed(ctx, r, id, "client_id in the body differs from the client assertion's sub")
	}
	id = sub
	if len(id) > maxClientIDLength {
		return nil, ErrInvalidClient.WithDescription("unknown client")
	}
	c, err := s.model.GetClient(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, s.clientFailed(ctx, r, id, "unknown client (the client assertion's sub)")
	case errors.As(err, new(*Error)):
		return nil, s.clientFailed(ctx, r, id, AsError(err).Description)
	case err != nil:
		return nil, serverError(err)
	}
	pol := AssertionPolicy{Namespace: ReplayClientAssertion, Issuer: c.ID, Subject: c.ID,
		Audiences: []string{s.issuer, s.tokenEndpoint, r.Endpoint}}
	switch c.TokenEndpointAuthMethod {
	case AuthSecretJWT:
		if len(c.SecretKey) == 0 {
			return nil, s.clientFailed(ctx, r, id, "client_secret_jwt needs the stored client secret, which this server does not have (or cannot decrypt): rotate the client secret")
		}
		if len(c.SecretKey) < minHMACKeyBytes {
			return nil, s.clientFailed(ctx, r, id, fmt.Sprintf("client_secret_jwt needs a client secret of at least %d bytes for HS256 (RFC 7518 §3.2): rotate the client secret", minHMACKeyBytes))
		}
		pol.Secret = c.SecretKey
	case AuthPrivateKeyJWT:
		pol.JWKS, pol.JWKSURI = c.JWKS, c.JWKSURI
	default:
		return nil, s.clientFailed(ctx, r, id, "this client does not authenticate with a client assertion: "+secretMethodHint(c))
	}
	if _, err := s.VerifyAssertion(ctx, raw, pol); err != nil {
		if why := AssertionReason(err); why != "" {
			return nil, s.clientFailed(ctx, r, id, "client assertion refused: "+why)
		}
		return nil, AsError(err)
	}
	return &AuthenticatedClient{Client: c, Method: c.TokenEndpointAuthMethod}, nil
}

// secretMethodHint says how a client that does not use assertions
// authenticates.
func secretMethodHint(c *Client) string {
	switch {
	case c.Public || c.TokenEndpointAuthMethod == AuthNone:
		return "it is a public client (none): send client_id alone"
	case c.TokenEndpointAuthMethod != "":
		return "it uses " + c.TokenEndpointAuthMethod + " (its client secret)"
	}
	return "it uses its client secret (client_secret_basic or client_secret_post)"
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
