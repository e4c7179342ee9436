package app

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
)

// routes is the one route table of Gatehouse. extra (tests only) adds
// routes before the catch-all.
func (s *Server) routes(extra ...func(*Server)) {
	a, h := s.App, s.Handlers

	// The outer recover only guards the middleware below; a handler's
	// panic is turned into an error by the inner one, so it is logged with
	// its request ID and counted as a 500 like any other failure.
	a.Use(recover.New())
	// The metrics middleware sees the final status: the access log inside
	// it turns returned errors into responses.
	a.Use(requestID, web.ClientIP(s.Config.TrustedProxies), s.Handlers.Metrics.Middleware, s.accessLog, s.securityHeaders,
		recover.New(recover.Config{EnableStackTrace: true, StackTraceHandler: s.logPanic}))

	// Machine endpoints: no session, no CSRF.
	a.Get("/healthz", h.Healthz)
	a.Get("/readyz", h.Readyz)
	if s.Config.MetricsAddr == "" {
		a.Get("/metrics", h.Metrics.Handler) // otherwise on its own listener (ServeBoth)
	}
	a.Use("/static", staticFiles())

	cfg := s.Config
	// Browser apps (single-page apps with PKCE) call these directly, with
	// bearer tokens or client credentials and never cookies: any origin
	// may, without credentials. Pages and the authorization endpoint send
	// no CORS headers.
	crossOrigin := cors.New(cors.Config{AllowOrigins: "*", AllowMethods: "GET,POST", AllowHeaders: "Authorization,Content-Type,DPoP",
		ExposeHeaders: "WWW-Authenticate,DPoP-Nonce", MaxAge: 86400})
	for _, p := range []string{cfg.Endpoint("token"), cfg.Endpoint("revoke"), cfg.Endpoint("userinfo"), cfg.Endpoint("jwks"),
		cfg.Endpoint("device_code"), cfg.Endpoint("par"), "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
		"/.well-known/oauth-protected-resource", "/api/"} {
		a.Use(p, crossOrigin)
	}
	// Dynamic client registration (RFC 7591, RFC 7592): browser-based
	// MCP clients register themselves too; the subtree holds each client's
	// configuration endpoint (PUT, DELETE).
	a.Use(cfg.Endpoint("register"), cors.New(cors.Config{AllowOrigins: "*", AllowMethods: "GET,POST,PUT,DELETE",
		AllowHeaders: "Authorization,Content-Type", ExposeHeaders: "WWW-Authenticate", MaxAge: 86400}))
	// OAuth endpoints. The authorization endpoint is a browser page with a
	// session but no CSRF check: clients send users to it from their own
	// sites; the consent form behind it has the check.
	a.Get(cfg.Endpoint("authorize"), s.session(h.Authorize)...)
	a.Post(cfg.Endpoint("authorize"), s.session(h.Authorize)...)
	a.Post(cfg.Endpoint("token"), h.Token)
	a.Post(cfg.Endpoint("device_code"), h.DeviceAuthorization)
	a.Post(cfg.Endpoint("par"), h.PushedAuthorizationRequest)
	a.Post(cfg.Endpoint("revoke"), h.Revoke)
	a.Post(cfg.Endpoint("introspect"), h.Introspect)
	a.Get(cfg.Endpoint("userinfo"), h.UserInfo)
	a.Post(cfg.Endpoint("userinfo"), h.UserInfo)
	a.Get(cfg.Endpoint("jwks"), h.JWKS)
	a.Get("/.well-known/openid-configuration", h.Discovery)
	a.Get("/.well-known/oauth-authorization-server", h.Discovery)
	// Protected resource metadata (RFC 9728): Gatehouse's API and the
	// registered resources whose well-known path reaches it.
	a.Get("/.well-known/oauth-protected-resource", h.ProtectedResourceMetadata)
	a.Get("/.well-known/oauth-protected-resource/*", h.ProtectedResourceMetadata)
	a.All(cfg.Endpoint("verify"), h.Verify)
	a.Post(cfg.Endpoint("register"), h.Register)
	a.Get(cfg.Endpoint("register")+"/:client_id", h.ReadRegistration)
	a.Put(cfg.Endpoint("register")+"/:client_id", h.UpdateRegistration)
	a.Delete(cfg.Endpoint("register")+"/:client_id", h.DeleteRegistration)
	// The end-session endpoint: a browser page without the CSRF check
	// (relying parties send users to it); what it cannot end without
	// asking, the confirmation form (POST /logout) ends.
	a.Get(cfg.Endpoint("logout"), s.session(web.ValidText, h.EndSession)...)
	a.Post(cfg.Endpoint("logout"), s.session(web.ValidText, h.EndSession)...)
	a.Get("/consent", s.page(h.ConsentPage)...)
	a.Post("/consent", s.page(h.ConsentDecision)...)

	// Protected resources.
	a.Get("/api/user", h.RequireToken, h.APIUser)
	a.Get("/icons/:id", h.Icon)

	// Pages.
	a.Get("/", s.page(h.Home)...)
	a.Get("/login", s.page(h.LoginPage)...)
	a.Post("/login", s.page(h.Login)...)
	a.Post("/logout", s.page(h.Logout)...)
	a.Get("/logout/done", s.page(h.SignedOut)...)
	a.Get("/signup", s.page(h.SignupPage)...)
	a.Post("/signup", s.page(h.Signup)...)
	a.Get("/setup", s.page(h.SetupPage)...)
	a.Post("/setup", s.page(h.Setup)...)

	a.Get("/dashboard", s.signedIn(h.Dashboard)...)
	a.Get("/account", s.signedIn(h.Account)...)
	a.Post("/account/profile", s.signedIn(h.UpdateProfile)...)
	a.Post("/account/password", s.signedIn(h.ChangePassword)...)
	a.Get("/account/apps", s.signedIn(h.AppsPage)...)
	a.Post("/account/apps/:client_id/revoke", s.signedIn(h.RevokeApp)...)
	// Sessions: the user's browsers (and apps); admins end a user's.
	a.Get("/account/sessions", s.signedIn(h.SessionsPage)...)
	a.Post("/account/sessions/end-others", s.signedIn(h.EndOtherSessions)...)
	a.Post("/account/sessions/:sid/end", s.signedIn(h.EndBrowserSession)...)
	a.Post("/dashboard/users/:id/sessions/end", s.role(adminOnly, h.EndUserSessions)...)

	a.Get("/device", s.signedIn(h.DevicePage)...)
	a.Post("/device", s.signedIn(h.DeviceSubmit)...)

	// Scopes: developers read, admins write.
	a.Get("/dashboard/scopes", s.role(developerPlus, h.ScopeList)...)
	a.Get("/dashboard/scopes/new", s.role(adminOnly, h.NewScopePage)...)
	a.Post("/dashboard/scopes", s.role(adminOnly, h.CreateScope)...)
	a.Get("/dashboard/scopes/:scope_id", s.role(developerPlus, h.ScopePage)...)
	a.Post("/dashboard/scopes/:scope_id", s.role(adminOnly, h.UpdateScope)...)
	a.Post("/dashboard/scopes/:scope_id/delete", s.role(adminOnly, h.DeleteScope)...)

	// Resources (RFC 8707): developers read, admins write.
	a.Get("/dashboard/resources", s.role(developerPlus, h.ResourceList)...)
	a.Get("/dashboard/resources/new", s.role(adminOnly, h.NewResourcePage)...)
	a.Post("/dashboard/resources", s.role(adminOnly, h.CreateResource)...)
	a.Get("/dashboard/resources/:id", s.role(developerPlus, h.ResourcePage)...)
	a.Post("/dashboard/resources/:id", s.role(adminOnly, h.UpdateResource)...)
	a.Post("/dashboard/resources/:id/delete", s.role(adminOnly, h.DeleteResource)...)

	// Trusted issuers of the JWT bearer grant (RFC 7523): admins only.
	a.Get("/dashboard/trust", s.role(adminOnly, h.TrustList)...)
	a.Get("/dashboard/trust/new", s.role(adminOnly, h.NewTrustPage)...)
	a.Post("/dashboard/trust", s.role(adminOnly, h.CreateTrust)...)
	a.Get("/dashboard/trust/:id", s.role(adminOnly, h.TrustPage)...)
	a.Post("/dashboard/trust/:id/delete", s.role(adminOnly, h.DeleteTrust)...)

	a.Get("/dashboard/settings", s.role(adminOnly, h.SettingsPage)...)
	a.Post("/dashboard/settings", s.role(adminOnly, h.SaveSettings)...)
	a.Post("/dashboard/settings/keys/rotate", s.role(adminOnly, h.RotateSigningKeys)...)

	a.Get("/dashboard/users", s.role(adminOnly, h.UserList)...)
	a.Get("/dashboard/users/new", s.role(adminOnly, h.NewUserPage)...)
	a.Post("/dashboard/users", s.role(adminOnly, h.CreateUser)...)
	a.Get("/dashboard/users/:id", s.role(adminOnly, h.UserPage)...)
	a.Post("/dashboard/users/:id/profile", s.role(adminOnly, h.UpdateUserProfile)...)
	a.Post("/dashboard/users/:id/role", s.role(adminOnly, h.ChangeUserRole)...)
	a.Post("/dashboard/users/:id/disable", s.role(adminOnly, h.DisableUser)...)
	a.Post("/dashboard/users/:id/enable", s.role(adminOnly, h.EnableUser)...)
	a.Post("/dashboard/users/:id/password", s.role(adminOnly, h.ResetUserPassword)...)

	a.Get("/dashboard/audit", s.role(adminOnly, h.AuditLog)...)
	a.Get("/dashboard/audit/export", s.role(adminOnly, h.AuditExport)...)

	a.Get("/dashboard/clients", s.role(developerPlus, h.ClientList)...)
	a.Get("/dashboard/clients/new", s.role(developerPlus, h.NewClientPage)...)
	a.Post("/dashboard/clients", s.role(developerPlus, h.CreateClient)...)
	a.Post("/dashboard/clients/registration-token", s.role(adminOnly, h.CreateInitialAccessToken)...)
	a.Post("/dashboard/clients/:client_id/promote", s.role(adminOnly, h.PromoteClient)...)
	a.Get("/dashboard/clients/:client_id", s.role(developerPlus, h.ClientPage)...)
	a.Post("/dashboard/clients/:client_id", s.role(developerPlus, h.UpdateClient)...)
	a.Post("/dashboard/clients/:client_id/rotate-secret", s.role(developerPlus, h.RotateClientSecret)...)
	a.Get("/dashboard/clients/:client_id/delete", s.role(developerPlus, h.DeleteClientPage)...)
	a.Post("/dashboard/clients/:client_id/delete", s.role(developerPlus, h.DeleteClient)...)

	for _, fn := range extra {
		fn(s)
	}

	// Anything else: 404, as a page (with the session, so the navigation
	// shows) or as JSON on API paths.
	var notFound []any
	for _, fn := range s.page(func(c *fiber.Ctx) error { return fiber.ErrNotFound }) {
		notFound = append(notFound, fn)
	}
	a.Use(notFound...)
}

// page is the middleware chain of a browser page: the session
// (gorilla/sessions over the database), the signed-in user, the refusal
// of a path or query that is not text, and the CSRF check on every
// state-changing request.
func (s *Server) page(hs ...fiber.Handler) []fiber.Handler {
	return append([]fiber.Handler{s.sessionMW, web.LoadUser(s.Store), web.ValidText, web.CSRF(s.Handlers.CSRFFailed)}, hs...)
}

// session is the session and signed-in user without the CSRF check (the
// authorization endpoint).
func (s *Server) session(hs ...fiber.Handler) []fiber.Handler {
	return append([]fiber.Handler{s.sessionMW, web.LoadUser(s.Store)}, hs...)
}

// signedIn is a page for signed-in users; others are sent to /login.
func (s *Server) signedIn(hs ...fiber.Handler) []fiber.Handler {
	return s.page(append([]fiber.Handler{web.RequireUser()}, hs...)...)
}

// role is a page for signed-in users with one of roles (403 otherwise).
func (s *Server) role(roles []string, hs ...fiber.Handler) []fiber.Handler {
	return s.signedIn(append([]fiber.Handler{web.RequireRole(roles...)}, hs...)...)
}

// Role sets used by the route table.
var (
	adminOnly     = []string{models.RoleAdmin}
	developerPlus = []string{models.RoleAdmin, models.RoleDeveloper}
)
