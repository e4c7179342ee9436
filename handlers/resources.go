package handlers

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/oauth"
)

// bearerRealm names the protection space in WWW-Authenticate.
const bearerRealm = "gatehouse"

// localAccess is the Locals key of the checked access token.
const localAccess = "oauth.access"

// localResourceMetadata is the Locals key of the RFC 9728 metadata URL of
// the resource a request is for: bearerChallenge names it in every
// challenge (resource_metadata, RFC 9728 §5.1).
const localResourceMetadata = "oauth.resource_metadata"

// localDPoP is the Locals key set when a resource request's refusals are
// answered with a DPoP challenge (RFC 9449 §7.1): the request used the
// DPoP scheme, or its token is DPoP-bound.
const localDPoP = "oauth.dpop"

// bearerChallenge answers a resource request refused by RFC 6750 §3: no
// token (err nil) is a bare challenge; otherwise the error code (and the
// scopes that would do, of a *oauth.ScopeError) go into WWW-Authenticate
// and the JSON body. For a protected resource (/api, {P}/verify guarding a
// resource) the challenge names the resource's metadata (RFC 9728 §5.1,
// resource_metadata). A refusal of a DPoP request or token (an
// *oauth.DPoPChallenge, or localDPoP set) is a DPoP challenge with the
// accepted algs (RFC 9449 §7.1), followed by a Bearer one when the token
// came as a Bearer token; use_dpop_nonce comes with a fresh DPoP-Nonce.
// It is the one writer of bearer errors.
func (h *Handlers) bearerChallenge(c *fiber.Ctx, err error) error {
	var e *oauth.Error
	var needed []string
	dpop, _ := c.Locals(localDPoP).(string)
	if err != nil {
		e = oauth.AsError(err)
		if cause := e.Unwrap(); cause != nil {
			return cause
		}
		var se *oauth.ScopeError
		if errors.As(err, &se) {
			needed = se.Needed
		}
		var dc *oauth.DPoPChallenge
		if errors.As(err, &dc) && dpop == "" {
			dpop = dpopBearerToo
		}
		if errors.Is(err, oauth.ErrUseDPoPNonce) {
			if nerr := h.setDPoPNonce(c, true); nerr != nil {
				return nerr
			}
		}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	metadata := ""
	if m, ok := c.Locals(localResourceMetadata).(string); ok && m != "" {
		metadata = fmt.Sprintf(`, resource_metadata=%q`, quoteSafe(m))
	}
	if e == nil {
		c.Set(fiber.HeaderWWWAuthenticate, fmt.Sprintf(`Bearer realm=%q`, bearerRealm)+metadata)
		return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"error_description": "an access token is required"})
	}
	params := fmt.Sprintf(`realm=%q, error=%q, error_description=%q`, bearerRealm, e.Code, quoteSafe(e.Description))
	if len(needed) > 0 {
		params += fmt.Sprintf(`, scope=%q`, strings.Join(needed, " "))
	}
	if dpop == "" {
		c.Set(fiber.HeaderWWWAuthenticate, "Bearer "+params+metadata)
	} else {
		c.Set(fiber.HeaderWWWAuthenticate, "DPoP "+params+fmt.Sprintf(`, algs=%q`, strings.Join(oauth.DPoPSigningAlgs, " "))+metadata)
		if dpop == dpopBearerToo && e.Code != oauth.ErrInvalidDPoPProof.Code && e.Code != oauth.ErrUseDPoPNonce.Code {
			c.Response().Header.Add(fiber.HeaderWWWAuthenticate, "Bearer "+params+metadata)
		}
	}
	body := fiber.Map{"error": e.Code, "error_description": e.Description}
	if len(needed) > 0 {
		body["scope"] = strings.Join(needed, " ")
	}
	return c.Status(e.Status).JSON(body)
}

// localDPoP values: the request used the DPoP scheme (DPoP challenges
// only), or its Bearer token is DPoP-bound (a Bearer challenge follows
// the DPoP one).
const (
	dpopScheme    = "scheme"
	dpopBearerToo = "bearer"
)

// quoteSafe keeps a description inside a quoted-string (RFC 6750 §3:
// printable ASCII without " and \).
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

// resourceTarget is the method and absolute URL of a resource request
// as its DPoP proof must name them (htm, htu): for this server's own
// resources, the configured issuer plus the path; for {P}/verify, the
// proxied request ("" when the proxy did not say).
type resourceTarget struct{ method, url string }

// checkBearer authenticates the request's access token, checks that its
// audience allows audience (a resource URI, canonical; "" for no check:
// see oauth.CheckAudience) and that a granted scope guards method on
// path. query holds the request's query parameters (for the access_token
// form while allowed); target is what a DPoP proof must name.
func (h *Handlers) checkBearer(c *fiber.Ctx, audience string, acceptNoAudience bool, method, path string, query url.Values, target resourceTarget) (*oauth.Access, error) {
	a, err := h.bearerAccess(c, query, target)
	if a == nil {
		return nil, err
	}
	if audience != "" {
		if err := oauth.CheckAudience(a.Token, audience, acceptNoAudience); err != nil {
			return nil, h.bearerChallenge(c, err)
		}
	}
	if err := h.OAuth.CheckResource(c.UserContext(), a, method, path); err != nil {
		return nil, h.bearerChallenge(c, err)
	}
	return a, nil
}

// bearerAccess authenticates the request's access token, found in the
// Authorization header (Bearer or DPoP scheme), or (while
// allow_query_access_token is on) in the access_token query parameter of
// query or of a form body. A DPoP-bound token needs the DPoP scheme and
// a proof naming target (RFC 9449 §7); a token that is not bound needs
// the Bearer scheme. A request without a valid token has been answered
// with a challenge when it returns nil.
func (h *Handlers) bearerAccess(c *fiber.Ctx, query url.Values, target resourceTarget) (*oauth.Access, error) {
	ctx := c.UserContext()
	pol, err := h.Settings.Load(ctx)
	if err != nil {
		return nil, err
	}
	src := oauth.BearerSource{Authorization: c.Get(fiber.HeaderAuthorization), Query: query["access_token"]}
	if pol.AllowQueryAccessToken && strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationForm) {
		if form, ferr := url.ParseQuery(string(c.Body())); ferr == nil {
			src.Form = form["access_token"]
		}
	}
	tok, dpop, err := oauth.ExtractAccessToken(src, pol.AllowQueryAccessToken)
	if dpop {
		c.Locals(localDPoP, dpopScheme)
	}
	if err != nil {
		return nil, h.bearerChallenge(c, err)
	}
	if tok == "" {
		return nil, h.bearerChallenge(c, nil)
	}
	a, err := h.OAuth.AuthenticateAccessToken(ctx, tok)
	if err != nil {
		return nil, h.bearerChallenge(c, err)
	}
	proof := h.dpopRequest(c, target.method, target.url)
	if err := h.OAuth.CheckDPoP(ctx, a, dpop, tok, proof); err != nil {
		return nil, h.bearerChallenge(c, err)
	}
	if a.Token.Jkt != "" {
		// Later refusals (scope, audience) of a bound token are DPoP
		// challenges too.
		c.Locals(localDPoP, dpopScheme)
		if err := h.setDPoPNonce(c, true); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// RequireToken protects a resource of this server (/api/...), the
// built-in resource {issuer}/api: the request needs an access token for
// it (an audience that includes it, or none) with a scope guarding its
// method and path. Challenges name the resource's metadata (RFC 9728).
func (h *Handlers) RequireToken(c *fiber.Ctx) error {
	builtin := oauth.BuiltinResource(h.Config.Issuer).URI
	c.Locals(localResourceMetadata, oauth.ProtectedResourceMetadataURL(builtin))
	query, _ := url.ParseQuery(string(c.Request().URI().QueryString()))
	// Tokens without an audience (issued before resources existed) keep
	// working here.
	a, err := h.checkBearer(c, builtin, true, c.Method(), c.Path(), query,
		resourceTarget{c.Method(), strings.TrimRight(h.Config.Issuer, "/") + c.Path()})
	if a == nil {
		return err
	}
	c.Locals(localAccess, a)
	return c.Next()
}

// APIUser is the built-in protected resource (GET /api/user): the token
// owner's profile, the email only with the email scope and the name only
// with the profile scope.
func (h *Handlers) APIUser(c *fiber.Ctx) error {
	a, _ := c.Locals(localAccess).(*oauth.Access)
	if a == nil || a.User == nil {
		return h.bearerChallenge(c, oauth.ErrInsufficientScope.WithDescription("this resource needs a token issued for a user; client-credentials tokens have none"))
	}
	u := a.User
	out := fiber.Map{"sub": u.Subject, "username": u.Username, "role": u.Role}
	for _, s := range a.Scopes {
		switch s {
		case "email":
			out["email"] = u.Email
			out["email_verified"] = u.EmailVerified
		case "profile":
			out["name"] = u.Name
			out["preferred_username"] = u.Username
		}
	}
	return c.JSON(out)
}

// Verify is the forward-auth check for reverse proxies ({P}/verify): the
// bearer token must carry a scope guarding X-Forwarded-Method on
// X-Forwarded-Uri. 200 with X-Gatehouse-* headers, 401 without a valid
// token, 403 when no granted scope guards the request (deny by default).
//
// The proxy may say which resource (RFC 8707) the route is, by the
// X-Gatehouse-Resource header or the resource query parameter of the
// verify URL it calls (docs/mcp.md): then a token whose audience does not
// include it is refused (401 invalid_token; tokens without an audience,
// issued before resources existed, still pass), every 401 names the
// resource's metadata (RFC 9728), and a 200 carries X-Gatehouse-Resource.
// A malformed or unknown resource, or two that differ, is the proxy's
// misconfiguration: 400, before any token is looked at.
func (h *Handlers) Verify(c *fiber.Ctx) error {
	method := strings.ToUpper(strings.TrimSpace(c.Get("X-Forwarded-Method")))
	uri := strings.TrimSpace(c.Get("X-Forwarded-Uri"))
	if method == "" || uri == "" {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "invalid_request",
			"error_description": "X-Forwarded-Method and X-Forwarded-Uri are required"})
	}
	resource, msg, err := h.verifyResource(c)
	if err != nil {
		return err
	}
	if msg != "" {
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "invalid_request", "error_description": msg})
	}
	if resource != "" {
		c.Locals(localResourceMetadata, oauth.ProtectedResourceMetadataURL(resource))
	}
	var query url.Values
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		query, _ = url.ParseQuery(uri[i+1:])
	}
	// A named resource is a new configuration: a token must be for it.
	a, err := h.checkBearer(c, resource, false, method, uri, query, resourceTarget{method, forwardedURL(c, uri)})
	if a == nil {
		return err
	}
	if resource != "" {
		c.Set(VerifyResourceHeader, resource)
	}
	if len(a.Token.Audience) > 0 {
		c.Set("X-Gatehouse-Audience", strings.Join(a.Token.Audience, " "))
	}
	if a.User != nil {
		c.Set("X-Gatehouse-User", a.User.Username)
		c.Set("X-Gatehouse-Subject", a.User.Subject)
	} else {
		c.Set("X-Gatehouse-Subject", a.Token.ClientID)
	}
	c.Set("X-Gatehouse-Client", a.Token.ClientID)
	c.Set("X-Gatehouse-Scope", strings.Join(a.Scopes, " "))
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.SendStatus(fiber.StatusOK)
}

// forwardedURL is the absolute URL of the request a proxy asks
// {P}/verify about, for the htu of DPoP proofs: X-Forwarded-Proto,
// X-Forwarded-Host and the X-Forwarded-Uri path, which the proxy sets
// (Caddy and Traefik do; nginx needs them in the verify location); ""
// when the proxy sends none (a DPoP proof then cannot be checked). One
// source only: a second one (X-Original-URL) that a proxy passes on from
// the client could name another resource server's URL.
func forwardedURL(c *fiber.Ctx, uri string) string {
	proto := strings.ToLower(strings.TrimSpace(c.Get("X-Forwarded-Proto")))
	host := strings.TrimSpace(c.Get("X-Forwarded-Host"))
	if (proto != "https" && proto != "http") || host == "" || !strings.HasPrefix(uri, "/") {
		return ""
	}
	return proto + "://" + host + uri
}

// VerifyResourceHeader is the request header by which a proxy tells
// {P}/verify which resource the route is (its URI); the 200 answer
// carries it back, canonical.
const VerifyResourceHeader = "X-Gatehouse-Resource"

// verifyResource is the resource {P}/verify guards for this request: the
// X-Gatehouse-Resource header or the verify URL's resource query
// parameter (either, or both when they agree), canonical; "" when the
// proxy named none. msg explains a misconfiguration (malformed, unknown,
// conflicting, repeated), answered with 400.
func (h *Handlers) verifyResource(c *fiber.Ctx) (resource, msg string, err error) {
	var named []string
	if v := c.Request().Header.PeekAll(VerifyResourceHeader); len(v) > 1 {
		return "", "the " + VerifyResourceHeader + " header was sent more than once", nil
	} else if len(v) == 1 {
		named = append(named, strings.TrimSpace(string(v[0])))
	}
	query, _ := url.ParseQuery(string(c.Request().URI().QueryString()))
	switch q := query["resource"]; len(q) {
	case 0:
	case 1:
		named = append(named, q[0])
	default:
		return "", "the resource parameter of the verify URL was given more than once", nil
	}
	for _, n := range named {
		canon, cerr := oauth.CanonicalResource(n)
		if cerr != nil {
			return "", fmt.Sprintf("the resource %q that the proxy names (%s header or resource parameter of the verify URL) is not valid: %v",
				truncateText(n, 100), VerifyResourceHeader, cerr), nil
		}
		if resource != "" && canon != resource {
			return "", fmt.Sprintf("the %s header (%s) and the resource parameter of the verify URL (%s) differ", VerifyResourceHeader,
				named[0], truncateText(n, 100)), nil
		}
		resource = canon
	}
	if resource == "" {
		return "", "", nil
	}
	if _, ok, rerr := h.OAuth.Resource(c.UserContext(), resource); rerr != nil {
		return "", "", rerr
	} else if !ok {
		return "", fmt.Sprintf("the proxy names the resource %s (%s header or resource parameter of the verify URL), which is not registered: register it or correct the proxy configuration",
			truncateText(resource, 200), VerifyResourceHeader), nil
	}
	return resource, "", nil
}

// truncateText shortens s for messages.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
