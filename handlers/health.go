package handlers

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Healthz answers liveness probes: the process is up.
func (h *Handlers) Healthz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"status": "ok"})
}

// Readyz answers readiness probes: 200 when the database (and Redis, when
// it keeps the throttle counts) answer within two seconds, 503 otherwise.
func (h *Handlers) Readyz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := h.Store.Ping(ctx); err != nil {
		h.Log.WarnContext(ctx, "readiness check failed", "err", err)
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "database": "unreachable"})
	}
	if r, ok := h.Throttles.(interface{ Ping(context.Context) error }); ok {
		if err := r.Ping(ctx); err != nil {
			h.Log.WarnContext(ctx, "readiness check failed: redis", "err", err)
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "database": "ok", "redis": "unreachable"})
		}
		return c.JSON(fiber.Map{"status": "ok", "database": "ok", "redis": "ok"})
	}
	return c.JSON(fiber.Map{"status": "ok", "database": "ok"})
}
