package oauth

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
)

// Pushed authorization requests (RFC 9126): a client posts its
// authorization request to {P}/par, authenticated as at the token
// endpoint, and sends the browser to the authorization endpoint with
// client_id and the request_uri it got back. The request is validated
// when pushed and again when used; it works once, for PushedRequestLifetime.

// RequestURIPrefix begins every request_uri the PAR endpoint issues
// (RFC 9126 §2.2); the rest is 256 random bits.
const RequestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// PushedRequestLifetime is how long a request_uri can be used.
const PushedRequestLifetime = 60 * time.Second

// PushedRequest is a stored pushed authorization request. Only the
// SHA-256 of its request_uri is stored.
type PushedRequest struct {
	Hash     []byte
	ClientID string
	// Params are the authorization request's parameters, form-encoded,
	// without the client's credentials.
	Params string
	// DPoPJkt is the thumbprint of the DPoP key the request was pushed
	// with (RFC 9449 §10.1), "" for none.
	DPoPJkt   string
	ExpiresAt time.Time
	UsedAt    *time.Time
	CreatedAt time.Time
}

// PARModel stores pushed authorization requests.
type PARModel interface {
	// SavePushedRequest stores a new pushed request; a hash taken gives
	// store.ErrAlreadyExists.
	SavePushedRequest(ctx context.Context, r *PushedRequest) error
	// UsePushedRequest marks the request with that hash used at now and
	// returns it, atomically: of concurrent calls one wins. A request
	// that is unknown, of another client, expired at now or used before
	// gives store.ErrNotFound (and stays as it was).
	UsePushedRequest(ctx context.Context, hash []byte, clientID string, now time.Time) (*PushedRequest, error)
}

// PushedAuthorizationResponse is the PAR endpoint's answer (RFC 9126
// §2.2), sent with 201 Created.
type PushedAuthorizationResponse struct {
	RequestURI string `json:"request_uri"`
	ExpiresIn  int64  `json:"expires_in"`
}

// pushedParams are the authorization request parameters Gatehouse
// recognises (parseAuthorize and the pages after it): of a push, only
// these are stored; the others would be ignored at the authorization
// endpoint anyway (RFC 6749 §3.1). The client's credentials are never
// among them; request is, to be refused as at the authorization endpoint.
var pushedParams = []string{"client_id", "response_type", "redirect_uri", "scope", "state", "response_mode",
	"code_challenge", "code_challenge_method", "nonce", "prompt", "max_age", "resource", "dpop_jkt", "request"}

// MaxPushedParams bounds the stored parameters of a pushed request
// (form-encoded, recognised parameters only): a request in flight is kept
// in the user's session, whose cookie carries about 1.4 KB of them, so a
// larger push is refused when pushed rather than failing when used.
const MaxPushedParams = 1000

// PushAuthorizationRequest is the PAR endpoint (RFC 9126 §2): the client
// authenticates as at the token endpoint (every method), the request is
// validated exactly like one sent to the authorization endpoint, and its
// recognised parameters are stored under a new request_uri. admit, when
// set, is asked once the client is authenticated whether to go on (the
// handler throttles public clients per address); its error is the
// answer. A DPoP proof (r.DPoP, RFC 9449 §10.1) binds the request: its
// key's thumbprint becomes the dpop_jkt parameter, which the code then
// carries. Errors are token endpoint errors (JSON): invalid_client (401)
// when the authentication fails, otherwise the authorization request's
// error code with 400.
func (s *Server) PushAuthorizationRequest(ctx context.Context, r *ClientRequest, admit func(*AuthenticatedClient) error) (*PushedAuthorizationResponse, error) {
	client, err := s.AuthenticateClient(ctx, r)
	if err != nil {
		return nil, err
	}
	if admit != nil {
		if err := admit(client); err != nil {
			return nil, err
		}
	}
	if r.Form.Has("request_uri") {
		return nil, ErrInvalidRequest.WithDescription("request_uri must not be sent in a pushed authorization request (RFC 9126 §2.1)")
	}
	if dup, ok := singleValues(r.Form); !ok { // refused at the authorization endpoint too, even if unknown
		return nil, ErrInvalidRequest.WithDescription("the %s parameter was sent more than once", truncate(dup, 32))
	}
	params := url.Values{}
	for _, k := range pushedParams {
		if v, ok := r.Form[k]; ok {
			params[k] = append([]string(nil), v...)
		}
	}
	switch ids := params["client_id"]; {
	case len(ids) == 0:
		params.Set("client_id", client.ID) // authenticated with Basic or an assertion
	case len(ids) > 1 || ids[0] != client.ID:
		return nil, ErrInvalidRequest.WithDescription("client_id differs from the authenticated client")
	}
	jkt := ""
	if r.DPoP.Present() {
		pol, perr := s.loadPolicy(ctx)
		if perr != nil {
			return nil, perr
		}
		if jkt, err = s.verifyDPoP(ctx, *r.DPoP, "", dpopNonceRequired(pol, false)); err != nil {
			return nil, err
		}
		if sent := params["dpop_jkt"]; len(sent) > 0 && (len(sent) > 1 || !secret.EqualString(sent[0], jkt)) {
			return nil, ErrInvalidDPoPProof.WithDescription("the dpop_jkt parameter is not the thumbprint of the DPoP proof's key (RFC 9449 §10.1)")
		}
		params.Set("dpop_jkt", jkt)
	}
	if _, err := s.parseAuthorize(ctx, params, true); err != nil {
		var ae *AuthorizeError
		if errors.As(err, &ae) {
			e := *ae.Err
			if e.Status != 400 && e.Code != ErrServerError.Code {
				e.Status = 400 // access_denied and the like: a refused request
			}
			return nil, &e
		}
		return nil, err
	}
	encoded := params.Encode()
	if len(encoded) > MaxPushedParams {
		return nil, ErrInvalidRequest.WithDescription("the pushed request is too large: its parameters take %d bytes form-encoded, at most %d are accepted",
			len(encoded), MaxPushedParams)
	}
	plain := secret.New("")
	now := s.now()
	pr := &PushedRequest{
		Hash: secret.Digest(plain), ClientID: client.ID, Params: encoded, DPoPJkt: jkt,
		ExpiresAt: now.Add(PushedRequestLifetime), CreatedAt: now,
	}
	if err := s.model.SavePushedRequest(ctx, pr); err != nil {
		return nil, serverError(err)
	}
	return &PushedAuthorizationResponse{RequestURI: RequestURIPrefix + plain, ExpiresIn: int64(PushedRequestLifetime / time.Second)}, nil
}

// RequestURIDigest is the stored form of a request_uri: the SHA-256 of
// its random part; nil when it is not one the PAR endpoint issues.
func RequestURIDigest(requestURI string) []byte {
	rest, ok := strings.CutPrefix(requestURI, RequestURIPrefix)
	if !ok || rest == "" || len(rest) > 128 {
		return nil
	}
	return secret.Digest(rest)
}

// usePushed resolves the request_uri of an authorization request (RFC
// 9126 §4): the pushed request it names is used up now, and only its
// parameters count; of the ones sent, only client_id, which must be the
// pushing client's. Every failure is shown on the error page: nothing
// sent with the request_uri can be trusted as a redirect URI.
func (s *Server) usePushed(ctx context.Context, params url.Values) (*AuthorizeRequest, error) {
	page := func(e *Error) error { return &AuthorizeError{Err: e} }
	if len(params["request_uri"]) > 1 || len(params["client_id"]) > 1 {
		return nil, page(ErrInvalidRequest.WithDescription("the request_uri or client_id parameter was sent more than once"))
	}
	clientID, uri := params.Get("client_id"), params.Get("request_uri")
	if clientID == "" {
		return nil, page(ErrInvalidRequest.WithDescription("a request with request_uri must also carry client_id"))
	}
	if !strings.HasPrefix(uri, RequestURIPrefix) {
		return nil, page(ErrRequestURINotSupported.WithDescription("only request_uri values from this server's pushed authorization request endpoint are supported"))
	}
	hash := RequestURIDigest(uri)
	if hash == nil || !validText(clientID) {
		return nil, page(ErrInvalidRequestURI.WithDescription("the request_uri is unknown, expired or already used"))
	}
	pr, err := s.model.UsePushedRequest(ctx, hash, clientID, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, page(ErrInvalidRequestURI.WithDescription("the request_uri is unknown, expired or already used"))
	}
	if err != nil {
		return nil, serverError(err)
	}
	pushed, err := url.ParseQuery(pr.Params)
	if err != nil || pushed.Get("client_id") != clientID {
		return nil, page(ErrInvalidRequestURI.WithDescription("the pushed request cannot be read"))
	}
	req, err := s.parseAuthorize(ctx, pushed, true)
	if err != nil {
		return nil, err
	}
	req.RequestURIHash = hash
	return req, nil
}
