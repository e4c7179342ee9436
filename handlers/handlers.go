// Package handlers adapts HTTP requests (fiber) to Gatehouse's services and
// renders the pages. Handlers stay thin: parse, call, render or redirect.
// One file per area.
package handlers

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/cache"
	"github.com/gatehouse/gatehouse/app/config"
	"github.com/gatehouse/gatehouse/app/keys"
	"github.com/gatehouse/gatehouse/app/oauth"
	"github.com/gatehouse/gatehouse/app/settings"
	"github.com/gatehouse/gatehouse/app/throttle"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/pages"
)

// Deps is everything the handlers use, built by the application (app's
// wiring): handlers build nothing themselves.
type Deps struct {
	Config   *config.Config
	Store    *models.Store
	Settings *settings.Service
	// Versions are the cache counters read once per request (app/cache):
	// what caches settings, clients, scopes, users or keys checks them.
	Versions *cache.Versions
	Log      *slog.Logger
	// LoginThrottle counts failed sign-ins per account and address.
	LoginThrottle *throttle.Limiter
	// SignupThrottle counts every sign-up per address, and EmailThrottle
	// every change of email address on the account page per account and
	// address.
	SignupThrottle, EmailThrottle *throttle.Limiter
	// RegisterThrottle counts every dynamic client registration request
	// per address.
	RegisterThrottle *throttle.Limiter
	// Throttles keeps every limiter's counts: the database, or Redis when
	// GATEHOUSE_REDIS_URL is set.
	Throttles throttle.Store
	// OAuth is the protocol core.
	OAuth *oauth.Server
	// Tokens answers token requests (the core, or a decorator of it).
	Tokens TokenService
	// Keys are the signing keys (the core's Signer, the JWKS).
	Keys *keys.Manager
	// Now is the clock (tests move it).
	Now func() time.Time
	// Metrics receives the domain counters (tokens issued, failed client
	// authentications and sign-ins); nil counts nothing.
	Metrics *Metrics
}

// Handlers are the page and API handlers.
type Handlers struct {
	Deps

	// devices signs the sign-in form's device cookies.
	devices deviceKeys
}

// New returns the handlers over d.
func New(d Deps) *Handlers {
	if d.Tokens == nil {
		d.Tokens = d.OAuth
	}
	return &Handlers{Deps: d}
}

// NewEveryAttemptLimiter limits attempts that count whether or not they
// succeed (sign-ups, email address changes: each answer may tell whether
// an address is registered): 10 per account and 10 per address within an
// hour. The window must not exceed what the throttle stores keep
// (app.ThrottleWindow, throttle.Redis.TTL: an hour).
func NewEveryAttemptLimiter(st throttle.Store, scope string) *throttle.Limiter {
	l := throttle.New(st, scope)
	l.Window, l.PerAccount, l.PerAddress = time.Hour, 10, 10
	return l
}

// RegistrationsPerAddress is how many dynamic client registration
// requests (RFC 7591) one address may make within an hour, whatever their
// outcome: enough for the MCP clients of a hosted assistant, which register
// from a few addresses again for each new connection, and a bound on
// mass registration.
const RegistrationsPerAddress = 60

// NewRegistrationLimiter limits dynamic client registration requests:
// RegistrationsPerAddress per address within an hour, counting every one.
func NewRegistrationLimiter(st throttle.Store) *throttle.Limiter {
	l := throttle.New(st, "register")
	l.Window, l.PerAccount, l.PerAddress = time.Hour, RegistrationsPerAddress, RegistrationsPerAddress
	return l
}

// base builds the layout data of a page.
func (h *Handlers) base(c *fiber.Ctx, title, active string) views.Base {
	sess := web.CurrentSession(c)
	b := views.Base{Title: title, Active: active, CSRFToken: sess.CSRFToken()}
	if u := web.CurrentUser(c); u != nil {
		b.User = &views.CurrentUser{Username: u.Username, Name: u.Name, Role: u.Role}
	}
	for _, f := range sess.Flashes() {
		b.Flashes = append(b.Flashes, views.Flash{Kind: f.Kind, Message: f.Message})
	}
	return b
}

// RenderError shows the HTML error page. Only messages written for users
// (fiber.Error texts made in this code base) are shown; anything else gets
// the generic text for its status. An empty title means the status's.
func (h *Handlers) RenderError(c *fiber.Ctx, status int, title, message string) error {
	return h.renderErrorData(c, pages.ErrorData{Status: status, Title: title, Message: message})
}

// renderErrorData renders the error page of d (RenderError). The
// session may be unavailable (e.g. the database is down): it renders a
// bare page rather than fail again.
func (h *Handlers) renderErrorData(c *fiber.Ctx, d pages.ErrorData) error {
	var b views.Base
	if _, ok := web.SessionOf(c); ok {
		b = h.base(c, http.StatusText(d.Status), "")
	} else {
		b = views.Base{Title: http.StatusText(d.Status)}
	}
	if d.Title != "" {
		b.Title = d.Title
	}
	return web.Render(c, d.Status, pages.Error(b, d))
}

// audit records an audit event; failures to record are logged, not fatal.
func (h *Handlers) audit(c *fiber.Ctx, actor *models.User, action, target string, success bool, details map[string]string) {
	e := auditEvent(c, actor, action, target, success, details)
	if err := h.Store.AddAuditEvent(c.UserContext(), e); err != nil {
		h.Log.ErrorContext(c.UserContext(), "audit event not recorded", "action", action, "err", err)
	}
}

// auditEvent is an event of the request's address, by actor (nil: no one
// signed in).
func auditEvent(c *fiber.Ctx, actor *models.User, action, target string, success bool, details map[string]string) *models.AuditEvent {
	e := &models.AuditEvent{Action: action, Target: target, RemoteAddr: web.IP(c), Success: success, Details: details}
	if actor != nil {
		id := actor.ID
		e.ActorID, e.Actor = &id, actor.Username
	}
	return e
}

// seeOther redirects after a form POST (303, so the browser GETs).
func seeOther(c *fiber.Ctx, to string) error {
	return c.Redirect(to, fiber.StatusSeeOther)
}
