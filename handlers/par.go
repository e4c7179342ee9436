package handlers

import (
	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/oauth"
)

// PushedAuthorizationRequest is the pushed authorization request endpoint
// (POST {P}/par, RFC 9126 §2): client authentication and errors as at the
// token endpoint; 201 with the request_uri, never cached.
func (h *Handlers) PushedAuthorizationRequest(c *fiber.Ctx) error {
	return h.clientEndpoint(c, func(r *oauth.ClientRequest) (any, error) {
		resp, err := h.OAuth.PushAuthorizationRequest(c.UserContext(), r)
		if err != nil {
			return nil, err
		}
		c.Status(fiber.StatusCreated)
		return resp, nil
	})
}
