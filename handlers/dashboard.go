package handlers

import (
	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/views"
	"github.com/gatehouse/gatehouse/views/pages"
)

// Dashboard is the signed-in home page (GET /dashboard): a greeting and
// the places the user's role can go.
func (h *Handlers) Dashboard(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u := web.CurrentUser(c)
	name := u.Name
	if name == "" {
		name = u.Username
	}
	d := pages.DashboardData{Greeting: "Hello, " + name, Role: u.Role}
	switch u.Role {
	case models.RoleAdmin:
		clients, err := h.Store.CountClients(ctx, nil)
		if err != nil {
			return err
		}
		scopes, err := h.Store.CountScopes(ctx)
		if err != nil {
			return err
		}
		_, users, err := h.Store.ListUsers(ctx, models.UserFilter{Limit: 1})
		if err != nil {
			return err
		}
		d.Cards = []pages.DashboardCard{
			{Title: "Clients", Description: "Every application registered with Gatehouse.", Href: "/dashboard/clients", Icon: "fa-solid fa-cubes", Count: clients, ShowCount: true},
			{Title: "Scopes", Description: "Permissions clients ask for, and the resources they guard.", Href: "/dashboard/scopes", Icon: "fa-solid fa-shield-halved", Count: scopes, ShowCount: true},
			{Title: "Resources", Description: "APIs apps can ask tokens for, and their scopes.", Href: "/dashboard/resources", Icon: "fa-solid fa-server"},
			{Title: "Trusted issuers", Description: "Systems whose signed assertions apps exchange for tokens (JWT bearer grant).", Href: "/dashboard/trust", Icon: "fa-solid fa-handshake"},
			{Title: "Users", Description: "Accounts, roles and access.", Href: "/dashboard/users", Icon: "fa-solid fa-users", Count: users, ShowCount: true},
			{Title: "Settings", Description: "Grants, PKCE, redirect matching and token lifetimes.", Href: "/dashboard/settings", Icon: "fa-solid fa-sliders"},
			{Title: "Audit log", Description: "Sign-ins, consents and changes: who, what, when.", Href: "/dashboard/audit", Icon: "fa-solid fa-clock-rotate-left"},
		}
	case models.RoleDeveloper:
		own := u.ID
		clients, err := h.Store.CountClients(ctx, &own)
		if err != nil {
			return err
		}
		scopes, err := h.Store.CountScopes(ctx)
		if err != nil {
			return err
		}
		d.Cards = []pages.DashboardCard{
			{Title: "Your clients", Description: "Register an app, manage its redirect URIs and rotate its secret.", Href: "/dashboard/clients", Icon: "fa-solid fa-cubes", Count: clients, ShowCount: true},
			{Title: "Scopes", Description: "The permissions your apps can ask users for.", Href: "/dashboard/scopes", Icon: "fa-solid fa-shield-halved", Count: scopes, ShowCount: true},
			{Title: "Resources", Description: "APIs apps can ask tokens for, and their scopes.", Href: "/dashboard/resources", Icon: "fa-solid fa-server"},
		}
	}
	consents, err := h.Store.ListConsents(ctx, u.ID)
	if err != nil {
		return err
	}
	d.Cards = append(d.Cards,
		pages.DashboardCard{Title: "Authorized apps", Description: "Apps you allowed to use your account; revoke any of them.", Href: "/account/apps", Icon: "fa-solid fa-key", Count: int64(len(consents)), ShowCount: true},
		pages.DashboardCard{Title: "Sessions", Description: "Where you are signed in; sign out other browsers.", Href: "/account/sessions", Icon: "fa-solid fa-laptop"},
		pages.DashboardCard{Title: "Your account", Description: "Profile and password.", Href: "/account", Icon: "fa-solid fa-user-gear"},
	)
	cards := d.Cards[:0]
	for _, card := range d.Cards {
		if views.Built(card.Href) {
			cards = append(cards, card)
		}
	}
	d.Cards = cards
	return web.Render(c, fiber.StatusOK, pages.Dashboard(h.base(c, "Dashboard", "dashboard"), d))
}

// Home sends visitors to the dashboard or the sign-in page (GET /).
func (h *Handlers) Home(c *fiber.Ctx) error {
	if web.CurrentUser(c) != nil {
		return c.Redirect("/dashboard", fiber.StatusSeeOther)
	}
	return c.Redirect("/login", fiber.StatusSeeOther)
}
