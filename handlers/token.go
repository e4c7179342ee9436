package handlers

import (
	"mime"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/cache"
	"github.com/gatehouse/gatehouse/app/metrics"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/throttle"
	"github.com/gatehouse/gatehouse/app/web"
)

// clientRequest reads a client-authenticated request (token, revoke,
// introspect): an application/x-www-form-urlencoded body with repeated
// parameters kept, the Authorization header and the caller's address.
func clientRequest(c *fiber.Ctx) (*oauth.ClientRequest, *oauth.Error) {
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEApplicationForm {
		return nil, oauth.ErrInvalidRequest.WithDescription("the body must be application/x-www-form-urlencoded")
	}
	form, e := oauth.ParseForm(string(c.Body()))
	if e != nil {
		return nil, e
	}
	return &oauth.ClientRequest{Form: form, Authorization: c.Get(fiber.HeaderAuthorization), RemoteAddr: web.IP(c)}, nil
}

// Token is the token endpoint (POST {P}/token, RFC 6749 §3.2): JSON
// answers that are never cached (§5.1).
//
// Client-credentials requests, the machine-to-machine hot path, are served
// speculatively: with the cache counters of the latest read while a fresh
// read runs alongside the INSERT, instead of before it. When the fresh
// read shows that a client, scope, setting or key changed meanwhile, the
// tokens are revoked unsent and the request runs again on the state in
// force, so the answer is the same as without speculation, one database
// round trip sooner.
//
// Successful answers count as tokens issued for their grant type (a
// password grant's failed sign-in is counted with its audit event, see
// onSecurityEvent).
func (h *Handlers) Token(c *fiber.Ctx) error {
	return h.clientEndpoint(c, func(r *oauth.ClientRequest) (any, *oauth.Error) {
		resp, e := h.token(c, r)
		if e == nil {
			h.Metrics.TokenIssued(r.Form.Get("grant_type"))
		}
		return resp, e
	})
}

// token answers a token request (see Token).
func (h *Handlers) token(c *fiber.Ctx, r *oauth.ClientRequest) (any, *oauth.Error) {
	ctx := c.UserContext()
	if h.Versions != nil && len(r.Form["grant_type"]) == 1 && r.Form.Get("grant_type") == oauth.GrantClientCredentials {
		// Failed client authentications are counted only for the run
		// whose answer is sent.
		sctx, held := throttle.Hold(h.Versions.Speculate(ctx))
		resp, e := h.OAuth.Token(sctx, r)
		ok, err := cache.Confirm(sctx)
		if err == nil && ok {
			if err := held.Release(ctx); err != nil {
				return nil, oauth.AsError(err)
			}
			if e != nil {
				return nil, e
			}
			return resp, nil
		}
		if resp != nil {
			if err := h.OAuth.Discard(ctx, resp); err != nil {
				return nil, oauth.AsError(err)
			}
		}
	}
	return h.OAuth.Token(ctx, r)
}

// clientEndpoint runs a client-authenticated endpoint (token, revoke,
// introspect, device code): it reads the request, lets serve answer, and
// writes the answer as JSON (nil: an empty 200), or the error (with
// WWW-Authenticate when a Basic client failed to authenticate). Either
// way the answer is never cached. An invalid_client answer counts as a
// failed client authentication at the endpoint.
func (h *Handlers) clientEndpoint(c *fiber.Ctx, serve func(*oauth.ClientRequest) (any, *oauth.Error)) error {
	r, e := clientRequest(c)
	if e != nil {
		return h.writeOAuthError(c, e, false)
	}
	resp, e := serve(r)
	if e != nil {
		if e.Code == oauth.ErrInvalidClient.Code {
			h.Metrics.ClientAuthFailed(h.clientEndpointName(c))
		}
		return h.writeOAuthError(c, e, oauth.InvalidClientWithBasic(e, r))
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
		for _, name := range []string{"token", "revoke", "introspect", "device_code"} {
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
