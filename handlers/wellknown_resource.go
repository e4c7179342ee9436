package handlers

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/oauth"
)

// ProtectedResourceMetadata serves OAuth 2.0 Protected Resource Metadata
// (RFC 9728): GET /.well-known/oauth-protected-resource is Gatehouse's
// own API, the built-in resource {issuer}/api (also at the path-suffixed
// address RFC 9728 §3.1 gives it, .../oauth-protected-resource/api), and
// /.well-known/oauth-protected-resource/{path} a registered resource
// whose URI has that path on the origin the request was made to (a proxy
// routing a resource origin's well-known path here keeps the Host).
// Anything else is a JSON 404.
func (h *Handlers) ProtectedResourceMetadata(c *fiber.Ctx) error {
	suffix := strings.TrimPrefix(string(c.Request().URI().PathOriginal()), oauth.ProtectedResourceMetadataPath)
	if q := c.Request().URI().QueryString(); len(q) > 0 {
		suffix += "?" + string(q)
	}
	if suffix != "" && suffix[0] != '/' && suffix[0] != '?' {
		return h.resourceMetadataNotFound(c) // /.well-known/oauth-protected-resourceX
	}
	// The Host header itself: not X-Forwarded-Host, which any client
	// can send (fiber's Hostname honours it), and the answer may be cached.
	c.Vary(fiber.HeaderHost)
	m, ok, err := h.OAuth.ResourceMetadata(c.UserContext(), string(c.Request().Host()), suffix)
	if err != nil {
		return h.writeOAuthError(c, err, false)
	}
	if !ok {
		return h.resourceMetadataNotFound(c)
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=60")
	return c.JSON(m)
}

func (h *Handlers) resourceMetadataNotFound(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": "not_found",
		"error_description": "no protected resource is described at this address"})
}
