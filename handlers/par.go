package handlers

import (
	"errors"
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
// public client proves nothing, so pushes of clients authenticated with
// the method none count against their address (PushesPerAddress within
// 10 minutes), as device authorization requests do. That is decided
// after authentication: credentials that only look like some (an empty
// Basic password, which means none) do not escape it.
//
// A DPoP header binds the pushed request to the proof's key (RFC 9449
// §10.1), checked against the endpoint's URL as configured; nonces as at
// the token endpoint.
func (h *Handlers) PushedAuthorizationRequest(c *fiber.Ctx) error {
	return h.clientEndpoint(c, func(r *oauth.ClientRequest) (any, error) {
		ctx := c.UserContext()
		r.DPoP = h.dpopRequest(c, c.Method(), h.Config.EndpointURL("par"))
		admit := func(client *oauth.AuthenticatedClient) error {
			if client.Method != oauth.AuthNone {
				return nil
			}
			l := throttle.New(h.Throttles, "par")
			l.PerAddress = PushesPerAddress
			l.Now = func() time.Time { return h.Now() }
			_, wait, err := l.Begin(ctx, "", r.RemoteAddr)
			if err != nil {
				return err
			}
			if wait > 0 {
				return oauth.TooManyRequests(wait, "too many pushed authorization requests from public clients at this address; try again later")
			}
			return nil
		}
		resp, err := h.OAuth.PushAuthorizationRequest(ctx, r, admit)
		if r.DPoP.Present() || errors.Is(err, oauth.ErrUseDPoPNonce) {
			if nerr := h.setDPoPNonce(c, false); nerr != nil {
				return nil, nerr
			}
		}
		if err != nil {
			return nil, err
		}
		c.Status(fiber.StatusCreated)
		return resp, nil
	})
}

// PushesPerAddress bounds the pushed authorization requests of public
// clients (authentication method none) from one address (IPv6: one /64)
// within the throttle window.
const PushesPerAddress = 60
