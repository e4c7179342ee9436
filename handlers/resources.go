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

// bearerChallenge answers a resource request refused by RFC 6750 §3: no
// token (err nil) is a bare challenge; otherwise the error code (and the
// scopes that would do, of a *oauth.ScopeError) go into WWW-Authenticate
// and the JSON body. It is the one writer of bearer errors.
func (h *Handlers) bearerChallenge(c *fiber.Ctx, err error) error {
	var e *oauth.Error
	var needed []string
	if err != nil {
		e = oauth.AsError(err)
		if cause := e.Unwrap(); cause != nil {
			return cause
		}
		var se *oauth.ScopeError
		if errors.As(err, &se) {
			needed = se.Needed
		}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if e == nil {
		c.Set(fiber.HeaderWWWAuthenticate, fmt.Sprintf(`Bearer realm=%q`, bearerRealm))
		return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"error_description": "an access token is required"})
	}
	v := fmt.Sprintf(`Bearer realm=%q, error=%q, error_description=%q`, bearerRealm, e.Code, quoteSafe(e.Description))
	if len(needed) > 0 {
		v += fmt.Sprintf(`, scope=%q`, strings.Join(needed, " "))
	}
	c.Set(fiber.HeaderWWWAuthenticate, v)
	body := fiber.Map{"error": e.Code, "error_description": e.Description}
	if len(needed) > 0 {
		body["scope"] = strings.Join(needed, " ")
	}
	return c.Status(e.Status).JSON(body)
}

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

// checkBearer authenticates the request's access token and checks that a
// granted scope guards method on resource. query holds the request's query
// parameters (for the access_token form while allowed).
func (h *Handlers) checkBearer(c *fiber.Ctx, method, resource string, query url.Values) (*oauth.Access, error) {
	a, err := h.bearerAccess(c, query)
	if a == nil {
		return nil, err
	}
	if err := h.OAuth.CheckResource(c.UserContext(), a, method, resource); err != nil {
		return nil, h.bearerChallenge(c, err)
	}
	return a, nil
}

// bearerAccess authenticates the request's access token, found in the
// Authorization header, or (while allow_query_access_token is on) in the
// access_token query parameter of query or of a form body. A request
// without a valid token has been answered with a challenge when it
// returns nil.
func (h *Handlers) bearerAccess(c *fiber.Ctx, query url.Values) (*oauth.Access, error) {
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
	tok, err := oauth.ExtractBearer(src, pol.AllowQueryAccessToken)
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
	return a, nil
}

// RequireToken protects a resource of this server (/api/...): the
// request needs an access token with a scope guarding its method and
// path.
func (h *Handlers) RequireToken(c *fiber.Ctx) error {
	query, _ := url.ParseQuery(string(c.Request().URI().QueryString()))
	a, err := h.checkBearer(c, c.Method(), c.Path(), query)
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
func (h *Handlers) Verify(c *fiber.Ctx) error {
	method := strings.ToUpper(strings.TrimSpace(c.Get("X-Forwarded-Method")))
	uri := strings.TrimSpace(c.Get("X-Forwarded-Uri"))
	if method == "" || uri == "" {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "invalid_request",
			"error_description": "X-Forwarded-Method and X-Forwarded-Uri are required"})
	}
	var query url.Values
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		query, _ = url.ParseQuery(uri[i+1:])
	}
	a, err := h.checkBearer(c, method, uri, query)
	if a == nil {
		return err
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
