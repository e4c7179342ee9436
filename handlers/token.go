package handlers

import (
	"mime"
	"net/url"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/oauth"
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
	form, err := url.ParseQuery(string(c.Body()))
	if err != nil {
		return nil, oauth.ErrInvalidRequest.WithDescription("the body is not valid form encoding")
	}
	return &oauth.ClientRequest{Form: form, Authorization: c.Get(fiber.HeaderAuthorization), RemoteAddr: web.IP(c)}, nil
}

// Token is the token endpoint (POST {P}/token, RFC 6749 §3.2): JSON
// answers that are never cached (§5.1).
func (h *Handlers) Token(c *fiber.Ctx) error {
	return h.clientEndpoint(c, func(r *oauth.ClientRequest) (any, *oauth.Error) {
		return h.OAuth.Token(c.UserContext(), r)
	})
}

// clientEndpoint runs a client-authenticated endpoint (token, revoke,
// introspect, device code): it reads the request, lets serve answer, and
// writes the answer as JSON (nil: an empty 200), or the error (with
// WWW-Authenticate when a Basic client failed to authenticate). Either
// way the answer is never cached.
func (h *Handlers) clientEndpoint(c *fiber.Ctx, serve func(*oauth.ClientRequest) (any, *oauth.Error)) error {
	r, e := clientRequest(c)
	if e != nil {
		return h.writeOAuthError(c, e, false)
	}
	resp, e := serve(r)
	if e != nil {
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
