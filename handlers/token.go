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
	r, e := clientRequest(c)
	if e != nil {
		return h.writeOAuthError(c, e, false)
	}
	resp, e := h.OAuth.Token(c.UserContext(), r)
	if e != nil {
		return h.writeOAuthError(c, e, oauth.InvalidClientWithBasic(e, r))
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderPragma, "no-cache")
	return c.JSON(resp)
}
