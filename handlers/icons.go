package handlers

import (
	"errors"
	"regexp"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/clients"
	"github.com/gatehouse/gatehouse/app/store"
)

var imageIDRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Icon serves an uploaded client icon from the database, so that every
// instance can (GET /icons/{id}). The ID is the SHA-256 of the bytes, so the
// response never changes and is cached for a year; the sniffed content type
// is sent with nosniff and a CSP that forbids everything, so the image
// cannot act as a page.
func (h *Handlers) Icon(c *fiber.Ctx) error {
	id := c.Params("id")
	if !imageIDRE.MatchString(id) {
		return fiber.ErrNotFound
	}
	img, err := h.Store.GetImage(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) {
		return fiber.ErrNotFound
	}
	if err != nil {
		return err
	}
	if !clients.AllowedIconType(img.ContentType) {
		return fiber.ErrNotFound
	}
	etag := `"` + id + `"`
	c.Set(fiber.HeaderContentType, img.ContentType)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'")
	c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	c.Set(fiber.HeaderETag, etag)
	if c.Get(fiber.HeaderIfNoneMatch) == etag {
		return c.SendStatus(fiber.StatusNotModified)
	}
	return c.Send(img.Data)
}
