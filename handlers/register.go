package handlers

import (
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/clients"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/app/throttle"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
)

// Dynamic client registration (RFC 7591) at {P}/register and the client
// configuration endpoint (RFC 7592) at {P}/register/{client_id}, while
// the dynamic_registration setting is token or open (off: 404, and the
// metadata does not list the endpoint). The rules are the core's
// (oauth.ParseClientMetadata) and the clients service's
// (clients.Register); these handlers read, throttle, authorize and write.

// Values of the dynamic_registration setting.
const (
	registrationOff   = "off"
	registrationToken = "token"
)

// registrationMode is the dynamic_registration setting in force.
func (h *Handlers) registrationMode(c *fiber.Ctx) (string, error) {
	v, err := h.Settings.Load(c.UserContext())
	if err != nil {
		return "", err
	}
	return v.DynamicRegistration, nil
}

// RegistrationEndpointURL is the registration endpoint's URL while
// dynamic registration is on, "" while it is off (for the metadata).
func (h *Handlers) RegistrationEndpointURL(c *fiber.Ctx) (string, error) {
	mode, err := h.registrationMode(c)
	if err != nil || mode == registrationOff || mode == "" {
		return "", err
	}
	return h.Config.EndpointURL("register"), nil
}

// registrationClientURI is where a registered client manages its
// registration (RFC 7592).
func (h *Handlers) registrationClientURI(clientID string) string {
	return h.Config.EndpointURL("register") + "/" + url.PathEscape(clientID)
}

// registrationIsOff answers a registration request while dynamic
// registration is off: 404, as for any path that does not exist.
func registrationIsOff(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": "not_found",
		"error_description": "dynamic client registration is not enabled on this server"})
}

// invalidToken answers a missing or wrong initial or registration access
// token: 401 invalid_token with a Bearer challenge (RFC 6750 §3), which
// names no error when the request sent no credentials (§3.1).
func (h *Handlers) invalidToken(c *fiber.Ctx, description string) error {
	if c.Get(fiber.HeaderAuthorization) == "" {
		c.Set(fiber.HeaderWWWAuthenticate, fmt.Sprintf(`Bearer realm=%q`, bearerRealm))
	} else {
		c.Set(fiber.HeaderWWWAuthenticate, fmt.Sprintf(`Bearer realm=%q, error="invalid_token"`, bearerRealm))
	}
	return h.writeOAuthError(c, oauth.ErrInvalidToken.WithDescription("%s", description), false)
}

// registrationBody returns the JSON body of a registration or update
// request, or the error to answer.
func registrationBody(c *fiber.Ctx) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEApplicationJSON {
		return nil, oauth.ErrInvalidClientMetadata.WithDescription("the body must be application/json: a JSON object of client metadata (RFC 7591 §3.1)")
	}
	return c.Body(), nil
}

// writeClientInformation writes a client information response (RFC 7591
// §3.2.1): never cached.
func writeClientInformation(c *fiber.Ctx, status int, info *oauth.ClientInformation) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderPragma, "no-cache")
	return c.Status(status).JSON(info)
}

// Register is the client registration endpoint (POST {P}/register, RFC
// 7591 §3): while the setting is token, with an initial access token
// (single use: spent by the registration that succeeds); while open, by
// anyone. Every request counts towards the per-address limit (10 an
// hour), whatever its outcome. 201 with the client information response:
// the client ID, a secret unless the client is public, and the
// registration access token, each shown only now.
func (h *Handlers) Register(c *fiber.Ctx) error {
	ctx := c.UserContext()
	mode, err := h.registrationMode(c)
	if err != nil {
		return err
	}
	if mode == registrationOff || mode == "" {
		return registrationIsOff(c)
	}
	if _, wait, err := h.RegisterThrottle.Begin(ctx, "", web.IP(c)); err != nil {
		return err
	} else if wait > 0 {
		e := oauth.ErrTooManyRequests.WithDescription("too many client registrations from your network: try again in %s", humanWait(wait))
		e.RetryAfter = throttle.RetryAfterSeconds(wait)
		return h.writeOAuthError(c, e, false)
	}
	var initial []byte // the initial access token's digest
	if mode == registrationToken {
		tok, _ := oauth.ExtractBearer(oauth.BearerSource{Authorization: c.Get(fiber.HeaderAuthorization)}, false)
		if tok == "" {
			return h.invalidToken(c, "registration needs an initial access token (Authorization: Bearer ...) from an administrator of this server")
		}
		initial = secret.Digest(tok)
		err := h.Store.CheckOneTimeToken(ctx, initial, clients.InitialTokenPurpose, h.Now().UTC())
		if errors.Is(err, store.ErrNotFound) {
			return h.invalidToken(c, "the initial access token is unknown, expired or used already")
		}
		if err != nil {
			return err
		}
	}
	body, err := registrationBody(c)
	if err != nil {
		return h.writeOAuthError(c, err, false)
	}
	md, err := oauth.ParseClientMetadata(body)
	if err != nil {
		return h.writeOAuthError(c, err, false)
	}
	var reg *clients.Registered
	err = h.Store.Tx(ctx, func(tx *models.Store) error {
		if initial != nil {
			// Spent with the registration: a refused one keeps it.
			if err := tx.UseOneTimeToken(ctx, initial, clients.InitialTokenPurpose, h.Now().UTC()); err != nil {
				return err
			}
		}
		var err error
		reg, err = clients.Register(ctx, tx, md)
		return err
	})
	var oe *oauth.Error
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Spent by a concurrent registration meanwhile.
		return h.invalidToken(c, "the initial access token is unknown, expired or used already")
	case errors.As(err, &oe):
		return h.writeOAuthError(c, oe, false)
	case err != nil:
		return err
	}
	cl := reg.Client
	details := map[string]string{"name": cl.Name, "public": strconv.FormatBool(cl.Public), "mode": mode,
		"grant_types": strings.Join(cl.GrantTypes, " "), "redirect_uris": strings.Join(cl.RedirectURIs, " ")}
	if md.SoftwareID != "" {
		details["software_id"] = md.SoftwareID
	}
	h.audit(c, nil, "client.registered", cl.ClientID, true, details)
	info := clients.RegisteredMetadata(cl).Information(cl.ClientID, cl.CreatedAt, h.registrationClientURI(cl.ClientID), reg.Secret, reg.Token)
	return writeClientInformation(c, fiber.StatusCreated, info)
}

// registeredClient returns the self-registered client of the request's
// {client_id} when the request carries its registration access token. A
// missing or wrong token, an unknown client, and one that did not
// register itself (or was promoted) all get the same 401 invalid_token,
// so that nothing tells which client IDs exist. done is true when the
// answer is written.
func (h *Handlers) registeredClient(c *fiber.Ctx) (cl *models.Client, done bool, err error) {
	mode, err := h.registrationMode(c)
	if err != nil {
		return nil, false, err
	}
	if mode == registrationOff || mode == "" {
		return nil, true, registrationIsOff(c)
	}
	const refused = "the registration access token is missing or not that of this client"
	tok, _ := oauth.ExtractBearer(oauth.BearerSource{Authorization: c.Get(fiber.HeaderAuthorization)}, false)
	if tok == "" {
		return nil, true, h.invalidToken(c, refused)
	}
	cl, err = h.Store.GetClient(c.UserContext(), c.Params("client_id"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, true, h.invalidToken(c, refused)
	}
	if err != nil {
		return nil, false, err
	}
	if !clients.RegistrationTokenOK(cl, tok) {
		return nil, true, h.invalidToken(c, refused)
	}
	return cl, false, nil
}

// ReadRegistration is the client read request (GET
// {P}/register/{client_id}, RFC 7592 §2.1): the client's metadata as
// registered. Neither the secret nor the registration access token is
// sent again: only their digests are stored.
func (h *Handlers) ReadRegistration(c *fiber.Ctx) error {
	cl, done, err := h.registeredClient(c)
	if done || err != nil {
		return err
	}
	info := clients.RegisteredMetadata(cl).Information(cl.ClientID, cl.CreatedAt, h.registrationClientURI(cl.ClientID), "", "")
	return writeClientInformation(c, fiber.StatusOK, info)
}

// UpdateRegistration is the client update request (PUT
// {P}/register/{client_id}, RFC 7592 §2.2): the body replaces the
// client's metadata, checked as a registration is; it must carry the
// client's client_id, and a client_secret in it must be the client's.
// The registration access token stays the same; a client that becomes
// confidential gets its secret in this answer, once.
func (h *Handlers) UpdateRegistration(c *fiber.Ctx) error {
	cl, done, err := h.registeredClient(c)
	if done || err != nil {
		return err
	}
	body, err := registrationBody(c)
	if err != nil {
		return h.writeOAuthError(c, err, false)
	}
	md, err := oauth.ParseClientMetadata(body)
	if err != nil {
		return h.writeOAuthError(c, err, false)
	}
	saved, plain, err := clients.UpdateRegistered(c.UserContext(), h.Store, cl.ClientID, md, h.Now())
	var oe *oauth.Error
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, clients.ErrNotRegistered):
		// Deleted or promoted meanwhile.
		return h.invalidToken(c, "the registration access token is missing or not that of this client")
	case errors.As(err, &oe):
		return h.writeOAuthError(c, oe, false)
	case err != nil:
		return err
	}
	details := clients.AuditDetails(clients.FromClient(cl), clients.FromClient(saved))
	if plain != "" {
		details["secret"] = "issued"
	}
	h.audit(c, nil, "client.registration_updated", cl.ClientID, true, details)
	info := clients.RegisteredMetadata(saved).Information(saved.ClientID, saved.CreatedAt, h.registrationClientURI(saved.ClientID), plain, "")
	return writeClientInformation(c, fiber.StatusOK, info)
}

// DeleteRegistration is the client delete request (DELETE
// {P}/register/{client_id}, RFC 7592 §2.3): the client is deleted with
// its tokens, codes and consents, as from the dashboard. 204.
func (h *Handlers) DeleteRegistration(c *fiber.Ctx) error {
	cl, done, err := h.registeredClient(c)
	if done || err != nil {
		return err
	}
	ctx := c.UserContext()
	usage, err := h.Store.GetClientUsage(ctx, cl.ClientID)
	if err != nil {
		return err
	}
	if err := h.Store.DeleteClient(ctx, cl.ClientID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	h.audit(c, nil, "client.deleted", cl.ClientID, true, map[string]string{
		"name": cl.Name, "revoked_tokens": strconv.FormatInt(usage.ActiveTokens, 10), "by": "the client (RFC 7592)"})
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.SendStatus(fiber.StatusNoContent)
}
