package web

import (
	"context"
	"encoding/base64"
	"errors"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/secret"
	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/models"
)

// CSRFField is the form field that carries the CSRF token.
const CSRFField = "csrf_token"

// CSRFMessage explains a refused form (missing or stale CSRF token).
const CSRFMessage = "This form has expired or was not sent by Gatehouse. Go back, reload the page and try again."

// CSRF refuses state-changing requests (anything but GET, HEAD, OPTIONS)
// whose csrf_token form field or X-CSRF-Token header does not match the
// session's token, answering them with refused (the request goes no
// further). Origin is not checked: pages send Referrer-Policy no-referrer,
// so browsers may send "Origin: null" on form posts.
func CSRF(refused fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		switch c.Method() {
		case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
			return c.Next()
		}
		sess := CurrentSession(c)
		want, _ := sess.Get(keyCSRF).(string)
		got := c.FormValue(CSRFField)
		if got == "" {
			got = c.Get("X-CSRF-Token")
		}
		if want == "" || got == "" || !secret.EqualString(got, want) {
			return refused(c)
		}
		if !validFormText(c) {
			return fiber.NewError(fiber.StatusBadRequest, InvalidTextMessage)
		}
		return c.Next()
	}
}

// InvalidTextMessage explains a refused form with invalid UTF-8 or NUL.
const InvalidTextMessage = "The form contains characters that are not valid text. Check what you entered and try again."

// InvalidAddressMessage explains a refused page address (path or query
// string) with invalid UTF-8 or NUL.
const InvalidAddressMessage = "The address contains characters that are not valid text. Check the link and try again."

// ValidText refuses (400) a page request whose path or query string,
// percent-decoded, is not valid UTF-8 or holds a NUL byte: no page needs
// them, and PostgreSQL refuses such text with an error, which would be a
// 500. Form bodies are checked with the CSRF token (CSRF).
func ValidText(c *fiber.Ctx) error {
	uri := c.Request().URI()
	ok := validText(uri.Path())
	uri.QueryArgs().VisitAll(func(k, v []byte) {
		ok = ok && validText(k) && validText(v)
	})
	if !ok {
		return fiber.NewError(fiber.StatusBadRequest, InvalidAddressMessage)
	}
	return c.Next()
}

// validText: valid UTF-8 without NUL.
func validText(b []byte) bool {
	return utf8.Valid(b) && !slices.Contains(b, 0)
}

// validFormText reports whether every name and value of the request's
// form body is valid UTF-8 without NUL: nothing malformed reaches the
// database (PostgreSQL refuses it with an error).
func validFormText(c *fiber.Ctx) bool {
	ok := true
	check := func(s string) {
		if !validText([]byte(s)) {
			ok = false
		}
	}
	if strings.HasPrefix(strings.ToLower(c.Get(fiber.HeaderContentType)), fiber.MIMEMultipartForm) {
		if mf, err := c.MultipartForm(); err == nil {
			for k, vs := range mf.Value {
				check(k)
				for _, v := range vs {
					check(v)
				}
			}
		}
		return ok
	}
	c.Request().PostArgs().VisitAll(func(k, v []byte) {
		check(string(k))
		check(string(v))
	})
	return ok
}

const localsUser = "gatehouse.user"

// LoadUser resolves the session's user (once per request). A session whose
// user was deleted or disabled, or changed their password since, is
// dropped: the browser goes on signed out.
func LoadUser(users interface {
	GetUser(ctx context.Context, id int64) (*models.User, error)
}) fiber.Handler {
	return func(c *fiber.Ctx) error {
		sess := CurrentSession(c)
		if id := sess.UserID(); id != 0 {
			u, err := users.GetUser(c.UserContext(), id)
			switch {
			case errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled):
				sess.Drop()
			case err != nil:
				return err
			case sess.AuthTime().Before(u.PasswordChangedAt.Add(-time.Second)):
				// the password changed since this session signed in
				sess.Drop()
			default:
				c.Locals(localsUser, u)
			}
		}
		return c.Next()
	}
}

// CurrentUser returns the signed-in user, or nil.
func CurrentUser(c *fiber.Ctx) *models.User {
	u, _ := c.Locals(localsUser).(*models.User)
	return u
}

// RequireUser sends signed-out visitors to /login, and back here after.
func RequireUser() fiber.Handler {
	return func(c *fiber.Ctx) error {
		if CurrentUser(c) == nil {
			if c.Method() != fiber.MethodGet {
				return fiber.NewError(fiber.StatusUnauthorized, "Your session has ended. Sign in again.")
			}
			return c.Redirect("/login?next="+url.QueryEscape(string(c.Request().RequestURI())), fiber.StatusSeeOther)
		}
		return c.Next()
	}
}

// ErrForbidden is the 403 for a signed-in user without the needed role.
var ErrForbidden = fiber.NewError(fiber.StatusForbidden, "Your account does not have access to this page.")

// RequireRole lets only users with one of roles through (after RequireUser).
func RequireRole(roles ...string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		u := CurrentUser(c)
		if u == nil {
			return RequireUser()(c)
		}
		if !slices.Contains(roles, u.Role) {
			return ErrForbidden
		}
		return c.Next()
	}
}

// SafeNext returns next when it is a local path on this server ("/..."),
// and "" otherwise: no scheme, no host, no "//" or "/\" that browsers
// would treat as another host. It prevents open redirects after sign-in.
func SafeNext(next string) string {
	if next == "" || len(next) > 4096 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return ""
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return ""
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	return next
}

// Render writes a templ component as an HTML page with the given status.
func Render(c *fiber.Ctx, status int, component templ.Component) error {
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return component.Render(c.UserContext(), c.Response().BodyWriter())
}

const localsIP = "gatehouse.ip"

// ClientIP works out the client's address: the connection's peer, unless
// that peer is a trusted proxy, in which case X-Forwarded-For is walked from
// the right, skipping trusted proxies, and the first untrusted hop is the
// client. The result is kept in c.Locals for the request.
func ClientIP(trusted []netip.Prefix) fiber.Handler {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(c *fiber.Ctx) error {
		peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
		peer = peer.Unmap()
		ip := peer
		if len(trusted) > 0 && isTrusted(peer) {
			// Every X-Forwarded-For line counts, in order: some proxies
			// add a line of their own instead of appending to the
			// client's, and reading only the first would let the client
			// choose its address.
			var lines []string
			for _, v := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
				lines = append(lines, string(v))
			}
			hops := strings.Split(strings.Join(lines, ","), ",")
			for i := len(hops) - 1; i >= 0; i-- {
				a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
				if err != nil {
					break
				}
				ip = a.Unmap()
				if !isTrusted(ip) {
					break
				}
			}
		}
		c.Locals(localsIP, ip.String())
		return c.Next()
	}
}

// IP returns the client's address as worked out by ClientIP.
func IP(c *fiber.Ctx) string {
	if s, ok := c.Locals(localsIP).(string); ok {
		return s
	}
	return c.IP()
}

// ContentSecurityPolicy allows only this origin's scripts, styles and
// fonts (no inline script or style), images from this origin or https
// (client and scope icons), forms that post here, and no framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; " +
	"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// AllowFrames widens this page's CSP to load iframes from origins (the
// front-channel logout addresses on the signed-out page); other pages
// load none.
func AllowFrames(c *fiber.Ctx, origins []string) {
	var ok []string
	for _, o := range origins {
		if originRE.MatchString(o) && !slices.Contains(ok, o) {
			ok = append(ok, o)
		}
	}
	if len(ok) == 0 {
		return
	}
	csp := string(c.Response().Header.Peek(fiber.HeaderContentSecurityPolicy))
	if csp == "" {
		csp = ContentSecurityPolicy
	}
	c.Set(fiber.HeaderContentSecurityPolicy, csp+"; frame-src "+strings.Join(ok, " "))
}

// originRE is what AllowFormTarget accepts: scheme://host[:port].
var originRE = regexp.MustCompile(`^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$`)

// AllowFormTarget widens this page's CSP form-action to origin. Browsers
// apply form-action to the redirects that follow a form post, so a page
// whose form ends in a redirect to a client (sign-in or consent during an
// authorization) must name the client's origin.
func AllowFormTarget(c *fiber.Ctx, origin string) {
	if !originRE.MatchString(origin) {
		return
	}
	c.Set(fiber.HeaderContentSecurityPolicy, strings.Replace(ContentSecurityPolicy, "form-action 'self'", "form-action 'self' "+origin, 1))
}

// FormPostPolicy sets the CSP of a form_post page (OAuth 2.0 Form Post
// Response Mode) and returns the nonce of its one script: nothing loads
// but the site's own stylesheet, and only the script with the nonce runs. There is no form-action:
// browsers (Chrome) apply it to the redirects that follow the post too,
// so a redirect URI that sends the browser on elsewhere would end on a
// blank page; the form's action is the registered redirect URI, which the
// page's markup fixes and no script but its own can change.
func FormPostPolicy(c *fiber.Ctx) (nonce string) {
	nonce = base64.RawURLEncoding.EncodeToString(secret.Random(18))
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; style-src 'self'; script-src 'nonce-"+nonce+"'; base-uri 'none'; frame-ancestors 'none'")
	return nonce
}
