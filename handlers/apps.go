package handlers

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse/gatehouse/app/store"
	"github.com/gatehouse/gatehouse/app/web"
	"github.com/gatehouse/gatehouse/views/pages"
)

// The authorized-apps page: every signed-in user sees the clients they
// approved and can revoke them.

// AppsPage lists the apps the user authorized (GET /account/apps).
func (h *Handlers) AppsPage(c *fiber.Ctx) error {
	apps, err := h.authorizedApps(c.UserContext(), web.CurrentUser(c).ID)
	if err != nil {
		return err
	}
	return web.Render(c, fiber.StatusOK, pages.Apps(h.base(c, "Authorized apps", "apps"), pages.AppsData{Apps: apps}))
}

// authorizedApps are the apps the user authorized, with the names and
// icons of their clients and of the granted scopes (the apps page, and
// the sessions page's list).
func (h *Handlers) authorizedApps(ctx context.Context, userID int64) ([]pages.AppRow, error) {
	consents, err := h.Store.ListConsents(ctx, userID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(consents))
	for i, cs := range consents {
		ids[i] = cs.ClientID
	}
	clients, err := h.Store.GetClientsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	scopes, err := h.Store.ListScopes(ctx)
	if err != nil {
		return nil, err
	}
	type scopeView struct{ name, icon string }
	byID := make(map[string]scopeView, len(scopes))
	for _, sc := range scopes {
		byID[sc.ScopeID] = scopeView{sc.Name, sc.Icon}
	}
	var out []pages.AppRow
	for _, cs := range consents {
		row := pages.AppRow{ClientID: cs.ClientID, GrantedAt: cs.UpdatedAt}
		if cl := clients[cs.ClientID]; cl != nil {
			row.Name, row.Description, row.Icon, row.Homepage = cl.Name, cl.Description, cl.Icon, cl.Homepage
		}
		for _, id := range strings.Fields(cs.Scope) {
			s := pages.AppScope{ID: id, Name: id}
			if v, ok := byID[id]; ok {
				s.Name, s.Icon = v.name, v.icon
			}
			row.Scopes = append(row.Scopes, s)
		}
		out = append(out, row)
	}
	return out, nil
}

// RevokeApp withdraws the user's authorization of a client
// (POST /account/apps/:client_id/revoke): in one transaction the consent
// is deleted, every token the client holds for the user is revoked and
// unredeemed codes are cancelled. Only the signed-in user's own consent
// can be revoked: the client ID selects among their consents.
func (h *Handlers) RevokeApp(c *fiber.Ctx) error {
	ctx := c.UserContext()
	u := web.CurrentUser(c)
	clientID, err := url.PathUnescape(c.Params("client_id"))
	if err != nil {
		return fiber.NewError(fiber.StatusNotFound, "You have not authorized this app.")
	}
	name := clientID
	if cl, err := h.Store.GetClient(ctx, clientID); err == nil {
		name = cl.Name
	}
	revoked, err := h.Store.RevokeApp(ctx, u.ID, clientID, h.Now())
	sess := web.CurrentSession(c)
	if errors.Is(err, store.ErrNotFound) {
		sess.AddFlash("info", "That app had no access to your account (it may have been revoked already).")
		return seeOther(c, "/account/apps")
	}
	if err != nil {
		return err
	}
	h.audit(c, u, "consent.revoked", clientID, true, map[string]string{"tokens_revoked": strconv.FormatInt(revoked, 10)})
	sess.AddFlash("success", "Access revoked: "+name+" can no longer use your account.")
	return seeOther(c, "/account/apps")
}
