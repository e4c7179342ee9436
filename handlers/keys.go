package handlers

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// jwksCacheControl lets clients and shared caches keep the JWKS but
// makes them revalidate it (cheaply, by ETag) before each use: new keys
// sign from the moment they are made, so a cached set without them would
// refuse fresh tokens, even behind a CDN or with a client that does not
// refetch on an unknown kid.
const jwksCacheControl = "public, no-cache"

// JWKS serves the public signing keys as a JWK Set (GET {P}/jwks, RFC 7517
// §5): every key that may have signed a token still valid, current keys
// first. An ETag lets clients revalidate cheaply.
func (h *Handlers) JWKS(c *fiber.Ctx) error {
	doc, err := h.Keys.JWKS(c.UserContext())
	if err != nil {
		return err
	}
	sum := sha256.Sum256(doc)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	c.Set(fiber.HeaderCacheControl, jwksCacheControl)
	c.Set(fiber.HeaderETag, etag)
	if etagMatches(c.Get(fiber.HeaderIfNoneMatch), etag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(doc)
}

// etagMatches reports whether an If-None-Match header names etag (weak
// comparison, RFC 9110 §13.1.2).
func etagMatches(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == etag || v == "*" {
			return true
		}
	}
	return false
}
