package handlers

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/throttle"
)

// PushedAuthorizationRequest is the pushed authorization request endpoint
// (POST {P}/par, RFC 9126 §2): client authentication and errors as at the
// token endpoint; 201 with the request_uri, never cached.
//
// Each push stores a row (for a minute). Confidential clients prove who
// they are, and a busy one pushes for all its users from one address; a
// public client proves nothing, so pushes without credentials count
// against their address (PushesPerAddress within 10 minutes), as device
// authorization requests do.
func (h *Handlers) PushedAuthorizationRequest(c *fiber.Ctx) error {
	return h.clientEndpoint(c, func(r *oauth.ClientRequest) (any, error) {
		ctx := c.UserContext()
		if r.Authorization == "" && !r.Form.Has("client_secret") && !r.Form.Has("client_assertion") {
			l := throttle.New(h.Throttles, "par")
			l.PerAddress = PushesPerAddress
			l.Now = func() time.Time { return h.Now() }
			_, wait, err := l.Begin(ctx, "", r.RemoteAddr)
			if err != nil {
				return nil, err
			}
			if wait > 0 {
				return nil, oauth.TooManyRequests(wait, "too many pushed authorization requests without client credentials from this address; try again later")
			}
		}
		resp, err := h.OAuth.PushAuthorizationRequest(ctx, r)
		if err != nil {
			return nil, err
		}
		c.Status(fiber.StatusCreated)
		return resp, nil
	})
}

// PushesPerAddress bounds the pushed authorization requests without client
// credentials (public clients) from one address (IPv6: one /64) within
// the throttle window.
const PushesPerAddress = 60
