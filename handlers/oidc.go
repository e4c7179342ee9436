package handlers

import (
	"net/url"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/oauth"
)

// Discovery serves the metadata document (GET
// /.well-known/openid-configuration and
// /.well-known/oauth-authorization-server): the configured issuer and the
// endpoints at their configured paths, with the grant and response types
// the settings in force enable. Settings change it, so caches keep it
// briefly.
func (h *Handlers) Discovery(c *fiber.Ctx) error {
	cfg := h.Config
	registration, err := h.RegistrationEndpointURL(c)
	if err != nil {
		return h.writeOAuthError(c, err, false)
	}
	m, e := h.OAuth.Metadata(c.UserContext(), oauth.Endpoints{
		Authorization: cfg.EndpointURL("authorize"), Token: cfg.EndpointURL("token"), Revocation: cfg.EndpointURL("revoke"),
		Introspection: cfg.EndpointURL("introspect"), UserInfo: cfg.EndpointURL("userinfo"), JWKS: cfg.EndpointURL("jwks"),
		DeviceAuthorization: cfg.EndpointURL("device_code"), EndSession: cfg.EndpointURL("logout"),
		Registration: registration, PushedAuthorizationRequest: cfg.EndpointURL("par"),
	})
	if e != nil {
		return h.writeOAuthError(c, e, false)
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=60")
	return c.JSON(m)
}

// UserInfo is the OpenID Connect UserInfo endpoint (GET and POST
// {P}/userinfo, OIDC Core §5.3): the bearer token must carry openid; the
// answer holds sub and the claims of the granted profile and email
// scopes. Errors are RFC 6750 challenges.
func (h *Handlers) UserInfo(c *fiber.Ctx) error {
	query, _ := url.ParseQuery(string(c.Request().URI().QueryString()))
	a, err := h.bearerAccess(c, query, resourceTarget{c.Method(), h.Config.EndpointURL("userinfo")})
	if a == nil {
		return err
	}
	resp, err := h.OAuth.UserInfo(a)
	if err != nil {
		return h.bearerChallenge(c, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderPragma, "no-cache")
	return c.JSON(resp)
}

// Introspect is the introspection endpoint (POST {P}/introspect,
// RFC 7662): confidential clients only.
func (h *Handlers) Introspect(c *fiber.Ctx) error {
	return h.clientEndpoint(c, func(r *oauth.ClientRequest) (any, error) {
		return h.OAuth.Introspect(c.UserContext(), r)
	})
}

// Revoke is the revocation endpoint (POST {P}/revoke, RFC 7009): 200 with
// an empty body whether or not there was anything to revoke.
func (h *Handlers) Revoke(c *fiber.Ctx) error {
	return h.clientEndpoint(c, func(r *oauth.ClientRequest) (any, error) {
		return nil, h.OAuth.Revoke(c.UserContext(), r)
	})
}
