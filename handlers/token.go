package handlers

import (
	"context"
	"errors"
	"mime"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/metrics"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/web"
)

// clientRequest reads a client-authenticated request (token, revoke,
// introspect): an application/x-www-form-urlencoded body with repeated
// parameters kept, the Authorization header and the caller's address.
func clientRequest(c *fiber.Ctx) (*oauth.ClientRequest, error) {
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEApplicationForm {
		return nil, oauth.ErrInvalidRequest.WithDescription("the body must be application/x-www-form-urlencoded")
	}
	form, err := oauth.ParseForm(string(c.Body()))
	if err != nil {
		return nil, err
	}
	return &oauth.ClientRequest{Form: form, Authorization: c.Get(fiber.HeaderAuthorization), RemoteAddr: web.IP(c)}, nil
}

// TokenService answers token requests: the core itself, or what the
// application wraps around it (app's speculative client-credentials
// issuance).
type TokenService interface {
	Token(ctx context.Context, r *oauth.ClientRequest) (*oauth.TokenResponse, error)
}

// Token is the token endpoint (POST {P}/token, RFC 6749 §3.2): JSON
// answers that are never cached (§5.1). Successful answers count as
// tokens issued for their grant type (a password grant's failed sign-in
// is counted with its audit event, see OnSecurityEvent).
//
// A DPoP header (RFC 9449) goes to the core with the method and the
// endpoint's URL as configured (never from the Host header). While the
// dpop_nonce setting asks for nonces, answers to requests with a proof,
// and every use_dpop_nonce error, carry a fresh one in DPoP-Nonce.
func (h *Handlers) Token(c *fiber.Ctx) error {
	return h.clientEndpoint(c, func(r *oauth.ClientRequest) (any, error) {
		r.DPoP = h.dpopRequest(c, c.Method(), h.Config.EndpointURL("token"))
		resp, err := h.Tokens.Token(c.UserContext(), r)
		if r.DPoP.Present() || errors.Is(err, oauth.ErrUseDPoPNonce) {
			if nerr := h.setDPoPNonce(c, false); nerr != nil {
				return nil, nerr
			}
		}
		if err != nil {
			return nil, err
		}
		h.Metrics.TokenIssued(r.Form.Get("grant_type"))
		return resp, nil
	})
}

// dpopRequest is the DPoP header of c (every value: more than one is an
// error the core names) with the method and URL the proof must name; nil
// without the header.
func (h *Handlers) dpopRequest(c *fiber.Ctx, method, url string) *oauth.DPoPRequest {
	vals := c.Request().Header.PeekAll("DPoP")
	if len(vals) == 0 {
		return nil
	}
	r := &oauth.DPoPRequest{Method: method, URL: url}
	for _, v := range vals {
		r.Proofs = append(r.Proofs, string(v))
	}
	return r
}

// setDPoPNonce sets DPoP-Nonce to a fresh server nonce while the
// dpop_nonce setting asks for nonces at the token endpoint or (resource)
// at resources.
func (h *Handlers) setDPoPNonce(c *fiber.Ctx, resource bool) error {
	n, err := h.OAuth.DPoPNonce(c.UserContext(), resource)
	if err != nil {
		return err
	}
	if n != "" {
		c.Set("DPoP-Nonce", n)
	}
	return nil
}

// clientEndpoint runs a client-authenticated endpoint (token, revoke,
// introspect, device code): it reads the request, lets serve answer, and
// writes the answer as JSON (nil: an empty 200), or the error (with
// WWW-Authenticate when a Basic client failed to authenticate). Either
// way the answer is never cached. An invalid_client answer counts as a
// failed client authentication at the endpoint.
func (h *Handlers) clientEndpoint(c *fiber.Ctx, serve func(*oauth.ClientRequest) (any, error)) error {
	r, err := clientRequest(c)
	if err != nil {
		return h.writeOAuthError(c, err, false)
	}
	if name := h.clientEndpointName(c); name != "other" {
		r.Endpoint = h.Config.EndpointURL(name)
	}
	resp, err := serve(r)
	if err != nil {
		if errors.Is(err, oauth.ErrInvalidClient) {
			h.Metrics.ClientAuthFailed(h.clientEndpointName(c))
		}
		return h.writeOAuthError(c, err, oauth.InvalidClientWithBasic(err, r))
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderPragma, "no-cache")
	if resp == nil {
		c.Status(fiber.StatusOK)
		return nil
	}
	return c.JSON(resp)
}

// clientEndpointName names the client-authenticated endpoint c was routed
// to (the endpoint label of the client authentication failures).
func (h *Handlers) clientEndpointName(c *fiber.Ctx) string {
	if h.Config != nil {
		p := c.Route().Path
		for _, name := range []string{"token", "revoke", "introspect", "device_code", "par"} {
			if p == h.Config.Endpoint(name) {
				return name
			}
		}
	}
	return "other"
}

// Metrics are the Prometheus metrics the handlers count into
// (Handlers.Metrics; nil counts nothing).
type Metrics = metrics.Metrics
